import numpy as np
import pandas as pd
import pytest

from medseglab.stats.bootstrap import bootstrap_medians, grouped_median_ci


@pytest.mark.parametrize("n", [7, 8])
def test_order_statistic_bootstrap_matches_naive_resampling(n):
    rng = np.random.default_rng(3)
    x = np.sort(rng.normal(size=n))
    fast = bootstrap_medians(x, np.array([0]), np.array([n]), 100_000, np.random.default_rng(1))[0]
    naive = np.median(x[rng.integers(0, n, size=(100_000, n))], axis=1)
    for q in (0.025, 0.1, 0.5, 0.9, 0.975):
        # the two distributions are the same; compare CDFs at the naive quantiles
        v = np.quantile(naive, q)
        assert np.mean(fast <= v) == pytest.approx(np.mean(naive <= v), abs=0.01)


def test_grouped_ci_seeded_and_per_group():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "g": np.r_[np.zeros(101, int), np.ones(50, int), np.full(5, 2)],
        "value": np.r_[rng.normal(0, 1, 101), rng.normal(10, 1, 50), np.full(5, 3.0)],
    })
    frame.loc[3, "value"] = np.nan
    a = grouped_median_ci(frame, ["g"], n_boot=500, seed=4)
    b = grouped_median_ci(frame, ["g"], n_boot=500, seed=4)
    pd.testing.assert_frame_equal(a, b)
    a = a.set_index("g")
    for g in (0, 1):
        med = frame.loc[frame["g"] == g, "value"].median()
        assert a.loc[g, "ci_low"] < med < a.loc[g, "ci_high"]
    assert a.loc[1, "ci_low"] > 9 and a.loc[0, "ci_high"] < 1
    assert a.loc[2, "ci_low"] == a.loc[2, "ci_high"] == 3.0  # a constant group
