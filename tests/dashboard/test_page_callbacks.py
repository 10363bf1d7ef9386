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
