"""VGG-UNet (SPEC 3): Keras VGG16 encoder without the dense layers + U-Net decoder, softmax per pixel.

TII and LMI are one architecture; ``init`` only decides the encoder's starting weights.
"""

from __future__ import annotations

import os
from typing import Sequence

import keras
import numpy as np
from keras import layers

from medseglab.config import ConfigError
from medseglab.models import names
from medseglab.models.layers import VGGPreprocess
from medseglab.models.weights import WeightsInfo, assign_backbone, load_backbone
from medseglab.names import INITS



def build_vgg_unet(
    input_shape: Sequence[int | None] = (None, None, 3),
    n_classes: int = 2,
    init: str = "lmi",
    weights_path: str | os.PathLike | None = None,
    seed: int | None = None,
    *,
    allow_download: bool | None = None,
    decoder_filters: Sequence[int] = names.DECODER_FILTERS,
) -> tuple[keras.Model, WeightsInfo]:
    """Build a VGG-UNet and initialise its encoder.

    input_shape: (H, W, 3), H and W multiples of 32 (or None: any multiple of 32 at call time).
        The model takes raw RGB float32 in 0..255 and preprocesses it itself.
    init: "tii" (encoder from natural-image VGG16 weights, see `weights.load_backbone`) or
        "lmi" (random). The decoder is always random. ``seed`` makes every random
        initialiser deterministic (same seed -> same weights); None draws fresh ones.
    allow_download: for TII, try a Keras download of the ImageNet file when it is not cached
        (None: yes unless MEDSEGLAB_OFFLINE=1).
    Returns the model (output "softmax": (N, H, W, n_classes) float32) and the WeightsInfo.
    """
    init = str(init).lower()
    if init not in INITS:
        raise ConfigError(f"init={init!r}: use one of {list(INITS)} (profiles.*.inits)")
    shape = _check_shape(input_shape)
    if int(n_classes) < 2:
        raise ConfigError(f"n_classes={n_classes}: a softmax segmentation needs at least 2 classes")
    if len(decoder_filters) != len(names.SKIP_LAYERS):
        raise ConfigError(f"decoder_filters={list(decoder_filters)}: give {len(names.SKIP_LAYERS)} values")

    model = _assemble(shape, int(n_classes), tuple(int(f) for f in decoder_filters), _Initialisers(seed))
    if init == "tii":
        backbone, info = load_backbone(weights_path, allow_download)
        assign_backbone(model, backbone, info)
    else:
        info = WeightsInfo("random", note=f"seed={seed}")
    return model, info


def _check_shape(input_shape) -> tuple:
    shape = tuple(input_shape)
    if len(shape) != 3 or shape[2] != 3:
        raise ConfigError(
            f"input_shape={shape}: the VGG encoder needs (H, W, 3); repeat grayscale images to 3 channels"
        )
    for axis, size in zip(("height", "width"), shape[:2]):
        if size is None:
            continue
        m = names.SIZE_MULTIPLE
        if int(size) <= 0 or int(size) % m:
            lower, upper = max(m, int(size) // m * m), (int(size) // m + 1) * m
            raise ConfigError(
                f"input_shape={shape}: {axis} {size} is not a positive multiple of {m} "
                f"(five 2x2 poolings); set image_size to e.g. {lower} or {upper}"
            )
    return tuple(None if s is None else int(s) for s in shape)


class _Initialisers:
    """Per-layer kernel initialisers: distinct seeds drawn from one seed, so builds repeat exactly."""

    def __init__(self, seed: int | None):
        self._seeds = iter(np.random.SeedSequence(seed).generate_state(64)) if seed is not None else None

    def next(self):
        seed = None if self._seeds is None else int(next(self._seeds) % (2**31 - 1))
        return keras.initializers.GlorotUniform(seed=seed)


def _conv(filters: int, name: str, inits: _Initialisers, kernel: int = 3, activation="relu"):
    return layers.Conv2D(
        filters, kernel, padding="same", activation=activation, kernel_initializer=inits.next(), name=name
    )


def _assemble(shape, n_classes: int, decoder_filters: tuple[int, ...], inits: _Initialisers) -> keras.Model:
    image = keras.Input(shape=shape, dtype="float32", name=names.INPUT_NAME)
    x = VGGPreprocess(name=names.PREPROCESS_LAYER)(image)

    # Encoder: Keras VGG16 without the top, same layer names (block{b}_conv{i}, block{b}_pool).
    features = {}
    convs_per_block = (2, 2, 3, 3, 3)
    filters_per_block = (64, 128, 256, 512, 512)
    for block, (n_convs, filters) in enumerate(zip(convs_per_block, filters_per_block), start=1):
        for i in range(1, n_convs + 1):
            name = f"block{block}_conv{i}"
            x = _conv(filters, name, inits)(x)
            features[name] = x
        x = layers.MaxPooling2D(2, strides=2, name=f"block{block}_pool")(x)

    # Decoder: 2x2 up-convolution, concatenate the encoder map of that scale, two 3x3 convs.
    # Transposed convolutions (not resize) keep GPU training deterministic under op determinism.
    for stage, (skip, filters) in enumerate(zip(names.SKIP_LAYERS, decoder_filters), start=1):
        x = layers.Conv2DTranspose(
            filters, 2, strides=2, padding="same", kernel_initializer=inits.next(),
            name=names.decoder_layer(stage, "up"),
        )(x)
        x = layers.Concatenate(name=names.decoder_layer(stage, "concat"))([x, features[skip]])
        x = _conv(filters, names.decoder_layer(stage, "conv1"), inits)(x)
        x = _conv(filters, names.decoder_layer(stage, "conv2"), inits)(x)

    logits = _conv(n_classes, names.LOGITS_LAYER, inits, kernel=1, activation=None)(x)
    probs = layers.Activation("softmax", dtype="float32", name=names.OUTPUT_LAYER)(logits)
    return keras.Model(image, probs, name="vgg_unet")
