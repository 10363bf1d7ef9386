"""The dashboard's figures and pictures are pure functions of tables and arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd

from medseglab.dashboard import figures
from medseglab.dashboard.data import expected_trainings


def test_violins_one_per_init_with_clickable_image_ids(make_per_image):
    fig = figures.violin_figure(make_per_image(), "dice", synthetic=True)
    assert [t.name for t in fig.data] == [figures.INIT_NAMES["lmi"], figures.INIT_NAMES["tii"]]
    assert list(fig.data[0].customdata)[:2] == ["img00", "img01"]
    assert fig.layout.yaxis.title.text == "Dice" and tuple(fig.layout.yaxis.range) == (-0.02, 1.02)
    assert figures.SYNTHETIC_NOTE in fig.layout.title.text


def test_delta_is_tii_minus_lmi_paired_by_image(make_per_image):
    table = make_per_image(3)
    table.loc[table["init"] == "lmi", "dice"] = [0.5, 0.6, 0.7]
    table.loc[table["init"] == "tii", "dice"] = [0.6, 0.6, 0.6]
    deltas = figures.paired_deltas(table, "dice").set_index("image_id")["delta"]
    assert np.allclose(deltas.loc[["img00", "img01", "img02"]], [0.1, 0.0, -0.1])
    fig = figures.delta_histogram(table, "dice")
    assert "better on 33%, equal 33%, worse 33% of 3 images" in fig.layout.title.text
    assert fig.layout.xaxis.title.text.startswith("ΔDice") and fig.layout.yaxis.title.text == "images"


def test_depletion_takes_the_chosen_split_and_shows_the_paper():
    rows = []
    for ratio, splits in ((80, (0, 1)), (20, (0,))):
        for split in splits:
            for init, med in (("lmi", 0.7), ("tii", 0.8)):
                rows.append({"dataset": "skin", "ratio": ratio, "split": split, "clinical_label": "all",
                             "metric": "dice", "init": init, "median": med + split / 100,
                             "median_ci_low": med - 0.05, "median_ci_high": med + 0.05, "n": 10})
    points = figures.depletion_points(pd.DataFrame(rows), 1, "dice")
    assert set(points[points["train_pct"] == 80]["split"]) == {1}   # the chosen split
    assert set(points[points["train_pct"] == 20]["split"]) == {0}   # not trained there: the lowest
    fig = figures.depletion_figure(points, "dice", "skin")
    names = [t.name for t in fig.data]
    assert "paper LMI (Table 2)" in names and "paper TII (Table 2)" in names
    paper_tii = next(t for t in fig.data if t.name == "paper TII (Table 2)")
    assert list(paper_tii.x) == [10, 20, 40, 60, 80] and paper_tii.y[-1] == 0.8857
    assert fig.layout.xaxis.title.text == "% of the data used for training"
    ours = next(t for t in fig.data if t.name == figures.INIT_NAMES["tii"])
    assert ours.error_y.array is not None
    no_paper = figures.depletion_figure(points.assign(), "specificity", "skin")
    assert not any("paper" in (t.name or "") for t in no_paper.data)


def test_gallery_filters_by_label_and_sorts_by_delta(make_per_image):
    table = make_per_image(4)
    table.loc[table["init"] == "tii", "dice"] = [0.9, 0.5, 0.8, 0.7]
    table.loc[table["init"] == "lmi", "dice"] = 0.7
    order = figures.gallery_order(table, ["img00", "img01", "img02", "img03"])
    assert list(order["image_id"]) == ["img00", "img02", "img03", "img01"]
    ascending = figures.gallery_order(table, ["img00", "img01", "img02", "img03"], descending=False)
    assert list(ascending["image_id"]) == ["img01", "img03", "img02", "img00"]
    benign = figures.gallery_order(table, ["img00", "img01", "img02", "img03"], label="benign")
    assert list(benign["image_id"]) == ["img03", "img01"] and set(benign["clinical_label"]) == {"benign"}


def test_overlay_colours_and_thumbnail_keep_exact_colours():
    pred = np.array([[1, 1], [0, 0]], bool)
    gt = np.array([[1, 0], [1, 0]], bool)
    over = figures.overlay(pred, gt)
    assert over[0, 0].tolist() == [0, 255, 0] and over[0, 1].tolist() == [255, 0, 0]
    assert over[1, 0].tolist() == [255, 255, 0] and over[1, 1].tolist() == [0, 0, 0]
    big = figures.thumbnail(over, 8)
    assert big.shape == (8, 8, 3) and {tuple(c) for c in big.reshape(-1, 3)} == {tuple(c) for c in over.reshape(-1, 3)}
    cam = figures.cam_picture(np.linspace(0, 1, 16).reshape(4, 4), np.full((4, 4, 3), 128, np.uint8))
    assert cam.shape == (4, 4, 3) and cam.dtype == np.uint8


def test_study_rows_mark_synthetic_data_and_link_to_mlflow():
    studies = pd.DataFrame([{"run_id": "r1", "name": "study-a", "dataset": "skin", "profile": "demo",
                             "source": "SYNTHETIC demo data", "status": "RUNNING", "start_time": 1, "started": "x",
                             "duration_s": 75.0, "expected": 8, "experiment_id": "3"}])
    rows = figures.study_rows(studies, {"r1": {"finished": 3, "running": 1, "failed": 0, "killed": 1,
                                                "expected": 8}}, "http://127.0.0.1:5000/")
    assert rows[0]["data source"] == "SYNTHETIC demo data" and rows[0]["duration"] == "1 min 15 s"
    assert (rows[0]["finished"], rows[0]["running"], rows[0]["failed"], rows[0]["of"]) == (3, 1, 1, 8)
    assert rows[0]["MLflow"] == "[open](http://127.0.0.1:5000/#/experiments/3/runs/r1)"
    assert rows[0]["report"] == ""  # a running study has no report yet
    finished = figures.study_rows(studies.assign(status="FINISHED"), {}, None)
    assert finished[0]["report"] == "[open](/report/r1)"
    assert figures.mlflow_run_url(None, "3", "r1") is None


def test_expected_trainings_from_the_study_params():
    params = {"splits": "[0, 1]", "repeats": "[0, 1]", "inits": '["tii", "lmi"]', "ratios": "[80]",
              "depletion.ratios": "[20, 10]", "depletion.splits": "[0]", "depletion.repeats": "[0]"}
    assert expected_trainings(params) == 8 + 4
    assert expected_trainings({}) is None


def test_empty_inputs_give_figures_that_say_why(make_per_image):
    fig = figures.violin_figure(make_per_image().iloc[:0], "dice")
    assert fig.layout.annotations[0].text.startswith("no per-image values")
    assert figures.umap_figure(None, "init").layout.annotations[0].text.startswith("no UMAP yet")


def test_figures_take_the_compact_table_the_store_reads(make_per_image):
    from medseglab.dashboard.data import compact

    table = compact(make_per_image(4))
    assert table["image_id"].dtype == "category" and table["init"].dtype == "category"
    plain = make_per_image(4)
    order = figures.gallery_order(table, ["img00", "img01", "img02", "img03"], label="benign")
    assert order.equals(figures.gallery_order(plain, ["img00", "img01", "img02", "img03"], label="benign"))
    assert list(figures.image_metrics(table, "img01")["init"]) == ["lmi", "tii"]
    assert len(figures.violin_figure(table, "dice").data) == 2
    assert figures.paired_deltas(table, "dice").equals(figures.paired_deltas(plain, "dice"))


def test_learning_curve_figure_draws_the_logged_fits_and_bands(tmp_path):
    """From the stats stage's own learning_curves.csv / _bands / _points of a demo-shaped study."""
    from medseglab.stats.learning_curve import Fit
    from medseglab.stats.learning_study import CurveOptions
    from medseglab.stats.report import write_report
    from medseglab.stats.summary import StatsOptions
    from medseglab.stats.synthetic import synthetic_study

    table = synthetic_study(ratios=(80, 20, 10), splits=(0,), repeats=(0,), n_images=20)
    table["dice"] = (table["dice"] - table["ratio"].map({80: 0.0, 20: 0.08, 10: 0.15})).clip(0, 1)
    write_report(table, tmp_path, StatsOptions(bootstrap=20), curve_options=CurveOptions(bootstrap=50), make_plots=False)
    read = lambda name: pd.read_csv(tmp_path / "tables" / f"{name}.csv")  # noqa: E731
    summary, bands, points = read("learning_curves"), read("learning_curve_bands"), read("learning_curve_points")
    fig = figures.learning_curve_figure(summary, bands, points, "dice", "skin", synthetic=True)
    names = [t.name for t in fig.data]
    assert "TII 95% bootstrap band" in names and "LMI 95% bootstrap band" in names
    assert fig.layout.xaxis.type == "log" and fig.layout.xaxis.title.text.startswith("training images")
    tii = next(t for t in fig.data if t.name.startswith(figures.INIT_NAMES["tii"] + ": fit"))
    row = summary[(summary["metric"] == "dice") & (summary["init"] == "tii")].iloc[0]
    expected = Fit(row["model"], row["a"], row["b"], row["c"], row["n_ref"], 0.0, 3).predict(np.asarray(tii.x))
    assert np.allclose(tii.y, expected)  # the curve is the logged law, evaluated
    median = next(t for t in fig.data if t.name == "TII median")
    assert len(median.x) == 3 and median.error_y.array is not None
    assert any("images for median 0.9" in a.text for a in fig.layout.annotations)
    assert "SYNTHETIC" in fig.layout.title.text
    none = figures.learning_curve_figure(summary.assign(model="none", note="1 training % (at least 2 needed)"), bands,
                                         points, "dice", "skin")
    assert "at least 2 needed" in none.layout.annotations[0].text
    assert "run `medseglab stats`" in figures.learning_curve_figure(None, None, None, "dice", "skin").layout.annotations[0].text


def _embedding() -> pd.DataFrame:
    """UMAP rows of 5 images x (init, class); image e4 is the only 'melanoma', and LMI class 0 lacks it."""
    rng = np.random.default_rng(3)
    rows = [{"image_id": f"e{k}", "init": init, "class": cls, "x": rng.normal(), "y": rng.normal(),
             "clinical_label": "melanoma" if k == 4 else "nevus"}
            for init in ("lmi", "tii") for cls in (0, 1) for k in range(5) if (init, cls, k) != ("lmi", 0, 4)]
    return pd.DataFrame(rows)


def test_umap_draws_the_panels_asked_for_with_their_own_points():
    embedding = _embedding()
    one = figures.umap_figure(embedding, "clinical_label", panels=figures.umap_panels("tii-0"))
    assert [a.text for a in one.layout.annotations] == ["TII, class 0"]
    assert "xaxis2" not in one.layout  # one subplot
    expected = embedding[(embedding["init"] == "tii") & (embedding["class"] == 0)].sort_values("image_id")
    drawn = pd.DataFrame({"image_id": np.concatenate([t.customdata for t in one.data]),
                          "x": np.concatenate([t.x for t in one.data])}).sort_values("image_id")
    assert drawn["image_id"].tolist() == expected["image_id"].tolist()
    np.testing.assert_allclose(drawn["x"], expected["x"], rtol=1e-6)  # float32 on the wire
    assert all(np.asarray(t.x).dtype == np.float32 for t in one.data)
    every = figures.umap_figure(embedding, "clinical_label", panels=figures.umap_panels("all"))
    assert [a.text for a in every.layout.annotations] == ["LMI, class 0", "LMI, class 1", "TII, class 0",
                                                           "TII, class 1"]
    assert sum(len(t.x) for t in every.data) == len(embedding)
    assert figures.umap_panels(None) == figures.umap_panels("all") == figures.UMAP_PANELS


def test_umap_keeps_a_colour_per_value_and_one_legend_entry_each():
    """A value the first panel lacks still gets its legend entry, and the same colour in every panel."""
    every = figures.umap_figure(_embedding(), "clinical_label")
    colours = {}
    for trace in every.data:
        colours.setdefault(trace.name, set()).add(trace.marker.color)
    assert {name: len(c) for name, c in colours.items()} == {"melanoma": 1, "nevus": 1}
    assert colours["melanoma"] != colours["nevus"]
    assert sorted(t.name for t in every.data if t.showlegend) == ["melanoma", "nevus"]
    assert every.data[0].showlegend and every.data[0].name == "nevus"  # LMI class 0: no melanoma there


def test_an_unknown_umap_panel_names_the_ones_there_are():
    import pytest

    with pytest.raises(ValueError, match="unknown UMAP panel 'tii-2'.*lmi-0, lmi-1, tii-0, tii-1"):
        figures.umap_panels("tii-2")
