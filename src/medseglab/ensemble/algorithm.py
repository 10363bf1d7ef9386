"""Algorithm 1 (SPEC 7): pick, per image, one of four outputs of the LMI and TII models.

The four candidates are probability maps in [0, 1] (mask = map >= threshold, as everywhere):

- ``lmi``: O_MI, the LMI model combined over its repeats (``stats.combine.combine_repeats``);
- ``tii``: O_II, the TII model combined over its repeats;
- ``union``: O_Uni, the pixel-wise max of the two (mask = union of the two masks);
- ``intersection``: O_Int, the pixel-wise min (mask = intersection of the two masks).

Selection with ground truth, per image, with Dice threshold ``t`` (``ensemble.threshold``):

- ``all_above``: every Dice >= t -> the highest AUROC (the mask AUROC of SPEC 5);
- ``all_below``: every Dice < t -> the highest Dice;
- ``mixed``: some >= t, some < t -> the highest Dice (the paper does not spell this case out;
  a candidate under the threshold can never win against one above it this way);
- ``empty_gt``: ground truth has no class-1 pixel, Dice is undefined (NaN) -> the lowest FPR.

An all-foreground ground truth leaves FPR and AUROC undefined: in ``all_above`` the highest Dice
is then taken (the ``criterion`` column of the choice table says which metric decided).

Ties go to the first candidate in ``CANDIDATES`` order (lmi, tii, union, intersection): the
single models before their combinations, so a combination wins only if strictly better.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from medseglab.ensemble.names import BRANCHES, CANDIDATES  # noqa: F401  (re-exported)
from medseglab.names import DEFAULT_THRESHOLD

METRICS = ("dice", "auroc", "fpr")


def candidate_maps(lmi: np.ndarray, tii: np.ndarray) -> dict[str, np.ndarray]:
    """The four candidates from the combined LMI and TII maps (each (N, H, W) in [0, 1])."""
    lmi = np.asarray(lmi, dtype=np.float32)
    tii = np.asarray(tii, dtype=np.float32)
    if lmi.shape != tii.shape or lmi.ndim != 3:
        raise ValueError(f"LMI and TII outputs must both be (N, H, W); got {lmi.shape} and {tii.shape}")
    return {"lmi": lmi, "tii": tii, "union": np.maximum(lmi, tii), "intersection": np.minimum(lmi, tii)}


def candidate_metrics(maps: dict[str, np.ndarray], gt: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> dict[str, np.ndarray]:
    """Dice, mask AUROC and FPR of every candidate: ``{"dice": (N, 4), "auroc": ..., "fpr": ...}``.

    Columns follow ``CANDIDATES``; the mask is ``map >= threshold``. The metric functions (and
    their policy: NaN Dice and AUROC for an empty ground truth, NaN FPR and AUROC for an
    all-foreground one) are ``medseglab.evaluation.metrics``', the study's one definition; the
    probability AUROC is not needed here, so ``per_image_metrics`` (which sorts every map) is not used.
    """
    from medseglab.evaluation.metrics import auroc_mask, confusion_counts, dice, fpr

    gt = np.asarray(gt)
    out: dict[str, list[np.ndarray]] = {name: [] for name in METRICS}
    for cand in CANDIDATES:
        if maps[cand].shape != gt.shape:
            raise ValueError(f"candidate {cand!r} has shape {maps[cand].shape}, ground truth {gt.shape}")
        counts = confusion_counts(maps[cand] >= threshold, gt)
        out["dice"].append(np.atleast_1d(dice(*counts)))
        out["auroc"].append(np.atleast_1d(auroc_mask(*counts)))
        out["fpr"].append(np.atleast_1d(fpr(*counts)))
    return {name: np.stack(cols, axis=1).astype(np.float64) for name, cols in out.items()}


def _first_best(values: np.ndarray, highest: bool) -> np.ndarray:
    """Row-wise index of the best value; ties -> the first column (np.argmax/argmin keep the first)."""
    filled = np.where(np.isnan(values), -np.inf if highest else np.inf, values)
    return np.argmax(filled, axis=1) if highest else np.argmin(filled, axis=1)


def select(
    dice: np.ndarray, auroc: np.ndarray, fpr: np.ndarray, threshold: float = 0.9
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Algorithm 1's rule on (N, 4) metric arrays.

    Returns (branch (N,), criterion (N,): the metric compared, chosen column (N,)). The
    criterion is "auroc" in the all_above branch, except when the ground truth is all
    foreground (AUROC undefined for every candidate): then "dice", like the other branches.
    """
    dice, auroc, fpr = (np.asarray(a, dtype=np.float64) for a in (dice, auroc, fpr))
    if not (dice.shape == auroc.shape == fpr.shape) or dice.ndim != 2 or dice.shape[1] != len(CANDIDATES):
        raise ValueError(f"dice, auroc and fpr must all be (N, {len(CANDIDATES)}); got {dice.shape}, {auroc.shape}, {fpr.shape}")
    if not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"Dice threshold must be in [0, 1], got {threshold} (params.yaml ensemble.threshold)")
    # Dice is NaN only when the ground truth is empty, and then for every candidate at once.
    empty = np.isnan(dice).any(axis=1)
    above = dice >= threshold
    all_above = above.all(axis=1) & ~empty
    all_below = (~above).all(axis=1) & ~empty
    branch = np.select(
        [empty, all_above, all_below], ["empty_gt", "all_above", "all_below"], default="mixed"
    ).astype(object)
    by_auroc = all_above & ~np.isnan(auroc).all(axis=1)
    criterion = np.where(empty, "fpr", np.where(by_auroc, "auroc", "dice")).astype(object)
    chosen = np.where(
        empty,
        _first_best(fpr, highest=False),
        np.where(by_auroc, _first_best(auroc, highest=True), _first_best(dice, highest=True)),
    )
    return branch, criterion, chosen


def algorithm1(
    lmi: np.ndarray,
    tii: np.ndarray,
    gt: np.ndarray,
    image_ids: Sequence[str],
    *,
    threshold: float = 0.9,
    mask_threshold: float = DEFAULT_THRESHOLD,
    split: int | None = None,
    ratio: int | None = None,
) -> pd.DataFrame:
    """Per-image choice table of Algorithm 1 for combined LMI and TII maps and ground truth.

    Columns: image_id, split, ratio, branch, criterion, chosen, ``<metric>_<candidate>`` for dice, auroc,
    fpr of each candidate, chosen_dice, chosen_auroc, chosen_fpr.
    """
    image_ids = [str(i) for i in image_ids]
    if len(image_ids) != np.shape(gt)[0]:
        raise ValueError(f"{len(image_ids)} image ids for {np.shape(gt)[0]} ground-truth masks")
    metrics = candidate_metrics(candidate_maps(lmi, tii), gt, mask_threshold)
    return choice_table(metrics, image_ids, threshold=threshold, split=split, ratio=ratio)


def choice_table(
    metrics: dict[str, np.ndarray],
    image_ids: Sequence[str],
    *,
    threshold: float = 0.9,
    split: int | None = None,
    ratio: int | None = None,
) -> pd.DataFrame:
    """The choice table from precomputed (N, 4) ``dice``, ``auroc``, ``fpr`` arrays."""
    branch, criterion, chosen = select(metrics["dice"], metrics["auroc"], metrics["fpr"], threshold)
    rows = np.arange(len(chosen))
    table = pd.DataFrame(
        {
            "image_id": pd.Series(list(image_ids), dtype=str),
            "split": pd.array([split] * len(chosen), dtype="Int64"),
            "ratio": pd.array([ratio] * len(chosen), dtype="Int64"),
            "branch": pd.Series(branch, dtype=str),
            "criterion": pd.Series(criterion, dtype=str),
            "chosen": pd.Series(np.asarray(CANDIDATES, dtype=object)[chosen], dtype=str),
        }
    )
    for name in METRICS:
        for j, cand in enumerate(CANDIDATES):
            table[f"{name}_{cand}"] = metrics[name][:, j]
    for name in METRICS:
        table[f"chosen_{name}"] = metrics[name][rows, chosen]
    return table
