"""A deliberately plain Grad-CAM, one image and one class at a time, to check the batched one.

It shares no code with :mod:`medseglab.explain.gradcam`: eager GradientTape per (image, class),
channel weights, weighted sum and ReLU in NumPy, and its own NumPy bilinear upsampling with
half-pixel centres (the convention of ``tf.image.resize``). Tests and the throughput benchmark
compare the two; nothing in the pipeline uses it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def _bilinear_axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices (lower, upper) and weights of the upper one along one axis."""
    src = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    src = np.clip(src, 0.0, n_in - 1)
    lower = np.floor(src).astype(int)
    upper = np.minimum(lower + 1, n_in - 1)
    return lower, upper, src - lower


def upsample_bilinear(cam: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of one 2D map with half-pixel centres, no antialiasing."""
    rows_lo, rows_hi, row_w = _bilinear_axis(cam.shape[0], height)
    cols_lo, cols_hi, col_w = _bilinear_axis(cam.shape[1], width)
    cam = cam.astype(np.float64)
    top = cam[rows_lo] * (1 - row_w)[:, None] + cam[rows_hi] * row_w[:, None]
    return top[:, cols_lo] * (1 - col_w)[None, :] + top[:, cols_hi] * col_w[None, :]


def gradcam_per_image(
    model, images: np.ndarray, classes: Sequence[int] = (0, 1), layer: str | None = None, region: np.ndarray | None = None
) -> np.ndarray:
    """Raw Grad-CAM maps (N, len(classes), H, W), computed image by image and class by class."""
    import keras
    import tensorflow as tf

    if layer is None:
        raise ValueError("the reference needs the layer by name (it does not guess a default)")
    probe = keras.Model(model.inputs[0], [model.get_layer(layer).output, model.outputs[0]])
    images = np.asarray(images, np.float32)
    n, height, width = images.shape[:3]
    out = np.zeros((n, len(classes), height, width), np.float32)
    for i in range(n):
        x = tf.constant(images[i : i + 1])
        mask = tf.ones((1, height, width)) if region is None else tf.constant(np.asarray(region, np.float32)[i : i + 1])
        for j, c in enumerate(classes):
            with tf.GradientTape() as tape:
                acts, probs = probe(x, training=False)
                score = tf.reduce_sum(probs[0, :, :, c] * mask[0])
            grads = tape.gradient(score, acts).numpy()[0]
            acts = acts.numpy()[0]
            weights = grads.mean(axis=(0, 1))
            cam = np.maximum((acts * weights).sum(axis=-1), 0.0)
            out[i, j] = upsample_bilinear(cam, height, width)
    return out
