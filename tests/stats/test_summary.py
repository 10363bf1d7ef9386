import numpy as np
import pandas as pd
import pytest

from medseglab.config import ConfigError
from medseglab.stats.summary import (
    StatsOptions,
    compute_statistics,
    model_values,
    paired_deltas,
    to_long,
)

OPTS = StatsOptions(bootstrap=200)


def _row(frame, **where):
    sel = frame
    for k, v in where.items():
        sel = sel.loc[sel[k].astype(str) == str(v)] if k == "metric" else sel.loc[sel[k] == v]
    assert len(sel) == 1, sel
    return sel.iloc[0]


def test_delta_percentages_hand_example(make_table):
    # per image TII - LMI: +0.1, 0, -0.2, +0.05, undefined (NaN: dropped), 0
    tii = [0.9, 0.8, 0.5, 0.95, np.nan, 1.0]
    lmi = [0.8, 0.8, 0.7, 0.90, 0.6, 1.0]
    stats = compute_statistics(make_table({"tii": {"dice": tii}, "lmi": {"dice": lmi}}), OPTS, by_label=False)
    r = _row(stats.compare, metric="dice")
    assert r["n_pairs"] == 5
    assert (r["pct_pos"], r["pct_zero"], r["pct_neg"]) == pytest.approx((40.0, 40.0, 20.0))
    assert r["delta_median"] == pytest.approx(0.0)
    d = stats.deltas.loc[stats.deltas["metric"].astype(str) == "dice"].sort_values("image_id")
    np.testing.assert_allclose(d["delta"], [0.1, 0.0, -0.2, 0.05, 0.0], atol=1e-12)


def test_counts_nan_drop_and_high_value_inequality(make_table):
    dice = [0.9, 0.95, 0.89999, np.nan, 1.0, 0.2, np.nan]
    table = make_table({"tii": {"dice": dice}, "lmi": {"dice": dice}})
    stats = compute_statistics(table, OPTS, by_label=False)
    r = _row(stats.describe, metric="dice", init="tii")
    assert (r["n_images"], r["n"], r["n_dropped"]) == (7, 5, 2)
    assert r["count_high"] == 3  # 0.9 counts (>=), 0.89999 does not
    assert r["pct_high"] == pytest.approx(60.0)
    assert r["median"] == pytest.approx(0.9) and r["mean"] == pytest.approx(np.nanmean(dice))
    assert r["sd"] == pytest.approx(np.nanstd(dice, ddof=1))


def test_grand_median_is_median_of_repeat_medians(make_table):
    # repeat medians: rep0 -> 0.5, rep1 -> 0.7, rep2 -> 0.9; grand median 0.7
    parts = []
    for rep, vals in enumerate([[0.4, 0.5, 0.6], [0.7, 0.1, 0.8], [0.9, 0.95, 0.2]]):
        parts.append(make_table({"tii": {"dice": vals}, "lmi": {"dice": vals}}, repeat=rep))
    table = pd.concat(parts, ignore_index=True)
    stats = compute_statistics(table, OPTS, by_label=False)
    r = _row(stats.describe, metric="dice", init="tii")
    assert r["grand_median"] == pytest.approx(0.7)
    assert r["n_repeats"] == 3
    # the per-image model value (repeat mean) of img0 is mean(0.4, 0.7, 0.9)
    v = stats.values.set_index(["init", "image_id"]).loc[("tii", "img0"), "dice"]
    assert v == pytest.approx((0.4 + 0.7 + 0.9) / 3)


def test_repeat_mean_skips_undefined_repeats(make_table):
    a = make_table({"tii": {"precision": [np.nan, 0.5], "dice": [0.2, 0.4]}}, repeat=0)
    b = make_table({"tii": {"precision": [0.8, 0.7], "dice": [0.4, 0.6]}}, repeat=1)
    a["precision"] = [np.nan, 0.5]
    b["precision"] = [0.8, 0.7]
    values = model_values(pd.concat([a, b]), "repeat_mean", ["dice", "precision"]).set_index("image_id")
    assert values.loc["img0", "precision"] == pytest.approx(0.8)
    assert values.loc["img1", "dice"] == pytest.approx(0.5)
    assert values["n_repeats"].tolist() == [2, 2]


def test_pairing_is_by_image_id_not_row_order(make_table):
    tii = make_table({"tii": {"dice": [0.1, 0.9]}})
    lmi = make_table({"lmi": {"dice": [0.1, 0.9]}}).iloc[::-1]
    long = to_long(model_values(pd.concat([tii, lmi]), "repeat_mean", ["dice"]), ["dice"])
    assert (paired_deltas(long)["delta"] == 0).all()


def test_better_model_margin_and_per_label_rows(make_table):
    n = 30
    labels = ["benign"] * 15 + ["malignant"] * 15
    tii = np.linspace(0.80, 0.98, n)
    lmi = tii - 0.1  # > 5% worse everywhere
    spec = np.linspace(0.95, 0.99, n)
    table = make_table({"tii": {"dice": tii, "specificity": spec}, "lmi": {"dice": lmi, "specificity": spec - 0.001}},
                              labels=labels)
    stats = compute_statistics(table, OPTS)
    dice = _row(stats.compare, metric="dice", clinical_label="all")
    assert dice["better"] == "tii" and dice["margin_mark"] and dice["mood_significant"]
    spec_row = _row(stats.compare, metric="specificity", clinical_label="all")
    assert spec_row["better"] == "tii" and not spec_row["margin_mark"]
    benign = _row(stats.compare, metric="dice", clinical_label="benign")
    assert benign["n_tii"] == 15 and benign["better"] == "tii"
    assert set(stats.describe["clinical_label"]) == {"all", "benign", "malignant"}


def test_options_from_params_errors_name_the_key():
    assert StatsOptions.from_params({"stats": {"mood_ties": "above"}}).mood_ties == "above"
    with pytest.raises(ConfigError, match="stats.mood_ties"):
        StatsOptions.from_params({"stats": {"mood_ties": "middle"}})
    with pytest.raises(ConfigError, match="stats.combine"):
        StatsOptions.from_params({"stats": {"combine": "vote"}})
    with pytest.raises(ConfigError, match="unknown key"):
        StatsOptions.from_params({"stats": {"alpah": 0.05}})


def test_missing_columns_is_a_user_error(make_table):
    from medseglab.cli import UserError

    table = make_table({"tii": {"dice": [0.5]}}).drop(columns=["ratio"])
    with pytest.raises(UserError, match="ratio"):
        compute_statistics(table, OPTS)
