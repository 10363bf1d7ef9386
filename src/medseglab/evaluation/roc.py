"""ROC AUC of a probability map against its ground-truth mask, per image, exactly.

AUROC = P(p_pos > p_neg) + 0.5 P(p_pos == p_neg) over all (class-1 pixel, class-0 pixel) pairs:
the Mann-Whitney U statistic divided by n_pos * n_neg. Ties count one half, which is what
scikit-learn's ``roc_auc_score`` gets from its trapezoids over tied thresholds, so both agree to
rounding. Twice U is an integer, computed exactly in int64; the division is the only rounding.

Two exact paths:

- quantised maps (uint8, p = q / 255, the ``probabilities.npz`` format; or float maps whose
  every value is exactly such a level): a 256-bin histogram per class, O(pixels);
- any other float map: a histogram over the top bits of the floats orders most pairs; only
  the pixels in buckets holding both classes are sorted (``twice_u_float``).

Undefined (no class-1 or no class-0 pixel): NaN under the default policy (``policy.py``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from medseglab.evaluation.arrays import (
    UINT8_SCALE,
    as_batch,
    as_binary,
    as_probability,
    check_same_shape,
    check_threshold,
    count_true,
    threshold_mask,
)
from medseglab.evaluation.policy import EMPTY_GT_POLICY, check_empty, resolve
from medseglab.names import DEFAULT_THRESHOLD

_GRID_SAMPLE = 1024
# twice_u_float: about 2**k histogram buckets per pixel (more buckets: fewer pixels to sort).
_BUCKETS_PER_PIXEL_LOG2 = -1


@lru_cache(maxsize=None)
def _levels(dtype_str: str) -> np.ndarray | None:
    """The 256 levels q / 255 in a float dtype, or None if that dtype cannot tell them apart."""
    dtype = np.dtype(dtype_str)
    levels = np.arange(UINT8_SCALE + 1, dtype=dtype) / dtype.type(UINT8_SCALE)
    return levels if np.all(np.diff(levels) > 0) else None


def grid_codes(row: np.ndarray) -> np.ndarray | None:
    """uint8 codes q of a float map whose values are all exactly levels q / 255, else None.

    Then q orders the pixels exactly as the floats do, so the histogram path stays exact.
    A strided sample rejects ordinary float maps before the full check.
    """
    levels = _levels(row.dtype.str)
    if levels is None or row.size == 0:
        return None
    sample = row[:: max(1, row.size // _GRID_SAMPLE)]
    codes = np.rint(sample * UINT8_SCALE).astype(np.intp)
    if not np.array_equal(levels[codes], sample):
        return None
    codes = np.rint(row * UINT8_SCALE).astype(np.uint8)
    return codes if np.array_equal(levels[codes], row) else None


def _twice_u_from_histograms(neg: np.ndarray, pos: np.ndarray) -> int:
    """2U from per-level counts (levels ascending): a pair above counts 2, a tie 1."""
    neg_below = np.cumsum(neg) - neg
    return int(np.dot(pos, 2 * neg_below + neg))


def twice_u_histogram(codes: np.ndarray, positive: np.ndarray) -> int:
    """2U for one image of uint8 codes (exact: every code is its own level)."""
    key = positive.view(np.uint8).astype(np.uint16)
    key <<= 8
    key |= codes
    hist = np.bincount(key, minlength=2 * (UINT8_SCALE + 1)).astype(np.int64)
    return _twice_u_from_histograms(hist[: UINT8_SCALE + 1], hist[UINT8_SCALE + 1 :])


def twice_u_sorted(keys: np.ndarray) -> int:
    """2U from sorted keys ``value << 1 | label``: within a tie, negatives (label 0) come first.

    So the negatives counted up to a positive are those <= it; subtracting the tied pairs once
    gives (below) + (not above) per positive.
    """
    labels = (keys & 1).astype(np.bool_)
    if not labels.any() or labels.all():
        return 0
    neg_upto = np.cumsum(~labels, dtype=np.int64)
    not_above = int(np.compress(labels, neg_upto).sum())
    values = keys >> 1
    new_value = values[1:] != values[:-1]
    if new_value.all():
        return 2 * not_above  # no ties
    starts = np.flatnonzero(np.concatenate(([True], new_value)))
    pos_in_tie = np.add.reduceat(labels.astype(np.int64), starts)
    tie_size = np.diff(np.append(starts, values.size))
    tied_pairs = int(np.dot(pos_in_tie, tie_size - pos_in_tie))
    return 2 * not_above - tied_pairs


def twice_u_float(values: np.ndarray, positive: np.ndarray) -> int:
    """2U for one float image, exact, sorting only the pixels whose order a histogram cannot settle.

    Non-negative floats order like their bit patterns, so a histogram over the top bits (about
    one bucket per two pixels) orders every pair that falls in different buckets. Only the
    pixels of buckets holding both classes (about a fifth in the benchmark) are sorted.
    """
    if values.dtype.itemsize < 4:
        values = values.astype(np.float32)
    uint = np.uint32 if values.dtype.itemsize == 4 else np.uint64
    bits = values.view(uint) & uint(np.iinfo(uint).max >> 1)  # -0.0 -> +0.0, the sign bit cleared
    low, high = bits.min(), bits.max()
    n_pos = int(np.count_nonzero(positive))
    if low == high:
        return n_pos * (bits.size - n_pos)  # one value: every pair is a tie
    shift = max(0, int(high - low).bit_length() - max(8, bits.size.bit_length() + _BUCKETS_PER_PIXEL_LOG2))
    bucket = (bits - low) >> uint(shift)
    n_buckets = (int(high - low) >> shift) + 1
    # Label in the high half of the histogram, so both class histograms are contiguous.
    hist = np.bincount(bucket + positive * uint(n_buckets), minlength=2 * n_buckets)
    neg, pos = hist[:n_buckets], hist[n_buckets:]
    mixed = (neg > 0) & (pos > 0)
    # Pairs in different buckets: ordered by the buckets (2 per pair); same bucket: not yet.
    across = int(np.dot(pos, 2 * (np.cumsum(neg) - neg)))
    if not mixed.any():
        return across
    # take/compress: several times faster than fancy and boolean indexing here.
    sub = np.compress(np.take(mixed, bucket), (bits << uint(1)) | positive)
    sub.sort()
    # The sorted subset counts its pairs across mixed buckets as well: take those out again.
    neg_m = neg * mixed
    across_mixed = int(np.dot(pos * mixed, 2 * (np.cumsum(neg_m) - neg_m)))
    return across + twice_u_sorted(sub) - across_mixed


def twice_u(values: np.ndarray, positive: np.ndarray) -> int:
    """2U of one image (flat arrays), by the fastest exact path for its dtype and values."""
    if values.dtype == np.uint8:
        return twice_u_histogram(values, positive)
    codes = grid_codes(values)
    if codes is not None:
        return twice_u_histogram(codes, positive)
    return twice_u_float(values, positive)


def auroc_prob(prob, gt, *, empty=EMPTY_GT_POLICY, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """ROC AUC of each probability map against its mask: float64 (N,).

    ``prob``: (N, H, W) or (H, W), float in [0, 1] or uint8 (q / 255); ``gt``: same shape, {0, 1}.
    ``empty``: value where AUROC is undefined (no class-1 or no class-0 pixel in ``gt``):
    ``"nan"`` (default), ``"agree"`` (1 if ``prob >= threshold`` matches ``gt`` exactly, else 0;
    ``threshold`` is used for nothing else) or a number.
    """
    empty = check_empty(empty)
    prob_b, gt_b = as_batch(prob, "prob"), as_batch(gt, "gt")
    check_same_shape(prob_b, gt_b, "prob", "gt")
    values = as_probability(prob_b, "prob")
    positive = as_binary(gt_b, "gt")
    n_pos = count_true(positive)
    auc = auroc_flat(values, positive, n_pos)
    undefined = np.isnan(auc)

    def exact() -> np.ndarray:
        mask = threshold_mask(values, check_threshold(threshold))
        return count_true(mask ^ positive) == 0

    return resolve(auc, undefined, empty, best=1.0, worst=0.0, exact=exact)


def auroc_flat(values: np.ndarray, positive: np.ndarray, n_pos: np.ndarray) -> np.ndarray:
    """AUROC per row of validated (N, P) arrays; NaN where a class is missing (no policy applied)."""
    n_neg = positive.shape[1] - n_pos
    auc = np.full(positive.shape[0], np.nan)
    for i in np.flatnonzero((n_pos > 0) & (n_neg > 0)):
        auc[i] = twice_u(values[i], positive[i]) / (2.0 * float(n_pos[i]) * float(n_neg[i]))
    return auc
