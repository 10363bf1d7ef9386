"""Groups (patients / cases) are the unit every split moves: one group is never on both sides."""

from __future__ import annotations

import numpy as np
import pandas as pd

from medseglab.data.errors import DataError

REQUIRED_COLUMNS = ("image_id", "group_id")


def check_manifest(manifest: pd.DataFrame, where: str = "manifest") -> pd.DataFrame:
    """Validate the columns splits need and return a copy sorted by image_id (row order never matters)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in manifest.columns]
    if missing:
        raise DataError(
            f"{where}: missing column(s) {missing}; a prepared manifest has image_id, group_id and "
            "clinical_label (docs/ARCHITECTURE.md): re-run `medseglab prepare`"
        )
    if len(manifest) == 0:
        raise DataError(f"{where}: no images; prepare a dataset with at least one image per split")
    frame = manifest.copy()
    if "clinical_label" not in frame.columns:
        frame["clinical_label"] = "unknown"
    for column in ("image_id", "group_id"):
        if frame[column].isna().any():
            bad = frame.loc[frame[column].isna(), "image_id"].head(3).tolist()
            raise DataError(f"{where}: empty {column} for image(s) {bad}; every image needs one")
    frame["image_id"] = frame["image_id"].astype(str)
    frame["group_id"] = frame["group_id"].astype(str)
    frame["clinical_label"] = frame["clinical_label"].fillna("unknown").astype(str)
    duplicated = frame["image_id"][frame["image_id"].duplicated()].unique()
    if len(duplicated):
        raise DataError(f"{where}: image_id(s) {list(duplicated[:3])} appear more than once; ids must be unique")
    return frame.sort_values("image_id", kind="stable").reset_index(drop=True)


def group_table(manifest: pd.DataFrame) -> pd.DataFrame:
    """One row per group, sorted by group_id: `group_id`, `n_images`, `label` (the group's most common label)."""
    sizes = manifest.groupby("group_id", sort=True).size().rename("n_images")
    # Ties between labels go to the alphabetically first one, so the table is deterministic.
    counts = manifest.groupby(["group_id", "clinical_label"], sort=True).size().rename("n").reset_index()
    counts = counts.sort_values(["group_id", "n", "clinical_label"], ascending=[True, False, True], kind="stable")
    labels = counts.drop_duplicates("group_id").set_index("group_id")["clinical_label"].rename("label")
    return pd.concat([sizes, labels], axis=1).reset_index().rename(columns={"index": "group_id"})


def pick_groups(
    sizes: np.ndarray, candidates: np.ndarray, target: float, rng: np.random.Generator, min_groups: int = 0
) -> np.ndarray:
    """Random groups from ``candidates`` whose image count comes as close to ``target`` as groups allow.

    Candidates are visited in random order; a group is taken when it brings the total closer to the
    target (so small groups fill the gap a big one would overshoot). Returns indices into ``sizes``.
    """
    order = rng.permutation(np.asarray(candidates, dtype=int))
    chosen: list[int] = []
    total = 0
    for index in order:
        size = int(sizes[index])
        if abs(total + size - target) < abs(total - target):
            chosen.append(int(index))
            total += size
    if len(chosen) < min_groups and len(order):
        rest = [int(i) for i in order if int(i) not in set(chosen)]
        rest.sort(key=lambda i: abs(int(sizes[i]) - target))
        chosen.extend(rest[: min_groups - len(chosen)])
    return np.array(sorted(chosen), dtype=int)
