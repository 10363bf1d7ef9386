"""Image file -> network input: the one decode and resize that training data and served models share.

``prepare`` writes what a model trains on; ``predict`` (and anything else that serves a model)
feeds it new files. Both go through this module, so a model sees at serving time exactly the
pixels it would have seen in training (a different decode or resize is a train/serve skew: on
real ISIC JPEGs the old predict path changed 60-80% of the input pixels).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from medseglab.data.records import read_rgb


def fit_to_network(image: Image.Image, size_wh: Sequence[int]) -> np.ndarray:
    """An RGB PIL image resized bilinearly to ``size_wh`` [W, H] -> uint8 (H, W, 3)."""
    size = (int(size_wh[0]), int(size_wh[1]))
    if image.mode != "RGB":
        image = image.convert("RGB")
    if image.size != size:
        image = image.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def network_input(path: str | Path, size_wh: Sequence[int]) -> tuple[np.ndarray, tuple[int, int]]:
    """The model's input from an image file: uint8 RGB (H, W, 3) at ``size_wh`` [W, H], and the file's (W, H).

    ``records.read_rgb`` decodes (large JPEGs at the smallest DCT scale not below the target,
    grayscale repeated to 3 channels, 16-bit stretched to 0..255); then a bilinear resize.
    Unreadable files raise DataError naming the file.
    """
    size = (int(size_wh[0]), int(size_wh[1]))
    image, original = read_rgb(Path(path), draft_size=size)
    return fit_to_network(image, size), original
