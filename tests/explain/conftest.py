"""Shared fixtures: real ISIC images (tiny) and a tiny Keras U-Net with a softmax head."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("MEDSEGLAB_NO_PROGRESS", "1")

DATASETS = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets"
ISIC = DATASETS / "isic2018"


def load_isic(shared_dataset, n: int, size: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The first ``n`` ISIC 2018 images (float 0..255 RGB) and masks ({0,1}) resized to size x size
    (``shared_dataset``: the root fixture of that name; it skips, or fails under CI, when ISIC is missing)."""
    from PIL import Image

    image_dir = shared_dataset("isic2018/ISIC2018_Task1-2_Training_Input", root=DATASETS)
    mask_dir = shared_dataset("isic2018/ISIC2018_Task1_Training_GroundTruth", root=DATASETS)
    paths = sorted(image_dir.glob("ISIC_*.jpg"))[:n]
    ids, images, masks = [], [], []
    for path in paths:
        ids.append(path.stem)
        images.append(np.asarray(Image.open(path).convert("RGB").resize((size, size), Image.BILINEAR), np.float32))
        mask = Image.open(mask_dir / f"{path.stem}_segmentation.png").convert("L").resize((size, size), Image.NEAREST)
        masks.append((np.asarray(mask) > 127).astype(np.uint8))
    return ids, np.stack(images), np.stack(masks)


def tiny_unet(size: int = 32, seed: int = 0, name: str = "tiny_unet"):
    """A two-level U-Net (raw 0..255 input, softmax over 2 classes) small enough for unit tests."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, 3), name="image")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0)(inp)
    e1 = layers.Conv2D(8, 3, padding="same", activation="relu", name="enc1")(x)
    p1 = layers.MaxPooling2D(name="pool1")(e1)
    e2 = layers.Conv2D(16, 3, padding="same", activation="relu", name="enc2")(p1)
    p2 = layers.MaxPooling2D(name="pool2")(e2)
    b = layers.Conv2D(16, 3, padding="same", activation="relu", name="bottleneck")(p2)
    u2 = layers.Concatenate(name="cat2")([layers.UpSampling2D(name="up2")(b), e2])
    d2 = layers.Conv2D(16, 3, padding="same", activation="relu", name="dec2")(u2)
    u1 = layers.Concatenate(name="cat1")([layers.UpSampling2D(name="up1")(d2), e1])
    d1 = layers.Conv2D(8, 3, padding="same", activation="relu", name="dec1")(u1)
    logits = layers.Conv2D(2, 1, padding="same", name="logits")(d1)
    out = layers.Softmax(name="softmax")(logits)
    return keras.Model(inp, out, name=name)


@pytest.fixture(scope="session")
def isic32(shared_dataset):
    return load_isic(shared_dataset, 4, 32)


def fit_briefly(model, images: np.ndarray, masks: np.ndarray, epochs: int = 30):
    """A few full-batch Adam steps so that both classes have non-trivial Grad-CAM maps."""
    import keras

    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="categorical_crossentropy")
    model.fit(images, keras.utils.to_categorical(masks, 2), batch_size=len(images), epochs=epochs, verbose=0)
    return model


@pytest.fixture(scope="session")
def unet32(isic32):
    """A tiny U-Net fitted for a moment to the 4 real images (about a second on a CPU)."""
    _, images, masks = isic32
    return fit_briefly(tiny_unet(32, seed=0), images, masks)
