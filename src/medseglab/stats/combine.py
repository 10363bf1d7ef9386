"""Combine the repeats of one model into one output (SPEC 4, the paper's Equation 2).

The combined output is a class-1 probability map in [0, 1]; its mask is ``map >= threshold``,
exactly as for a single model, so the same metric function scores single and combined outputs.

- ``intersection`` (Equation 2): the map is the pixel-wise *minimum* over the repeats. The min
  is >= threshold exactly where every repeat's mask is 1, so thresholding it gives the
  intersection of the repeat masks; elsewhere it keeps a graded value (the fuzzy AND), which
  gives the combined output a meaningful probability AUROC too.
- ``union``: the pixel-wise maximum (mask = union of the repeat masks); Algorithm 1's O_Uni.
- ``mean``: the mean probability over the repeats (mask = mean >= threshold).
"""

from __future__ import annotations

import numpy as np

from medseglab.names import DEFAULT_THRESHOLD, INTERSECTION

METHODS = ("intersection", "union", "mean")


def _as_unit_float(probs: np.ndarray) -> np.ndarray:
    """uint8 maps (round(p * 255), as stored in probabilities.npz) become floats in [0, 1]."""
    probs = np.asarray(probs)
    if probs.dtype == np.uint8:
        return probs.astype(np.float32) / np.float32(255.0)
    if not np.issubdtype(probs.dtype, np.floating):
        raise ValueError(f"probabilities must be float in [0, 1] or uint8 0..255, got dtype {probs.dtype}")
    return probs


def combine_repeats(probs: np.ndarray, method: str = INTERSECTION, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """Combine R repeats' class-1 probability maps of N images into one map per image.

    ``probs``: (R, N, H, W) floats in [0, 1] (or uint8 0..255). Returns (N, H, W) float32 in
    [0, 1]; the combined mask is ``result >= threshold``. ``threshold`` is checked (it decides
    what the caller's mask means) but min/max/mean need no threshold to be exact.
    """
    if method not in METHODS:
        raise ValueError(f"unknown combine method {method!r}; choose one of {METHODS} (params.yaml stats.combine)")
    if not 0.0 < float(threshold) <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    probs = _as_unit_float(probs)
    if probs.ndim != 4:
        raise ValueError(f"expected probs of shape (repeats, images, H, W), got {probs.shape}")
    if probs.shape[0] == 0:
        raise ValueError("no repeats to combine (probs.shape[0] == 0)")
    if method == "intersection":
        out = probs.min(axis=0)
    elif method == "union":
        out = probs.max(axis=0)
    else:
        out = probs.mean(axis=0, dtype=np.float64)
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def combine_masks(probs: np.ndarray, method: str = INTERSECTION, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """The binary (N, H, W) uint8 mask of :func:`combine_repeats`."""
    return (combine_repeats(probs, method, threshold) >= threshold).astype(np.uint8)
