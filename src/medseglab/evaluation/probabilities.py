"""``probabilities.npz``: the class-1 probability maps of a test set (docs/ARCHITECTURE.md).

``np.savez_compressed`` with ``image_ids`` (str array, N) and ``prob`` (uint8 N x H x W,
round(p * 255)). Quantising costs at most 1/510 in probability and 4x less space than float32;
loading returns ``UINT8_LEVELS[q]`` (float32 q / 255), the same levels the metrics use, so
metrics of a loaded map equal those of the stored uint8 map (and take the exact fast AUROC path).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np

from medseglab.evaluation.arrays import UINT8_LEVELS, UINT8_SCALE
from medseglab.io import atomic_path

KEYS = ("image_ids", "prob")


def quantize(prob) -> np.ndarray:
    """Float probabilities in [0, 1] -> uint8 round(p * 255) (round half to even); uint8 passes through."""
    prob = np.asarray(prob)
    if prob.dtype == np.uint8:
        return prob
    if not np.issubdtype(prob.dtype, np.floating):
        raise ValueError(f"probabilities must be float in [0, 1] (or uint8 already quantised); got dtype {prob.dtype}")
    if prob.size and not (prob.min() >= 0 and prob.max() <= 1):
        raise ValueError(
            f"probabilities must be in [0, 1] without NaN; got min {prob.min()}, max {prob.max()}. "
            "Save the softmax class-1 output, not logits"
        )
    return np.rint(prob.astype(np.float64) * UINT8_SCALE).astype(np.uint8)


def dequantize(codes) -> np.ndarray:
    """uint8 q -> float32 q / 255."""
    codes = np.asarray(codes)
    if codes.dtype != np.uint8:
        raise ValueError(f"quantised probabilities must be uint8; got dtype {codes.dtype}")
    return UINT8_LEVELS[codes]


def save_probabilities(path: str | os.PathLike, image_ids: Sequence[str], prob_float) -> Path:
    """Write ``probabilities.npz`` atomically; ``prob_float`` is (N, H, W) float in [0, 1] (or uint8 q)."""
    ids = np.asarray([str(i) for i in image_ids], dtype=str)
    prob = np.asarray(prob_float)
    if prob.ndim != 3:
        raise ValueError(f"probabilities must be (N, H, W); got shape {prob.shape}")
    if ids.shape[0] != prob.shape[0]:
        raise ValueError(f"{ids.shape[0]} image ids for {prob.shape[0]} probability maps; pass one id per map")
    if np.unique(ids).size != ids.size:
        values, counts = np.unique(ids, return_counts=True)
        raise ValueError(f"image ids must be unique; repeated: {', '.join(values[counts > 1][:5])}")
    codes = quantize(prob)
    path = Path(path)
    with atomic_path(path) as tmp:
        # A file object, because savez would append ".npz" to the temporary file's name.
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, image_ids=ids, prob=codes)
    return path


def load_probabilities(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read ``probabilities.npz`` -> (image_ids str (N,), prob float32 (N, H, W) = q / 255)."""
    from medseglab.data.errors import DataError

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such probabilities file; rerun the training's evaluation to write it")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc}); delete it and rerun the evaluation") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: a single .npy array, not an .npz archive; write it with save_probabilities")
    with archive:
        missing = [key for key in KEYS if key not in archive.files]
        if missing:
            raise DataError(
                f"{path}: missing array(s) {missing} (has {archive.files}); "
                "write it with medseglab.evaluation.probabilities.save_probabilities"
            )
        try:
            ids, codes = archive["image_ids"], archive["prob"]
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise DataError(f"{path}: damaged archive ({exc}); delete it and rerun the evaluation") from exc
    if codes.dtype != np.uint8 or codes.ndim != 3:
        raise DataError(
            f"{path}: 'prob' must be uint8 (N, H, W); got {codes.dtype} {codes.shape}. "
            "Rewrite it with save_probabilities"
        )
    if ids.ndim != 1 or ids.shape[0] != codes.shape[0] or ids.dtype.kind not in "US":
        raise DataError(
            f"{path}: 'image_ids' must be N={codes.shape[0]} strings; got {ids.dtype} {ids.shape}. "
            "Rewrite it with save_probabilities"
        )
    return ids.astype(str), dequantize(codes)
