"""Data depletion (SPEC 2): from an 80:20 set, move random groups from train to test, step by step.

Each step draws its train set from the previous step's train set only, so every train set is a
subset of the one before and every test set a superset; whole groups move, never single images.
"""

from __future__ import annotations

import numpy as np

from medseglab.splits.groups import pick_groups


def deplete(
    train: np.ndarray, sizes: np.ndarray, ratios: list[int], rng: np.random.Generator
) -> dict[int, np.ndarray]:
    """Train-set group indices for each ratio (train % of all images), nested in the given order.

    ``train`` is the group indices of the 80:20 train set; ``ratios`` are descending. A train set
    keeps at least one group, so the smallest ratios of a tiny dataset can repeat the previous set.
    """
    n_images = int(sizes.sum())
    chain: dict[int, np.ndarray] = {}
    current = np.asarray(train, dtype=int)
    for ratio in ratios:
        current = pick_groups(sizes, current, ratio / 100 * n_images, rng, min_groups=1)
        chain[int(ratio)] = current
    return chain
