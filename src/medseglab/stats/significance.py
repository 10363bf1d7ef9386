"""Hypothesis tests of the study, vectorised over many groups at once where the test allows.

- Mood's median test (the paper's test, TII vs LMI): computed for every group from one pandas
  groupby, with the exact contingency table and Yates-corrected Pearson chi-square that
  ``scipy.stats.median_test`` builds (same ties policy, same p-value; tests check equality).
- Holm's step-down correction over a family of p-values.
- Shapiro-Wilk before and after a Yeo-Johnson transform; the paired Wilcoxon signed-rank test
  (scipy, one call per group: their cost is small next to the grouping).
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from medseglab.names import LMI, TII

TIES = ("below", "above", "ignore")


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error); NaNs stay NaN and are not counted.

    Sorted ascending p_(1..m): adjusted p_(i) = max_{j<=i} min(1, (m - j + 1) p_(j)).
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    q = p[ok]
    m = q.size
    if m == 0:
        return out
    order = np.argsort(q, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * q[order]))
    back = np.empty(m)
    back[order] = adjusted
    out[ok] = back
    return out


def holm_grouped(frame: pd.DataFrame, family: Sequence[str], column: str) -> pd.Series:
    """Holm within each family (rows sharing the ``family`` columns) of ``frame[column]``."""
    if not family:
        return pd.Series(holm(frame[column].to_numpy()), index=frame.index)
    return frame.groupby(list(family), sort=False, observed=True, dropna=False)[column].transform(
        lambda s: pd.Series(holm(s.to_numpy()), index=s.index)
    )


def _yates_pearson(table: np.ndarray) -> np.ndarray:
    """Yates-corrected Pearson chi-square of G 2x2 tables (G, 2, 2), as scipy.stats.chi2_contingency."""
    table = table.astype(float)
    total = table.sum(axis=(1, 2), keepdims=True)
    expected = table.sum(axis=2, keepdims=True) * table.sum(axis=1, keepdims=True) / total
    diff = expected - table
    corrected = table + np.sign(diff) * np.minimum(0.5, np.abs(diff))
    with np.errstate(divide="ignore", invalid="ignore"):
        return ((corrected - expected) ** 2 / expected).sum(axis=(1, 2))


def mood_median_test(
    frame: pd.DataFrame,
    by: Sequence[str],
    *,
    sample: str = "init",
    value: str = "value",
    samples: tuple[str, str] = (TII, LMI),
    ties: str = "below",
) -> pd.DataFrame:
    """Mood's median test of ``samples[0]`` vs ``samples[1]`` in every group of ``by``.

    NaN values are dropped first (scipy's ``nan_policy='omit'``). ``ties`` is scipy's policy for
    values equal to the grand median: counted ``below`` it, ``above`` it, or ``ignore``d. Where
    scipy would raise (a row or column of the 2x2 table is empty, e.g. every value ties at a
    grand median of 1 under ``below``), the p-value is NaN and ``mood_note`` says why.
    Returns one row per group: ``mood_grand_median``, the table (``above_<s>``, ``below_<s>``),
    ``mood_stat``, ``mood_p``, ``mood_note``.
    """
    if ties not in TIES:
        raise ValueError(f"unknown Mood ties policy {ties!r}; choose one of {TIES} (params.yaml stats.mood_ties)")
    by = list(by)
    f = frame.loc[frame[sample].isin(samples) & frame[value].notna(), by + [sample, value]]
    columns = by + ["mood_grand_median"] + [f"{side}_{s}" for side in ("above", "below") for s in samples]
    columns += ["mood_stat", "mood_p", "mood_note"]
    if f.empty:
        return pd.DataFrame(columns=columns)
    grand = f.groupby(by, sort=False, observed=True)[value].transform("median").to_numpy()
    v = f[value].to_numpy(dtype=float)
    above, below = v > grand, v < grand
    if ties == "below":
        below = ~above
    elif ties == "above":
        above = ~below
    flags = f[by + [sample]].copy()
    flags["above"] = above
    flags["below"] = below
    flags["grand"] = grand
    counts = flags.groupby(by + [sample], sort=True, observed=True).agg(
        above=("above", "sum"), below=("below", "sum"), grand=("grand", "first")
    )
    wide = counts[["above", "below"]].unstack(sample, fill_value=0)
    for side in ("above", "below"):
        for s in samples:
            if (side, s) not in wide.columns:
                wide[(side, s)] = 0
    grand_median = counts["grand"].groupby(level=list(range(len(by)))).first()
    out = pd.DataFrame(index=wide.index)
    out["mood_grand_median"] = grand_median.reindex(wide.index).to_numpy()
    for side in ("above", "below"):
        for s in samples:
            out[f"{side}_{s}"] = wide[(side, s)].to_numpy().astype(np.int64)
    table = np.stack(
        [
            out[[f"above_{s}" for s in samples]].to_numpy(),
            out[[f"below_{s}" for s in samples]].to_numpy(),
        ],
        axis=1,
    )
    stat = _yates_pearson(table)
    note = np.full(len(out), "", dtype=object)
    rows = table.sum(axis=2)
    cols = table.sum(axis=1)
    note[rows[:, 0] == 0] = "all values at or below the grand median (try stats.mood_ties=above)"
    note[rows[:, 1] == 0] = "all values at or above the grand median (try stats.mood_ties=below)"
    note[(cols == 0).any(axis=1)] = "a sample is empty"
    bad = note != ""
    stat[bad] = np.nan
    out["mood_stat"] = stat
    out["mood_p"] = np.where(bad, np.nan, sps.chi2.sf(np.where(bad, 0.0, stat), 1))
    out["mood_note"] = note
    return out.reset_index()[columns]


def shapiro(values: np.ndarray) -> float:
    """Shapiro-Wilk p-value; NaN for n < 3 or constant values (the test is undefined there)."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if values.size < 3 or np.ptp(values) == 0:
        return np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "p-value may not be accurate for N > 5000": stated in docs
        return float(sps.shapiro(values).pvalue)


def shapiro_yeojohnson(values: np.ndarray) -> tuple[float, float, float]:
    """(Shapiro p before, Shapiro p after Yeo-Johnson, the fitted Yeo-Johnson lambda)."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    before = shapiro(values)
    if np.isnan(before):
        return before, np.nan, np.nan
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            transformed, lam = sps.yeojohnson(values)
        except (ValueError, FloatingPointError):
            return before, np.nan, np.nan
    if not np.all(np.isfinite(transformed)):
        return before, np.nan, float(lam)
    return before, shapiro(transformed), float(lam)


def wilcoxon_signed_rank(delta: np.ndarray) -> tuple[float, float]:
    """Paired Wilcoxon signed-rank on per-image differences (zero_method='wilcox': zero
    differences are dropped). Returns (statistic, p); NaN when no non-zero difference is left."""
    delta = np.asarray(delta, dtype=float)
    delta = delta[~np.isnan(delta)]
    if np.count_nonzero(delta) == 0:
        return np.nan, np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # exact-vs-normal approximation notices for small n
        res = sps.wilcoxon(delta, zero_method="wilcox", alternative="two-sided")
    return float(res.statistic), float(res.pvalue)
