"""Shared fixtures: tiny Keras models whose masks are known in advance, and their test image.

Each model is a 1x1 convolution with softmax whose class-1 probability is
sigmoid(10 * (channel - level)), so its mask is exactly ``image[..., channel] > level``.
The test image has R = 8 * column and G = 8 * row, so every mask is a known half-plane.
"""

import numpy as np
import pytest

SIZE = 32
LMI_LEVELS = ((0, 100.5), (0, 140.5))  # R > 100.5 and R > 140.5: intersection = column >= 18
TII_LEVELS = ((1, 60.5), (1, 120.5))   # G > 60.5 and G > 120.5: intersection = row >= 16


def threshold_model(channel, level, size=SIZE):
    import keras

    inp = keras.Input((size, size, 3))
    conv = keras.layers.Conv2D(2, 1, activation="softmax")
    out = conv(inp)
    kernel = np.zeros((1, 1, 3, 2), np.float32)
    kernel[0, 0, channel, 1] = 10.0
    conv.set_weights([kernel, np.array([0.0, -10.0 * level], np.float32)])
    return keras.Model(inp, out)


def tiny_models():
    return {"lmi": [threshold_model(*a) for a in LMI_LEVELS], "tii": [threshold_model(*a) for a in TII_LEVELS]}


def gradient_image(width=SIZE, height=SIZE):
    cols = np.linspace(0, 8 * (SIZE - 1), width)[None, :].repeat(height, 0)
    rows = np.linspace(0, 8 * (SIZE - 1), height)[:, None].repeat(width, 1)
    return np.stack([cols, rows, np.zeros_like(cols)], -1).round().astype(np.uint8)


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("MEDSEGLAB_NO_PROGRESS", "1")


@pytest.fixture(scope="session")
def tiny():
    """The helpers above, for test modules (they cannot import each other in every import mode)."""
    return {"threshold_model": threshold_model, "tiny_models": tiny_models, "gradient_image": gradient_image,
            "LMI_LEVELS": LMI_LEVELS, "TII_LEVELS": TII_LEVELS, "SIZE": SIZE}
