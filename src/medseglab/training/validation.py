"""The validation part of a train set: whole groups (patients / cases), so no patient straddles it."""

from __future__ import annotations

import numpy as np


def split_validation(image_ids, group_ids, fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(fit_ids, val_ids): random whole groups go to validation until it holds >= ``fraction`` of
    the images. Keeps at least one group for fitting; no validation when ``fraction`` <= 0 or
    there is only one group. Order of the input ids is kept in both outputs."""
    ids = [str(i) for i in image_ids]
    groups = [str(g) for g in group_ids]
    if len(ids) != len(groups):
        raise ValueError(f"{len(ids)} image ids but {len(groups)} group ids")
    unique = sorted(set(groups))
    if fraction <= 0 or len(unique) < 2:
        return ids, []
    rng = np.random.default_rng(int(seed))
    target = max(1, int(round(fraction * len(ids))))
    counts: dict[str, int] = {}
    for g in groups:
        counts[g] = counts.get(g, 0) + 1
    chosen: set[str] = set()
    taken = 0
    for g in rng.permutation(unique):
        if taken >= target or len(chosen) == len(unique) - 1:
            break
        chosen.add(str(g))
        taken += counts[str(g)]
    fit = [i for i, g in zip(ids, groups) if g not in chosen]
    val = [i for i, g in zip(ids, groups) if g in chosen]
    return fit, val
