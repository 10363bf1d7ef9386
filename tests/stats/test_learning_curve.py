"""Learning curves: the inverse power laws (``stats.learning_curve``) and a study's curves, bands and
backtest in the report (``stats.learning_study``, ``stats.learning_report``)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from medseglab.stats import learning_curve as lc
from medseglab.stats.learning_study import CurveOptions, _boot_medians, train_sizes_from_split_report
from medseglab.stats.synthetic import synthetic_study

N = np.array([20.0, 40.0, 80.0, 120.0, 160.0])


def law(n, a, b, c, n_ref=160.0):
    return a - b * (np.asarray(n, float) / n_ref) ** (-c)


# ----------------------------------------------------------------------------- the laws


def test_three_parameter_law_is_recovered_from_exact_points():
    fit = lc.fit(N, law(N, 0.93, 0.05, 0.8), lc.IPL3)
    assert fit.model == lc.IPL3 and fit.n_points == 5
    assert (fit.a, fit.b, fit.c) == pytest.approx((0.93, 0.05, 0.8), abs=1e-5)
    assert fit.rmse < 1e-7


def test_two_parameter_law_through_two_points_is_the_closed_form():
    n, y = np.array([20.0, 40.0]), np.array([0.70, 0.80])
    fit = lc.fit(n, y, lc.IPL2)
    c = math.log((1 - y[0]) / (1 - y[1])) / math.log(n[1] / n[0])  # 1 - y = b (n/40)^-c, solved by hand
    assert fit.a == 1.0 and fit.c == pytest.approx(c, rel=1e-6) and fit.b == pytest.approx(1 - y[1], rel=1e-6)
    assert fit.predict(n) == pytest.approx(y, abs=1e-9)


def test_the_vectorised_grid_fit_matches_curve_fit():
    """Two independent solvers of the same bounded least squares: the bootstrap's grid (``fit_many``)
    and ``scipy.optimize.curve_fit`` started away from it; the grid is never worse than curve_fit."""
    from scipy.optimize import curve_fit

    rng = np.random.default_rng(3)
    for model in lc.MODELS:
        y = np.array([np.clip(law(N, rng.uniform(0.8, 1), rng.uniform(0.02, 0.3), rng.uniform(0.2, 1.5))
                              + rng.normal(0, 0.01, N.size), 0, 1) for _ in range(40)])
        grid = lc.fit_many(N, y, model, n_ref=160.0)
        for row, g in zip(y, grid):
            if model == lc.IPL2:
                (b, c), _ = curve_fit(lambda x, b, c: 1 - b * x ** -c, N / 160, row, p0=[0.1, 0.5],
                                      bounds=([0, 0], [np.inf, lc.C_MAX]))
                ref = lc.Fit(model, 1.0, b, c, 160.0, 0.0, 5)
            else:
                (a, b, c), _ = curve_fit(lambda x, a, b, c: a - b * x ** -c, N / 160, row, p0=[0.9, 0.1, 0.5],
                                         bounds=([0, 0, 0], [1, np.inf, lc.C_MAX]))
                ref = lc.Fit(model, a, b, c, 160.0, 0.0, 5)
            sse_grid = ((g.predict(N) - row) ** 2).sum()
            sse_ref = ((ref.predict(N) - row) ** 2).sum()
            assert sse_grid <= sse_ref + 1e-6
            if sse_ref <= sse_grid + 1e-9:  # the same optimum: the same curve over the observed range
                assert np.abs(g.predict(N) - ref.predict(N)).max() < 2e-3


def test_images_for_a_target_inverts_the_law():
    fit = lc.Fit(lc.IPL3, 0.95, 0.1, 0.5, 100.0, 0.0, 5)
    n = fit.images_for(0.9)
    assert fit.predict(n) == pytest.approx(0.9) and n == pytest.approx(100 * (0.1 / 0.05) ** 2)
    assert fit.images_for(0.95) == math.inf and fit.images_for(0.97) == math.inf  # the asymptote is not above
    flat = lc.Fit(lc.IPL2, 1.0, 0.05, 0.0, 100.0, 0.0, 3)
    assert flat.images_for(0.9) == 0.0 and flat.images_for(0.96) == math.inf
    assert lc.Fit(lc.IPL2, 1.0, 0.5, 1e-9, 100.0, 0.0, 3).images_for(0.9) == math.inf  # no overflow


@pytest.mark.parametrize(("points", "model", "expected"), [
    (5, "auto", lc.IPL3), (4, "auto", lc.IPL3), (3, "auto", lc.IPL2), (2, "auto", lc.IPL2), (1, "auto", None),
    (3, lc.IPL3, lc.IPL3), (2, lc.IPL3, None), (5, lc.IPL2, lc.IPL2),
])
def test_few_points_get_the_two_parameter_law_or_none(points, model, expected):
    assert lc.choose_model(points, model, 4) == expected


def test_too_few_points_fit_nothing():
    assert lc.fit([20.0], [0.8], lc.IPL2) is None
    assert lc.fit([20.0, 40.0], [0.8, np.nan], lc.IPL2) is None
    assert lc.fit_many([20.0, 40.0], np.array([[0.7, np.nan]]), lc.IPL2, n_ref=40.0) == [None]


def test_crossings_of_two_laws():
    up = lc.Fit(lc.IPL2, 1.0, 0.3, 0.5, 100.0, 0.0, 3)  # steeper: behind at small n, ahead at large n
    flat = lc.Fit(lc.IPL3, 0.85, 0.05, 0.1, 100.0, 0.0, 5)
    cross = lc.crossings(up, flat, 1.0, 1e5)
    assert len(cross) == 1 and up.predict(cross[0]) == pytest.approx(flat.predict(cross[0]), abs=1e-9)
    assert lc.crossings(up, up, 1.0, 1e5) == []


def test_percentile_interval_keeps_never_as_inf():
    low, high = lc.percentile_interval([10.0] * 90 + [math.inf] * 10, 0.95)
    assert low == 10.0 and high == math.inf
    assert all(math.isnan(v) for v in lc.percentile_interval([], 0.95))


def test_image_bootstrap_of_the_median_matches_the_beta_bootstrap():
    """One repeat: the learning curves' resampled medians have the distribution of the stats stage's
    order-statistic bootstrap (``bootstrap.grouped_median_ci``, an independent implementation)."""
    from medseglab.stats.bootstrap import grouped_median_ci

    values = np.random.default_rng(0).beta(5, 2, size=101)
    draws = _boot_medians(values.size, {"tii": {"dice": values[:, None]}}, 4000, np.random.default_rng(1))
    ours = np.quantile(draws["tii"]["dice"], [0.025, 0.975])
    ref = grouped_median_ci(pd.DataFrame({"g": 0, "value": values}), ["g"], n_boot=4000, seed=2)
    assert ours == pytest.approx([ref["ci_low"].iloc[0], ref["ci_high"].iloc[0]], abs=0.01)


def test_repeats_are_resampled_too():
    """Two repeats that disagree: resampling them widens the spread of the medians."""
    rng = np.random.default_rng(0)
    a = rng.uniform(0.6, 0.7, 60)
    both = np.column_stack([a, a + 0.2])
    draws = _boot_medians(60, {"tii": {"dice": both}, "lmi": {"dice": both.mean(1, keepdims=True)}}, 2000,
                          np.random.default_rng(1))
    assert draws["tii"]["dice"].std() > 2 * draws["lmi"]["dice"].std()


# ----------------------------------------------------------------------------- options and sizes


def test_options_come_from_params_and_bad_ones_say_what_to_do():
    from medseglab.config import ConfigError

    opts = CurveOptions.from_params({"stats": {"learning_curve": {"target": 0.85, "metrics": ["dice"], "bootstrap": 10}}})
    assert opts.target == 0.85 and opts.metrics == ("dice",) and opts.bootstrap == 10
    for bad, match in (({"targt": 1}, "unknown key"), ({"model": "ipl4"}, "ipl3"), ({"target": 1.5}, "between 0 and 1"),
                       ({"metrics": ["fpr"]}, "cannot be fitted"), ({"bootstrap": "many"}, "learning_curve")):
        with pytest.raises(ConfigError, match=match):
            CurveOptions.from_params({"stats": {"learning_curve": bad}})


def test_train_sizes_from_the_split_report():
    report = pd.DataFrame({"split": [0, 0, 0, 0], "ratio": [80, 80, 10, 10], "subset": ["train", "test"] * 2,
                           "clinical_label": "unknown", "n_images": [160, 40, 20, 180]})
    sizes = train_sizes_from_split_report(report).set_index("ratio")
    assert sizes.loc[80, "n_train"] == 160 and sizes.loc[10, "n_test"] == 180


# ----------------------------------------------------------------------------- a study's report


def demo_shaped(ratios=(80, 20, 10), seed=0) -> pd.DataFrame:
    """The demo profile's grid: every split x repeat at 80, the depleted ratios for split 0 repeat 0 only;
    scores fall with less training data (LMI faster)."""
    table = synthetic_study(ratios=ratios, splits=(0, 1), repeats=(0, 1), n_images=30, seed=seed)
    table = table.loc[~((table["ratio"] < 80) & ((table["split"] != 0) | (table["repeat"] != 0)))].copy()
    drop = table["ratio"].map({80: 0.0, 60: 0.02, 40: 0.04, 20: 0.08, 10: 0.13})
    for m in ("dice", "auroc_mask", "sensitivity"):
        table[m] = (table[m] - drop * np.where(table["init"] == "lmi", 1.5, 1.0)).clip(0, 1)
    return table


def _report(table, tmp_path, **kwargs):
    from medseglab.stats.report import write_report
    from medseglab.stats.summary import StatsOptions

    return write_report(table, tmp_path, StatsOptions(bootstrap=50),
                        curve_options=CurveOptions(bootstrap=200), **kwargs)


def test_demo_study_report_has_the_curves_the_backtest_and_the_plot(tmp_path):
    table = demo_shaped()
    report = _report(table, tmp_path)
    tables = tmp_path / "tables"
    summary = pd.read_csv(tables / "learning_curves.csv")
    back = pd.read_csv(tables / "learning_curve_backtest.csv")
    points = pd.read_csv(tables / "learning_curve_points.csv")
    assert set(summary["metric"]) == {"dice", "auroc_mask", "sensitivity", "specificity"}
    assert (summary["model"] == "ipl2").all() and (summary["n_points"] == 3).all()  # 3 ratios: asymptote fixed
    assert summary["note"].str.contains("asymptote fixed at 1").all()
    dice = back.loc[back["metric"] == "dice"]
    assert (dice["status"] == "ok").all() and (dice["n_points"] == 2).all() and (dice["fit_train_pct"] == "10;20").all()
    assert np.allclose(dice["abs_error"], (dice["predicted"] - dice["observed"]).abs())
    # like for like: split 0's chain and repeat 0 only (the repeat every training % has), so the depleted
    # points are Table 2's medians and the 80% point is repeat 0's median, not the 2-repeat mean's
    dice_points = points.loc[points["metric"] == "dice"]
    assert set(dice_points["split"]) == {0} and set(dice_points["repeats"].astype(str)) == {"0"}
    depletion = pd.read_csv(tmp_path / "depletion.csv")
    merged = dice_points.loc[dice_points["train_pct"] < 80].merge(depletion, on=["train_pct", "init", "split"])
    assert len(merged) == 4 and np.allclose(merged["median"], merged["dice_median"])
    rep0 = table.loc[(table["ratio"] == 80) & (table["split"] == 0) & (table["repeat"] == 0)]
    by_hand = rep0.groupby("init")["dice"].median()
    at_80 = dice_points.loc[dice_points["train_pct"] == 80].set_index("init")["median"]
    assert np.allclose(at_80.sort_index(), by_hand.sort_index())
    assert "repeat(s) 0 only" in (tables / "learning_curves_summary.md").read_text()
    # the backtest's observed value is the 80% median; its prediction comes from the 10 and 20% points only
    obs = points.loc[(points["metric"] == "dice") & (points["train_pct"] == 80)].set_index("init")["median"]
    assert np.allclose(dice.set_index("init")["observed"].sort_index(), obs.sort_index())
    low = points.loc[(points["metric"] == "dice") & (points["init"] == "tii") & (points["train_pct"] < 80)]
    by_hand = lc.fit(low["n_train"], low["median"], lc.IPL2)
    row = dice.set_index("init").loc["tii"]
    assert row["predicted"] == pytest.approx(float(by_hand.predict(row["n_train_target"])), abs=1e-6)
    metrics = json.loads((tmp_path / "metrics.json").read_text())["learning_curve"]
    assert metrics["target"] == 0.9 and {"tii", "lmi"} <= set(metrics)
    assert metrics["tii"]["backtest_abs_error"] == pytest.approx(float(row["abs_error"]))
    assert "images_for_target" in metrics["tii"] and metrics["tii"]["three_parameters"] == 0
    assert "learning_curve.tii.backtest_abs_error" in report.headline
    assert (tmp_path / "plots" / "learning_curves.png").stat().st_size > 10_000
    assert "Learning curves" in (tables / "index.md").read_text()
    bands = pd.read_csv(tables / "learning_curve_bands.csv")
    assert (bands["band_low"] <= bands["fit"] + 1e-9).all() and (bands["fit"] <= bands["band_high"] + 1e-9).all()


def test_five_ratios_fit_three_parameters_and_sizes_come_from_the_split_report(tmp_path):
    table = demo_shaped((80, 60, 40, 20, 10))
    sizes = pd.DataFrame({"split": 0, "ratio": [80, 60, 40, 20, 10], "n_train": [120, 90, 60, 30, 15],
                          "n_test": [30, 60, 90, 120, 135]})
    sizes = pd.concat([sizes, sizes.loc[sizes["ratio"] == 80].assign(split=1)])
    report = _report(table, tmp_path, train_sizes=sizes, make_plots=False)
    summary = report.learning.summary.set_index(["metric", "init"])
    assert summary.loc[("dice", "tii"), "model"] == "ipl3"
    assert summary.loc[("dice", "tii"), "n_train"] == "15;30;60;90;120"
    assert summary.loc[("dice", "tii"), "n_train_source"] == "split report"
    assert report.learning.n_full == 150
    back = report.learning.backtest.set_index(["metric", "init"])
    assert back.loc[("dice", "lmi"), "model"] == "ipl3" and back.loc[("dice", "lmi"), "n_points"] == 4
    # LMI loses more with less data: its curve is steeper (a larger exponent or gap)
    lmi, tii = summary.loc[("dice", "lmi")], summary.loc[("dice", "tii")]
    assert float(law(15, lmi["a"], lmi["b"], lmi["c"], 120)) < float(law(15, tii["a"], tii["b"], tii["c"], 120))


def test_with_the_same_repeats_everywhere_the_points_are_table_2(tmp_path):
    table = demo_shaped((80, 40, 10))
    table = table.loc[(table["split"] == 0) & (table["repeat"] == 0)]
    report = _report(table, tmp_path, make_plots=False)
    points = report.learning.points
    assert (points["repeats"] == "all").all()
    merged = points.loc[points["metric"] == "dice"].merge(pd.read_csv(tmp_path / "depletion.csv"),
                                                         on=["train_pct", "init", "split"])
    assert len(merged) == 6 and np.allclose(merged["median"], merged["dice_median"])


def test_one_depleted_ratio_says_the_backtest_cannot_be_done(tmp_path):
    report = _report(demo_shaped((80, 10)), tmp_path, make_plots=False)
    back = report.learning.backtest
    assert back["status"].str.startswith("backtest needs >= 2 training % below 80").all()
    assert back["predicted"].isna().all()
    assert (report.learning.summary["n_points"] == 2).all()
    assert "backtest needs >= 2" in (tmp_path / "tables" / "learning_curves_summary.md").read_text()


def test_a_study_without_depletion_has_no_curve_and_says_why(tmp_path):
    report = _report(demo_shaped((80,)), tmp_path)
    summary = report.learning.summary
    assert (summary["model"] == "none").all() and summary["note"].str.contains("at least 2 needed").all()
    assert json.loads((tmp_path / "metrics.json").read_text())["learning_curve"]["tii"]["images_for_target"] is None
    assert (tmp_path / "plots" / "learning_curves.png").is_file()


def test_the_cli_lines_give_the_fit_and_the_backtest_error(tmp_path):
    from medseglab.stats.learning_report import lines

    text = "\n".join(lines(_report(demo_shaped(), tmp_path, make_plots=False).learning))
    assert "learning curve, Dice TII (ipl2, 3 points" in text
    assert "backtest (fit 10, 20% -> 80%)" in text and "error" in text
    assert "images for 0.9" in text


def test_stats_reads_training_sizes_from_the_study_run_and_logs_the_curves(tmp_path, monkeypatch):
    """``medseglab stats --table ... --run-id``: the train set sizes come from the study's
    ``splits/split_report.csv``; the curves and the backtest are logged on its parent run."""
    from mlflow.tracking import MlflowClient

    from medseglab.stats.stage import table_stats

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = MlflowClient(uri)
    exp = client.create_experiment("medseglab/skin", artifact_location=(tmp_path / "art").as_uri())
    parent = client.create_run(exp, tags={"medseglab.kind": "study", "medseglab.dataset": "skin"}).info.run_id
    rows = [{"split": s, "ratio": r, "subset": sub, "clinical_label": "unknown", "n_images": n}
            for s in (0, 1) for r, n_train in ((80, 130), (20, 32), (10, 16)) for sub, n in (("train", n_train), ("test", 7))]
    (tmp_path / "splits").mkdir()
    pd.DataFrame(rows).to_csv(tmp_path / "splits" / "split_report.csv", index=False)
    client.log_artifact(parent, str(tmp_path / "splits" / "split_report.csv"), "splits")
    client.set_terminated(parent)
    demo_shaped().to_parquet(tmp_path / "per_image.parquet")
    params = {"stats": {"bootstrap": 20, "learning_curve": {"bootstrap": 50}}, "datasets": {"skin": {}}}
    report, logged = table_stats(params, "skin", tmp_path / "per_image.parquet", parent, out=tmp_path / "rep", plots=False)
    assert logged == parent
    summary = report.learning.summary
    assert (summary["n_train_source"] == "split report").all() and (summary["n_train"] == "16;32;130").all()
    names = {a.path for a in client.list_artifacts(parent, "stats/tables")}
    assert {"stats/tables/learning_curves.csv", "stats/tables/learning_curve_backtest.csv"} <= names
    metrics = client.get_run(parent).data.metrics
    assert metrics["learning_curve.tii.backtest_abs_error"] == pytest.approx(
        report.metrics["learning_curve"]["tii"]["backtest_abs_error"])
