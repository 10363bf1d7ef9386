"""Helpers for the data-stage tests: tiny fixture files, configs, the leftovers check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets"


def make_cfg(fmt: str, source=None, *, name: str = "ds", image_size=(16, 12), max_images=None,
             options=None, modality=None, n_images=None) -> dict:
    """An effective config as medseglab.config.resolve returns it (the keys importers read)."""
    return {
        "name": name, "format": fmt, "source": None if source is None else str(source),
        "modality": modality, "n_images": n_images, "image_size": list(image_size),
        "max_images": max_images, "options": dict(options or {}),
    }


def write_png(path: Path, arr) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(arr, dtype=np.uint8)).save(path)
    return path


def write_jpg(path: Path, arr) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(arr, dtype=np.uint8)).save(path, quality=95)
    return path


def rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def square_mask(h: int, w: int, value: int = 1) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    mask[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = value
    return mask


def assert_nothing_left(out: Path) -> None:
    """A failed import left no prepared dataset and no temporary folder beside it."""
    assert not out.exists(), f"{out} was created by a failed import"
    if out.parent.exists():
        leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
        assert leftovers == [], f"temporary folders left behind: {leftovers}"
