"""Augmentation switches of a training (`train.augment`): random flips and brightness, per image.

Off unless switched on (the study used none): `train.augment` absent or all false leaves every
batch as it was. A batch's draws are a pure function of (seed, epoch, batch index), so a resumed
training sees the same augmented batches as one that never stopped.
"""

from __future__ import annotations

import numpy as np

from medseglab.errors import ConfigError

AUGMENTS = ("hflip", "vflip", "brightness")
BRIGHTNESS = 0.1  # brightness scales the image (not the mask) by a factor drawn from [0.9, 1.1]


def check_augment(switches) -> dict[str, bool]:
    """The `train.augment` mapping checked: {hflip, vflip, brightness} -> bool (missing = off)."""
    if not switches:
        return {}
    if not isinstance(switches, dict):
        raise ConfigError(f"train.augment={switches!r}: give a mapping such as {{hflip: true, vflip: false}}")
    unknown = sorted(set(switches) - set(AUGMENTS))
    if unknown:
        raise ConfigError(f"train.augment: unknown switches {unknown}; use {list(AUGMENTS)}")
    for name, value in switches.items():
        if not isinstance(value, bool):
            raise ConfigError(f"train.augment.{name}={value!r}: give true or false")
    return {name: value for name, value in switches.items() if value}


def augment_batch(images: np.ndarray, masks: np.ndarray, switches: dict, seed: int, epoch: int,
                  index: int) -> tuple[np.ndarray, np.ndarray]:
    """Each image of a float (B, H, W, 3) batch and its (B, H, W) mask flipped left-right / up-down
    with probability 1/2 each, and the image's brightness scaled, as ``switches`` say."""
    if not switches:
        return images, masks
    rng = np.random.default_rng([int(seed), int(epoch), int(index), 7])
    images, masks = images.copy(), masks.copy()
    for i in range(len(images)):
        draws = rng.random(3)
        if switches.get("hflip") and draws[0] < 0.5:
            images[i], masks[i] = images[i][:, ::-1], masks[i][:, ::-1]
        if switches.get("vflip") and draws[1] < 0.5:
            images[i], masks[i] = images[i][::-1], masks[i][::-1]
        if switches.get("brightness"):
            images[i] = np.clip(images[i] * (1.0 + BRIGHTNESS * (2.0 * draws[2] - 1.0)), 0.0, 255.0)
    return images, masks
