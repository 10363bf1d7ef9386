"""Page callbacks called as functions (the browser tests drive the same callbacks through Dash)."""

from __future__ import annotations

import sys

import dash
import pytest


@pytest.fixture
def pages(fake_store, tmp_path):
    from dashboards.app import create_app

    create_app(fake_store["uri"], queue_path=tmp_path / "review.db", warm=False)
    return {page["path"]: sys.modules[page["module"]] for page in dash.page_registry.values()}


def test_distributions_fills_its_selector_and_draws_in_one_call(pages, fake_store):
    """A new tab sends no split · ratio: the one callback picks the default, returns it as the selector's
    value and draws that regime; a regime the study lacks (left from another study) falls back to it."""
    show = pages["/distributions"].show
    options, value, violin, delta, note = show(fake_store["run_id"], "dice", None)
    assert [o["value"] for o in options] == [value] == ["0:80"]
    assert "split 0, 80:20" in violin.layout.title.text and len(violin.data) == 2
    assert note.startswith("6 test images, 2 trainings")
    assert show(fake_store["run_id"], "dice", "4:10")[1] == "0:80"
    assert show(fake_store["run_id"], "dice", "0:80")[1] == "0:80"


def test_distributions_without_a_per_image_table_says_so(pages, fake_store, monkeypatch):
    from dashboards.context import current

    monkeypatch.setattr(current().store, "study_keys", lambda study_id: None)
    options, value, violin, _, note = pages["/distributions"].show(fake_store["run_id"], "dice", None)
    assert options == [] and value is None and note == ""
    assert "no per-image table yet" in str(violin.layout.annotations[0].text)


def test_page_of_sorts_then_pages_like_pandas():
    import numpy as np
    import pandas as pd

    from dashboards.components import page_of

    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"image_id": [f"i{k:03d}" for k in range(53)], "dice": rng.uniform(0, 1, 53)})
    frame.loc[[3, 17], "dice"] = np.nan
    expected = frame.sort_values("dice", ascending=False, na_position="last")
    answer = page_of(frame, 1, 25, [{"column_id": "dice", "direction": "desc"}])
    assert answer["page_count"] == 3 and answer["page_current"] == 1
    assert [r["image_id"] for r in answer["data"]] == expected["image_id"].iloc[25:50].tolist()
    assert answer["data"][0]["dice"] == round(expected["dice"].iloc[25], 4)
    last = page_of(frame, 9, 25, [{"column_id": "dice", "direction": "asc"}])  # past the end: the last page
    assert last["page_current"] == 2 and [r["dice"] for r in last["data"]][-2:] == ["", ""]  # missing values last
    assert [c["id"] for c in answer["columns"]] == ["image_id", "dice"]
    assert page_of(frame, None, 25, [])["data"][0]["image_id"] == "i000"  # unsorted: the file's order
    assert page_of(frame.iloc[:0], 0, 25, None) == {"data": [], "columns": answer["columns"], "page_count": 1,
                                                   "page_current": 0}


def _log(fake_store, tmp_path, artifact_path: str, name: str, write) -> None:
    """``write(path)`` a file ``name`` in a staging folder, then log it under the study run's ``artifact_path``."""
    from mlflow.tracking import MlflowClient

    folder = tmp_path / f"staging-{artifact_path}"
    folder.mkdir(exist_ok=True)
    write(folder / name)
    MlflowClient(tracking_uri=fake_store["uri"]).log_artifact(fake_store["run_id"], str(folder / name), artifact_path)


def _log_choices(fake_store, tmp_path, chosen_split: int) -> None:
    """Log an Algorithm 1 choices table of two splits (30 and 40 rows) and the split Table S1 chose."""
    import json

    import pandas as pd

    rows = [{"image_id": f"s{s}-{k:02d}", "split": s, "ratio": 80, "chosen": "union", "chosen_dice": k / 100}
            for s, n in ((0, 30), (1, 40)) for k in range(n)]
    _log(fake_store, tmp_path, "ensemble", "choices.parquet", pd.DataFrame(rows).to_parquet)
    _log(fake_store, tmp_path, "stats", "selection.json",
         lambda path: path.write_text(json.dumps({"split": chosen_split, "ratio": 80})))


def test_ensemble_choices_fill_their_split_selector_and_page_in_one_call(pages, fake_store, tmp_path):
    """A new tab sends no split: the callback picks the chosen split, returns it as the selector's value and
    its first page; a split the study lacks falls back to the chosen one at page 0; a real split keeps
    its page."""
    _log_choices(fake_store, tmp_path, chosen_split=1)
    show_choices = pages["/ensemble"].show_choices
    rid = fake_store["run_id"]
    options, value, data, columns, count, page, style = show_choices(rid, None, 0, 25, [])
    assert [o["value"] for o in options] == [0, 1] and value == 1
    assert [o["label"] for o in options] == ["split 0", "split 1 (chosen)"]
    assert count == 2 and page == 0 and len(data) == 25 and data[0]["image_id"] == "s1-00"
    assert [c["id"] for c in columns] == ["image_id", "split", "ratio", "chosen", "chosen_dice"] and style == {}
    _, value, data, _, count, page, _ = show_choices(rid, 0, 1, 25, [{"column_id": "chosen_dice",
                                                                      "direction": "desc"}])
    assert value == 0 and count == 2 and page == 1 and [r["image_id"] for r in data] == ["s0-04", "s0-03",
                                                                                          "s0-02", "s0-01", "s0-00"]
    _, value, _, _, _, page, _ = show_choices(rid, 7, 1, 25, [])  # split 7, left from another study
    assert (value, page) == (1, 0)


def test_ensemble_without_choices_hides_the_section(pages, fake_store):
    options, value, data, _, _, _, style = pages["/ensemble"].show_choices(fake_store["run_id"], None, 0, 25, [])
    assert (options, value, data, style) == ([], None, [], {"display": "none"})
    assert pages["/ensemble"].show(None)[2] == {"display": "none"}


def test_umap_opens_one_panel_and_draws_the_one_chosen(pages, fake_store, tmp_path):
    """The page opens on its default panel (TII, the target class); each choice draws that panel's
    points from the study's explain/embedding.parquet, and 'all' the four side by side."""
    import pandas as pd

    from dashboards.components import initial

    umap = pages["/umap"]
    rid = fake_store["run_id"]
    assert "no UMAP yet" in umap.show(rid, "clinical_label", "tii-1").layout.annotations[0].text
    rows = [{"image_id": f"u{k}", "init": init, "class": cls, "x": float(k), "y": float(cls),
             "clinical_label": "nevus"} for init in ("lmi", "tii") for cls in (0, 1) for k in range(3 + cls)]
    _log(fake_store, tmp_path, "explain", "embedding.parquet", pd.DataFrame(rows).to_parquet)
    opened = initial(umap.layout, "umap-panel")
    assert opened == "tii-1" and opened in [o["value"] for o in initial(umap.layout, "umap-panel", "options")]
    first = umap.show(rid, "clinical_label", opened)
    assert [a.text for a in first.layout.annotations] == ["TII, class 1"] and len(first.data[0].x) == 4
    assert [a.text for a in umap.show(rid, "init", "lmi-0").layout.annotations] == ["LMI, class 0"]
    assert len(umap.show(rid, "clinical_label", "all").layout.annotations) == 4
