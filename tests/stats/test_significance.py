import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from medseglab.stats.significance import holm, holm_grouped, mood_median_test, shapiro_yeojohnson, wilcoxon_signed_rank


def _scipy_p(a, b, ties):
    try:
        return sps.median_test(a, b, ties=ties).pvalue
    except ValueError:
        return np.nan


def _frame(groups):
    rows = [(g, init, v) for g, samples in groups.items() for init, vals in samples.items() for v in vals]
    return pd.DataFrame(rows, columns=["g", "init", "value"])


@pytest.mark.parametrize("ties", ["below", "above", "ignore"])
def test_mood_equals_scipy_median_test(ties):
    rng = np.random.default_rng(7)
    groups = {}
    for g in range(8):
        n_t, n_l = rng.integers(3, 60, size=2)
        tii = np.round(rng.beta(6, 1.5, n_t), 2)  # rounding makes ties at the grand median likely
        lmi = np.round(rng.beta(4, 1.5, n_l), 2)
        groups[g] = {"tii": tii, "lmi": lmi}
    res = mood_median_test(_frame(groups), ["g"], ties=ties).set_index("g")
    for g, s in groups.items():
        expected = _scipy_p(s["tii"], s["lmi"], ties)
        np.testing.assert_allclose(res.loc[g, "mood_p"], expected, rtol=1e-12, equal_nan=True)
        assert res.loc[g, "mood_grand_median"] == np.median(np.concatenate([s["tii"], s["lmi"]]))


@pytest.mark.parametrize("ties", ["below", "above", "ignore"])
def test_mood_many_dice_equal_one(ties):
    # 40% and 70% perfect masks: the grand median is 1.0 and the ties policy decides the table
    tii = np.r_[np.ones(28), np.linspace(0.7, 0.99, 12)]
    lmi = np.r_[np.ones(16), np.linspace(0.5, 0.95, 24)]
    res = mood_median_test(_frame({0: {"tii": tii, "lmi": lmi}}), ["g"], ties=ties).iloc[0]
    assert res["mood_grand_median"] == 1.0
    expected = _scipy_p(tii, lmi, ties)
    np.testing.assert_allclose(res["mood_p"], expected, rtol=1e-12, equal_nan=True)
    if ties == "above":
        assert res["above_tii"] == 28 and res["below_lmi"] == 24
        assert res["mood_p"] < 0.05
    else:  # nothing lies strictly above 1: scipy raises, we return NaN with the reason
        assert np.isnan(res["mood_p"]) and "mood_ties=above" in res["mood_note"]


def test_mood_drops_nan_and_flags_missing_sample():
    frame = _frame({0: {"tii": [0.1, np.nan, 0.5, 0.9], "lmi": [0.2, 0.3, np.nan]}, 1: {"tii": [0.5, 0.6, 0.7]}})
    res = mood_median_test(frame, ["g"]).set_index("g")
    np.testing.assert_allclose(res.loc[0, "mood_p"], _scipy_p([0.1, 0.5, 0.9], [0.2, 0.3], "below"))
    assert np.isnan(res.loc[1, "mood_p"]) and res.loc[1, "mood_note"] == "a sample is empty"


def test_holm_hand_computed():
    # sorted p: 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> max 0.06)
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    out = holm([0.5, np.nan, 0.4])  # NaN neither counted nor changed; capped at 1
    np.testing.assert_allclose(out, [0.8, np.nan, 0.8], equal_nan=True)
    assert holm([0.9, 0.8])[0] == 1.0


def test_holm_grouped_per_family():
    frame = pd.DataFrame({"fam": ["a", "a", "b"], "p": [0.01, 0.02, 0.01]})
    np.testing.assert_allclose(holm_grouped(frame, ["fam"], "p"), [0.02, 0.02, 0.01])


def test_shapiro_needs_three_values_and_yeojohnson_normalises_skew():
    assert np.isnan(shapiro_yeojohnson([0.1, 0.2])[0])
    assert np.isnan(shapiro_yeojohnson([0.5, 0.5, 0.5, 0.5])[0])
    # exp(z) - 1 with z normal and > 0: Yeo-Johnson with lambda 0 (log(1 + x)) gives z back
    z = np.clip(np.random.default_rng(0).normal(3, 0.6, 300), 0.01, None)
    before, after, lam = shapiro_yeojohnson(np.expm1(z))
    assert before < 1e-6 and after > 0.05
    assert abs(lam) < 0.3


def test_wilcoxon_matches_scipy_and_all_zero_is_nan():
    d = np.array([0.1, -0.02, 0.0, 0.3, 0.05, -0.01, 0.2, 0.0, 0.07, np.nan])
    stat, p = wilcoxon_signed_rank(d)
    ref = sps.wilcoxon(d[~np.isnan(d)], zero_method="wilcox")
    assert (stat, p) == pytest.approx((ref.statistic, ref.pvalue))
    assert np.isnan(wilcoxon_signed_rank(np.zeros(5))[1])
