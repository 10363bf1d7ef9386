"""Checks and views shared by the metrics: a batch of binary masks or probability maps.

A batch is (N, ...) with N images and any number (>= 1) of pixel axes; one 2-D image (H, W) is
treated as a batch of one. Every check raises ``ValueError`` naming the argument, the value and
what is expected, because these arrays come from code, not from a user's file.
"""

from __future__ import annotations

import numpy as np

# Probabilities stored as uint8 (``probabilities.npz``) mean q / 255; this table is the one
# definition of that mapping, so thresholds and AUROC agree on stored and in-memory maps.
UINT8_SCALE = 255
UINT8_LEVELS = np.arange(UINT8_SCALE + 1, dtype=np.float32) / np.float32(UINT8_SCALE)


def as_batch(array, name: str) -> np.ndarray:
    """(H, W) -> (1, H, W); (N, ...) stays; 0-d and 1-d inputs are rejected."""
    array = np.asarray(array)
    if array.ndim < 2:
        raise ValueError(
            f"{name} must be one image (H, W) or a batch (N, H, W); got shape {array.shape}"
        )
    if array.ndim == 2:
        array = array[np.newaxis]
    return array


def check_same_shape(a: np.ndarray, b: np.ndarray, a_name: str, b_name: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{a_name} shape {a.shape} and {b_name} shape {b.shape} differ; "
            "pass one map per ground-truth mask, same size"
        )


def as_binary(array, name: str) -> np.ndarray:
    """A boolean (N, P) view of a {0, 1} batch (bool, integer or float dtype); rejects other values."""
    array = as_batch(array, name)
    flat = array.reshape(array.shape[0], -1)
    if flat.dtype == np.bool_:
        return np.ascontiguousarray(flat)
    if np.issubdtype(flat.dtype, np.integer):
        bad = (flat > 1).any() if np.issubdtype(flat.dtype, np.unsignedinteger) else ((flat < 0) | (flat > 1)).any()
    elif np.issubdtype(flat.dtype, np.floating):
        bad = not ((flat == 0) | (flat == 1)).all()
    else:
        raise ValueError(f"{name} must be a binary mask (bool or {{0, 1}} numbers); got dtype {flat.dtype}")
    if bad:
        values = np.unique(flat)
        shown = ", ".join(str(v) for v in values[:6]) + (", ..." if values.size > 6 else "")
        raise ValueError(
            f"{name} must be binary with values {{0, 1}}; found values {shown}. "
            "Map the target class to 1 and everything else to 0 first (e.g. mask > 0)"
        )
    if flat.dtype.itemsize == 1:
        return np.ascontiguousarray(flat).view(np.bool_)
    return flat.astype(np.bool_)


def as_probability(array, name: str = "prob") -> np.ndarray:
    """A (N, P) view of class-1 probabilities: uint8 (q / 255) or float in [0, 1], no NaN."""
    array = as_batch(array, name)
    flat = array.reshape(array.shape[0], -1)
    if flat.dtype == np.uint8:
        return flat
    if not np.issubdtype(flat.dtype, np.floating):
        raise ValueError(
            f"{name} must be float probabilities in [0, 1] or uint8 (p = q / 255); got dtype {flat.dtype}"
        )
    if flat.size:
        low, high = flat.min(), flat.max()
        # NaN makes both comparisons False, so it is caught here too.
        if not (low >= 0 and high <= 1):
            image = int(np.flatnonzero(~((flat >= 0) & (flat <= 1)).all(axis=1))[0])
            raise ValueError(
                f"{name} must hold probabilities in [0, 1] without NaN; image {image} has values "
                f"outside (min {low}, max {high}). Pass the softmax class-1 output, not logits"
            )
    return flat


def check_threshold(threshold) -> float:
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise ValueError(f"threshold must be a number in [0, 1]; got {threshold!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"threshold must be in [0, 1]; got {threshold!r} (params.yaml train.threshold)")
    return value


def threshold_mask(prob: np.ndarray, threshold: float) -> np.ndarray:
    """mask = prob >= threshold; a uint8 map is compared through ``UINT8_LEVELS`` (q / 255)."""
    if prob.dtype == np.uint8:
        # Levels increase, so "level >= threshold" is "code >= first such code" (a cheap compare).
        first = int(np.argmax(UINT8_LEVELS >= threshold))
        return prob >= np.uint8(first)
    return prob >= threshold


def _words(mask: np.ndarray) -> np.ndarray | None:
    """A uint64 view of a bool (N, P) array (8 pixels per word), or None when P % 8 != 0."""
    if mask.shape[1] and mask.shape[1] % 8 == 0 and mask.flags.c_contiguous:
        return mask.view(np.uint64)
    return None


def count_true(mask: np.ndarray) -> np.ndarray:
    """Row-wise count of True in a bool (N, P) array, as int64 (N,).

    A bool is one byte holding 0 or 1, so the popcount of 8 of them viewed as a uint64 counts
    8 pixels at once: several times faster than ``count_nonzero(axis=1)``.
    """
    words = _words(mask)
    if words is None:
        return np.count_nonzero(mask, axis=1).astype(np.int64)
    return np.bitwise_count(words).sum(axis=1, dtype=np.int64)


def count_both(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise count of pixels True in both bool (N, P) arrays (the AND runs on whole words)."""
    wa, wb = _words(a), _words(b)
    if wa is None or wb is None:
        return np.count_nonzero(a & b, axis=1).astype(np.int64)
    return np.bitwise_count(wa & wb).sum(axis=1, dtype=np.int64)
