"""The 80:20 sets: group K-fold for coverage, random subsampling for partial overlap (SPEC 2).

1. K-fold: groups go to K folds, largest first, each to a fold with room left (below 1/K of the
   images) that holds the fewest images of the group's clinical label (then the fewest images,
   then a random one), so folds are balanced in size first and in label mix second.
2. Core: test set k keeps a random part of fold k, about ``test_fraction - overlap / K`` of the
   images (the rest of fold k sits out: it is in no test set).
3. Random subsampling: test set k then fills up to ``test_fraction`` with groups drawn at random
   from the cores of the other test sets (about ``overlap / K`` of the images). A group is lent at
   most once, so an image is in at most two test sets: with K >= 3 none is common to all of them.

Every test set holds ``test_fraction`` of the images; ``overlap`` of all images are in exactly two
test sets (each borrowed group is in its lender's test set and the borrower's); ``overlap`` sit out.
All sizes hold within group granularity: a group is never cut.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from medseglab.data.errors import DataError
from medseglab.splits.groups import pick_groups


def assign_folds(groups: pd.DataFrame, n_splits: int, rng: np.random.Generator) -> np.ndarray:
    """Fold index (0..n_splits-1) of every row of ``groups`` (a `group_table`)."""
    sizes = groups["n_images"].to_numpy()
    codes, _ = pd.factorize(groups["label"], sort=True)
    order = rng.permutation(len(groups))
    order = order[np.argsort(-sizes[order], kind="stable")]  # largest first, ties in random order
    totals = np.zeros(n_splits, dtype=np.int64)
    label_counts = np.zeros((n_splits, codes.max() + 1), dtype=np.int64)
    folds = np.empty(len(groups), dtype=int)
    capacity = np.ceil(sizes.sum() / n_splits)
    for g in order:
        label = codes[g]
        # Size first (a fold fills up to its share), then label balance among the folds with room.
        room = totals + sizes[g] <= capacity
        if not room.any():
            room = totals == totals.min()
        fewest_label = room & (label_counts[:, label] == label_counts[room, label].min())
        best = np.flatnonzero(fewest_label & (totals == totals[fewest_label].min()))
        fold = int(rng.choice(best))
        folds[g] = fold
        totals[fold] += sizes[g]
        label_counts[fold, label] += sizes[g]
    return folds


def too_few_groups(groups: pd.DataFrame) -> str:
    """Why one group cannot be split: no split.n_splits (>= 2) helps, only more data or other groups."""
    n_images = int(groups["n_images"].sum())
    if n_images < 2:
        return (f"cannot build train:test sets from {n_images} image: train and test each need at least one; "
                "add images to the dataset (at least 2, of at least 2 patients/cases)")
    return (f"cannot build train:test sets: all {n_images} images belong to one group "
            f"({groups['group_id'].iloc[0]!r}, one patient/case), and a group never straddles train and test; "
            "add images of other patients/cases, or check the group column (group_id in the manifest: the "
            "dataset's patient/case column, options.group_column for the folder format)")


def make_test_sets(
    groups: pd.DataFrame, n_splits: int, test_fraction: float, overlap: float, rng: np.random.Generator
) -> list[np.ndarray]:
    """Group indices of the test set of each of the ``n_splits`` 80:20 sets (see the module docstring)."""
    n_groups = len(groups)
    if n_groups < 2:
        raise DataError(too_few_groups(groups))
    if n_groups < n_splits:
        raise DataError(
            f"cannot build {n_splits} group-disjoint train:test sets from {n_groups} group(s) "
            f"(patients/cases): every test set needs its own group(s); add images or lower "
            f"split.n_splits (e.g. --set split.n_splits={n_groups})"
        )
    sizes = groups["n_images"].to_numpy()
    n_images = int(sizes.sum())
    test_target = test_fraction * n_images
    shared_target = overlap * n_images
    folds = assign_folds(groups, n_splits, rng)

    # Cores leave room for the borrowed part; the borrowing each earlier core implies is carried
    # forward, so coarse groups round up in one set and down in the next instead of drifting.
    cores, implied = [], 0.0
    for k in range(n_splits):
        borrow_plan = max(0.0, shared_target - implied) / (n_splits - k)
        core = pick_groups(sizes, np.flatnonzero(folds == k), test_target - borrow_plan, rng, min_groups=1)
        cores.append(core)
        implied += max(0.0, test_target - sizes[core].sum())
    lent = np.zeros(n_groups, dtype=bool)
    tests = []
    for k in range(n_splits):
        others = np.concatenate([cores[j] for j in range(n_splits) if j != k])
        gap = test_target - sizes[cores[k]].sum()
        borrowed = pick_groups(sizes, others[~lent[others]], gap, rng) if overlap > 0 and gap > 0 else np.array([], int)
        lent[borrowed] = True
        tests.append(np.union1d(cores[k], borrowed))
    for k, test in enumerate(tests):
        if sizes[test].sum() >= n_images:
            raise DataError(
                f"split {k}: the test set would take all {n_images} images (group sizes too uneven: "
                f"largest group has {sizes.max()} images); add groups or lower split.test_fraction"
            )
    return tests
