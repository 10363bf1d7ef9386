"""Algorithm 1 on a finished study: per 80:20 split, combine each init's repeats and choose.

Reads only the contracts of earlier stages: the study's children (``tracking.study_children``),
each training's ``evaluation/probabilities.npz`` (``tracking.load_probabilities``) and the
prepared dataset's masks (``data.load_prepared``).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pandas as pd

from medseglab.ensemble.algorithm import CANDIDATES, METRICS, candidate_maps, candidate_metrics, choice_table
from medseglab.names import DEFAULT_THRESHOLD
from medseglab.progress import bar
from medseglab.stats.combine import combine_repeats
from medseglab.tracking.repeats import INITS, finished_trainings, stack_repeats

CHUNK = 256  # images combined and scored at once: bounds float memory at paper scale


def split_choices(
    lmi: np.ndarray,
    tii: np.ndarray,
    gt: np.ndarray,
    image_ids: Sequence[str],
    *,
    combine: str,
    mask_threshold: float,
    threshold: float,
    split: int,
    ratio: int,
    chunk: int = CHUNK,
) -> pd.DataFrame:
    """Choice table of one split from its repeats: ``lmi``/``tii`` uint8 or float (R, N, H, W)."""
    n = gt.shape[0]
    parts: dict[str, list[np.ndarray]] = {name: [] for name in METRICS}
    for start in range(0, n, chunk):
        sl = slice(start, start + chunk)
        maps = candidate_maps(
            combine_repeats(lmi[:, sl], combine, mask_threshold), combine_repeats(tii[:, sl], combine, mask_threshold)
        )
        metrics = candidate_metrics(maps, gt[sl], mask_threshold)
        for name in METRICS:
            parts[name].append(metrics[name])
    metrics = {name: np.concatenate(parts[name]) if parts[name] else np.zeros((0, len(CANDIDATES))) for name in METRICS}
    return choice_table(metrics, image_ids, threshold=threshold, split=split, ratio=ratio)


def study_choices(
    children: pd.DataFrame,
    load_probabilities: Callable[[str], tuple[np.ndarray, np.ndarray]],
    load_masks: Callable[[Sequence[str]], np.ndarray],
    *,
    ratio: int = 80,
    splits: Sequence[int] | None = None,
    combine: str = "intersection",
    mask_threshold: float = DEFAULT_THRESHOLD,
    threshold: float = 0.9,
    on_split: Callable[[int, np.ndarray, np.ndarray, np.ndarray], None] | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Choice table over every split of ``ratio`` that has finished LMI and TII runs.

    Returns (choices, notes); a note says which splits were skipped and why. Raises ValueError
    when no split has both inits. ``on_split(split, image_ids, lmi, tii)`` sees each split's aligned
    repeat maps (the Dice estimator's features are made there, without loading them twice).
    """
    rows = finished_trainings(children, ratio, splits)
    notes: list[str] = []
    tables = []
    split_ids = sorted(rows["split"].astype(int).unique())
    for split in bar(split_ids, desc=f"ensemble r{ratio}", unit="split"):
        part = rows[rows["split"].astype(int) == split]
        runs = {init: part.loc[part["init"] == init, "run_id"].astype(str).tolist() for init in INITS}
        missing = [init for init in INITS if not runs[init]]
        if missing:
            notes.append(f"split {split}: no finished {'/'.join(m.upper() for m in missing)} training; skipped")
            continue
        ids_lmi, lmi = stack_repeats(runs["lmi"], load_probabilities)
        ids_tii, tii = stack_repeats(runs["tii"], load_probabilities)
        if not np.array_equal(ids_lmi, ids_tii):
            if set(ids_lmi) != set(ids_tii):
                raise ValueError(f"split {split}: LMI and TII were tested on different images; rerun the study")
            tii = tii[:, pd.Index(ids_tii).get_indexer(ids_lmi)]
        gt = np.asarray(load_masks(list(ids_lmi)))
        if gt.shape != lmi.shape[1:]:
            raise ValueError(
                f"split {split}: masks have shape {gt.shape[1:]} but the study's outputs {lmi.shape[2:]}; "
                "the prepared dataset is not the one the study used (re-run `medseglab prepare` with the study's config)"
            )
        if on_split is not None:
            on_split(split, ids_lmi, lmi, tii)
        tables.append(
            split_choices(
                lmi, tii, gt, ids_lmi, combine=combine, mask_threshold=mask_threshold,
                threshold=threshold, split=split, ratio=ratio,
            )
        )
    if not tables:
        available = sorted(set(zip(children.get("split", []), children.get("ratio", []))))
        raise ValueError(
            f"no split at ratio {ratio} has finished LMI and TII trainings (study has split/ratio {available}); "
            + " ".join(notes)
        )
    return pd.concat(tables, ignore_index=True), notes
