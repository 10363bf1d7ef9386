import numpy as np
import pytest
from scipy import stats as sps

from medseglab.stats.normality import grouped_normality, yeojohnson_lambdas


def _groups():
    rng = np.random.default_rng(0)
    return [
        rng.beta(8, 1, 800),  # Dice-like, skewed to 1
        1 - rng.beta(1, 80, 400),  # specificity-like: lambda at scipy's upper bound
        rng.normal(0, 1, 200),
        -rng.lognormal(0, 1, 50),  # all negative
        np.r_[np.ones(30), rng.beta(5, 1, 30)],  # many ties at 1
        np.array([0.1, 0.2]),  # n < 3: undefined
        np.full(5, 0.7),  # constant: undefined
    ]


def test_vectorised_yeojohnson_matches_scipy():
    groups = _groups()[:5]
    sizes = np.array([g.size for g in groups])
    lam = yeojohnson_lambdas(np.concatenate(groups), np.r_[0, np.cumsum(sizes)[:-1]], sizes)
    np.testing.assert_allclose(lam, [sps.yeojohnson_normmax(g) for g in groups], rtol=1e-5)


def test_grouped_normality_matches_scipy_shapiro_before_and_after():
    groups = _groups()
    sizes = np.array([g.size for g in groups])
    out = grouped_normality(np.concatenate(groups), np.r_[0, np.cumsum(sizes)[:-1]], sizes)
    for g, (before, after, lam) in zip(groups[:5], out[:5]):
        transformed, ref_lam = sps.yeojohnson(g)
        assert before == pytest.approx(sps.shapiro(g).pvalue, rel=1e-9)
        assert after == pytest.approx(sps.shapiro(transformed).pvalue, rel=1e-4)
        assert lam == pytest.approx(ref_lam, rel=1e-5)
    assert np.isnan(out[5:]).all()
