"""Per-image segmentation metrics (SPEC 5): one pure function per metric, vectorised over images.

TP, FP, FN, TN are counted per image over pixels (class 1 = target). On those counts:

- sensitivity = TP / (TP + FN)       - specificity = TN / (TN + FP)
- precision   = TP / (TP + FP)       - FPR         = FP / (FP + TN)
- Dice        = 2TP / (2TP + FP + FN)    - Jaccard     = TP / (TP + FP + FN)
- jaccard_isic: Jaccard set to 0 below 0.65 (``ISIC_JACCARD_THRESHOLD``), the per-image value of the
  ISIC 2018 Task 1 challenge; its mean over the test images is the challenge score
- auroc_mask  = (1 + TPR - FPR) / 2, the area under the ROC "curve" of a binary mask through
  (0, 0), (FPR, TPR), (1, 1), as in the paper; ``auroc_prob`` (``roc.py``) is the real ROC AUC of
  the probability map.

Empty-ground-truth policy (``EMPTY_GT_POLICY = "nan"``; docs/METRICS.md): when the ground truth
has no class-1 pixel, Dice, sensitivity, auroc_mask and auroc_prob are NaN, not 0 and not 1;
specificity and FPR stay defined. Likewise specificity, FPR and both AUROCs are NaN when the
ground truth has no class-0 pixel, and precision is NaN when nothing is predicted. Every
function takes the policy as its ``empty`` argument (``policy.py`` lists the alternatives,
e.g. ISIC's 1 for an empty prediction of an empty ground truth: ``empty="agree"``).

Count functions all take ``(tp, fp, fn, tn)`` so that ``dice(*confusion_counts(pred, gt))``
works; they broadcast over any shape and return float64.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from medseglab.evaluation.arrays import (
    as_batch,
    as_binary,
    as_probability,
    check_same_shape,
    check_threshold,
    count_both,
    count_true,
    threshold_mask,
)
from medseglab.evaluation.policy import EMPTY_GT_POLICY, check_empty, resolve
from medseglab.evaluation.roc import auroc_flat, auroc_prob
from medseglab.names import DEFAULT_THRESHOLD

COUNT_COLUMNS = ("tp", "fp", "fn", "tn")
FLAG_COLUMNS = ("gt_empty", "pred_empty")
METRIC_NAMES = ("dice", "sensitivity", "specificity", "precision", "fpr", "auroc_mask", "auroc_prob", "jaccard",
                "jaccard_isic")
COLUMNS = COUNT_COLUMNS + FLAG_COLUMNS + METRIC_NAMES

# ISIC 2018 Task 1 ("thresholded Jaccard index"): a per-image Jaccard below this scores 0.
ISIC_JACCARD_THRESHOLD = 0.65

# per_image_metrics works through at most this many pixels at once to bound temporary memory.
CHUNK_PIXELS = 1 << 24

__all__ = [
    "EMPTY_GT_POLICY", "COLUMNS", "ConfusionCounts", "confusion_counts", "dice", "sensitivity",
    "specificity", "precision", "fpr", "auroc_mask", "auroc_prob", "jaccard", "jaccard_isic", "isic_score",
    "ISIC_JACCARD_THRESHOLD", "per_image_metrics",
]


class ConfusionCounts(NamedTuple):
    """Per-image pixel counts, int64 (N,) each."""

    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    tn: np.ndarray


def confusion_counts(pred, gt) -> ConfusionCounts:
    """TP, FP, FN, TN per image of binary ``pred`` and ``gt`` ((N, H, W) or one (H, W) image)."""
    pred_b, gt_b = as_batch(pred, "pred"), as_batch(gt, "gt")
    check_same_shape(pred_b, gt_b, "pred", "gt")
    return _counts_flat(as_binary(pred_b, "pred"), as_binary(gt_b, "gt"))


def _counts_flat(pred: np.ndarray, gt: np.ndarray) -> ConfusionCounts:
    tp = count_both(pred, gt)
    n_pred = count_true(pred)
    n_gt = count_true(gt)
    fp = n_pred - tp
    fn = n_gt - tp
    tn = pred.shape[1] - tp - fp - fn
    return ConfusionCounts(tp, fp, fn, tn)


def _as_counts(tp, fp, fn, tn) -> tuple[np.ndarray, ...]:
    arrays = np.broadcast_arrays(*(np.asarray(c, dtype=np.float64) for c in (tp, fp, fn, tn)))
    for name, arr in zip(COUNT_COLUMNS, arrays):
        bad = np.isnan(arr) | (arr < 0)
        if bad.any():
            raise ValueError(
                f"{name} must be non-negative pixel counts; got {arr[bad].ravel()[0]} "
                f"({int(bad.sum())} bad value(s)). Pass the output of confusion_counts"
            )
    return tuple(np.atleast_1d(arr) for arr in arrays)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.full(np.shape(num), np.nan), where=den > 0)


def _finish(value: np.ndarray, shape: tuple) -> np.ndarray:
    return value.reshape(shape)[()] if shape == () else value.reshape(shape)


def _metric(tp, fp, fn, tn, empty, compute, undefined, *, best=1.0, worst=0.0):
    shape = np.broadcast_shapes(*(np.shape(c) for c in (tp, fp, fn, tn)))
    check_empty(empty)
    tp, fp, fn, tn = _as_counts(tp, fp, fn, tn)
    value = compute(tp, fp, fn, tn)
    value = resolve(value, undefined(tp, fp, fn, tn), empty, best=best, worst=worst, exact=(fp == 0) & (fn == 0))
    return _finish(value, shape)


def _no_positive(tp, fp, fn, tn):
    return (tp + fn) == 0


def _no_negative(tp, fp, fn, tn):
    return (tn + fp) == 0


def dice(tp, fp, fn, tn, *, empty=EMPTY_GT_POLICY):
    """2TP / (2TP + FP + FN); undefined when the ground truth is empty (even if FP > 0)."""
    return _metric(tp, fp, fn, tn, empty, lambda tp, fp, fn, tn: _ratio(2 * tp, 2 * tp + fp + fn), _no_positive)


def sensitivity(tp, fp, fn, tn, *, empty=EMPTY_GT_POLICY):
    """TP / (TP + FN) (recall, TPR); undefined when the ground truth is empty."""
    return _metric(tp, fp, fn, tn, empty, lambda tp, fp, fn, tn: _ratio(tp, tp + fn), _no_positive)


def specificity(tp, fp, fn, tn, *, empty=EMPTY_GT_POLICY):
    """TN / (TN + FP); defined for an empty ground truth, undefined when it is all foreground."""
    return _metric(tp, fp, fn, tn, empty, lambda tp, fp, fn, tn: _ratio(tn, tn + fp), _no_negative)


def precision(tp, fp, fn, tn, *, empty=EMPTY_GT_POLICY):
    """TP / (TP + FP); undefined when nothing is predicted."""
    return _metric(
        tp, fp, fn, tn, empty, lambda tp, fp, fn, tn: _ratio(tp, tp + fp), lambda tp, fp, fn, tn: (tp + fp) == 0
    )


def fpr(tp, fp, fn, tn, *, empty=EMPTY_GT_POLICY):
    """FP / (FP + TN) = 1 - specificity; undefined when the ground truth is all foreground."""
    return _metric(
        tp, fp, fn, tn, empty, lambda tp, fp, fn, tn: _ratio(fp, fp + tn), _no_negative, best=0.0, worst=1.0
    )


def auroc_mask(tp, fp, fn, tn, *, empty=EMPTY_GT_POLICY):
    """(1 + TPR - FPR) / 2 (the paper's AUROC of a binary mask); undefined without class 1 or class 0."""

    def compute(tp, fp, fn, tn):
        return (1.0 + _ratio(tp, tp + fn) - _ratio(fp, fp + tn)) / 2.0

    return _metric(tp, fp, fn, tn, empty, compute, lambda *c: _no_positive(*c) | _no_negative(*c))


def jaccard(tp, fp, fn, tn, *, empty=EMPTY_GT_POLICY):
    """TP / (TP + FP + FN) (intersection over union); undefined when the ground truth is empty, like Dice."""
    return _metric(tp, fp, fn, tn, empty, lambda tp, fp, fn, tn: _ratio(tp, tp + fp + fn), _no_positive)


def jaccard_isic(tp, fp, fn, tn, *, threshold: float = ISIC_JACCARD_THRESHOLD, empty=EMPTY_GT_POLICY):
    """The ISIC 2018 Task 1 per-image score: Jaccard, or 0 where it is below ``threshold`` (0.65).

    An undefined Jaccard (empty ground truth, which ISIC 2018 never has) stays as ``empty`` makes it:
    NaN by default, so it is left out of :func:`isic_score` instead of counting as 0 or 1.
    """
    threshold = check_threshold(threshold)
    value = np.asarray(jaccard(tp, fp, fn, tn, empty=empty), dtype=np.float64)
    return np.where(value < threshold, 0.0, value)[()]  # NaN < t is False: NaN stays NaN


def isic_score(tp, fp, fn, tn, *, threshold: float = ISIC_JACCARD_THRESHOLD, empty=EMPTY_GT_POLICY) -> float:
    """The ISIC 2018 Task 1 score of a set of images: the mean of their :func:`jaccard_isic`
    (images whose value is undefined are left out; NaN when none is defined)."""
    values = np.atleast_1d(jaccard_isic(tp, fp, fn, tn, threshold=threshold, empty=empty))
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if defined.size else float("nan")


def _chunks(n_images: int, pixels: int) -> list[slice]:
    step = max(1, CHUNK_PIXELS // max(1, pixels))
    return [slice(start, min(start + step, n_images)) for start in range(0, n_images, step)]


def per_image_metrics(prob, gt, threshold: float = DEFAULT_THRESHOLD, *, empty=EMPTY_GT_POLICY) -> pd.DataFrame:
    """The per-image metric table of a batch (docs/ARCHITECTURE.md, "Per-image metrics").

    ``prob``: class-1 probabilities (N, H, W) (or one (H, W) image), float in [0, 1] or uint8
    (q / 255, as stored in ``probabilities.npz``); ``gt``: same shape, {0, 1}. The mask is
    ``prob >= threshold`` (compared in ``prob``'s dtype). One row per image, columns
    ``COLUMNS``: tp, fp, fn, tn (int64), gt_empty, pred_empty (bool), then the float64 metrics.
    ``empty`` is the policy for undefined metrics (default NaN; see the module docstring).
    """
    threshold = check_threshold(threshold)
    check_empty(empty)
    prob_b, gt_b = as_batch(prob, "prob"), as_batch(gt, "gt")
    check_same_shape(prob_b, gt_b, "prob", "gt")
    n_images = prob_b.shape[0]
    pixels = int(np.prod(prob_b.shape[1:]))
    chunks = _chunks(n_images, pixels)
    parts: list[tuple[ConfusionCounts, np.ndarray]] = []
    progress = None
    if len(chunks) > 1:
        from medseglab.progress import bar

        progress = bar(total=n_images, desc="per-image metrics", unit="img", leave=False)
    try:
        for part in chunks:
            values = as_probability(prob_b[part], "prob")
            positive = as_binary(gt_b[part], "gt")
            counts = _counts_flat(threshold_mask(values, threshold), positive)
            parts.append((counts, auroc_flat(values, positive, counts.tp + counts.fn)))
            if progress is not None:
                progress.update(part.stop - part.start)
    finally:
        if progress is not None:
            progress.close()

    tp, fp, fn, tn = (
        np.concatenate([c[i] for c, _ in parts]) if parts else np.zeros(0, np.int64) for i in range(4)
    )
    prob_auc = np.concatenate([a for _, a in parts]) if parts else np.zeros(0)
    undefined_auc = ((tp + fn) == 0) | ((tn + fp) == 0)
    return pd.DataFrame(
        {
            "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "gt_empty": (tp + fn) == 0,
            "pred_empty": (tp + fp) == 0,
            "dice": dice(tp, fp, fn, tn, empty=empty),
            "sensitivity": sensitivity(tp, fp, fn, tn, empty=empty),
            "specificity": specificity(tp, fp, fn, tn, empty=empty),
            "precision": precision(tp, fp, fn, tn, empty=empty),
            "fpr": fpr(tp, fp, fn, tn, empty=empty),
            "auroc_mask": auroc_mask(tp, fp, fn, tn, empty=empty),
            # "agree" for the map: its mask at ``threshold`` matches the ground truth exactly.
            "auroc_prob": resolve(prob_auc, undefined_auc, empty, best=1.0, worst=0.0, exact=(fp == 0) & (fn == 0)),
            "jaccard": jaccard(tp, fp, fn, tn, empty=empty),
            "jaccard_isic": jaccard_isic(tp, fp, fn, tn, empty=empty),
        },
        columns=list(COLUMNS),
    )
