"""The ISIC 2018 Task 1 score beside Dice, for skin (docs/METRICS.md, docs/STATISTICS.md).

The challenge ranked lesion segmentations by the mean over the test images of the per-image Jaccard
index set to 0 below 0.65 (``evaluation.metrics.jaccard_isic``). Per init, on Table 1's regime (the
chosen split at the main ratio) and at the statistics' level (each model's combined output, or each
image's value averaged over the repeats), the report gives that score with the mean and median
Jaccard and Dice (``tables/isic2018.*``, ``metrics.json`` ``isic2018``), so that a study's skin
results can be set against the challenge leaderboard.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pandas as pd

from medseglab.evaluation.metrics import COUNT_COLUMNS, ISIC_JACCARD_THRESHOLD, jaccard, jaccard_isic
from medseglab.stats.provenance import UNKNOWN, Provenance
from medseglab.stats.summary import INITS, model_values
from medseglab.stats.tables import INIT_NAMES, Table, _labelled, fmt, fmt_count

log = logging.getLogger(__name__)
ISIC_DATASETS = frozenset({"skin"})  # the SPEC's ISIC 2018 dataset key
VALUES = ("jaccard_isic", "jaccard", "dice")
NAME = "isic2018"


@dataclasses.dataclass
class ChallengeScore:
    summary: pd.DataFrame  # one row per init: n, score, jaccard/dice mean and median, n_below
    table: Table
    metrics: dict  # metrics.json's "isic2018"


def with_jaccard(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with ``jaccard`` and ``jaccard_isic``, computed from its tp, fp, fn, tn counts when it
    lacks them (a per-image table written before these columns existed)."""
    if {"jaccard", "jaccard_isic"} <= set(table.columns):
        return table
    from medseglab.errors import UserError

    missing = [c for c in COUNT_COLUMNS if c not in table.columns]
    if missing:
        raise UserError(f"per-image table: no jaccard column and no pixel counts {missing} to compute it from; "
                        "evaluate the study again (medseglab study) to get the ISIC 2018 score")
    counts = [table[c].to_numpy() for c in COUNT_COLUMNS]
    return table.assign(jaccard=jaccard(*counts), jaccard_isic=jaccard_isic(*counts))


def isic_summary(source: pd.DataFrame, level: str, split: int, ratio: int) -> pd.DataFrame:
    """Per init, on one regime: the ISIC 2018 score (mean thresholded Jaccard over the images with a
    defined value), mean and median Jaccard and Dice, and how many images have Jaccard < 0.65."""
    rows = source.loc[(source["split"] == split) & (source["ratio"] == ratio) & source["init"].isin(INITS)]
    values = model_values(with_jaccard(rows), level, VALUES)
    out = []
    for init in INITS:
        v = values.loc[values["init"] == init]
        j = v["jaccard"].dropna()
        out.append({
            "init": init,
            "n_images": len(v),
            "n": int(v["jaccard_isic"].notna().sum()),
            "score": v["jaccard_isic"].mean(),  # NaN-skipping: an empty ground truth is left out
            "jaccard_mean": j.mean(),
            "jaccard_median": j.median(),
            "dice_mean": v["dice"].mean(),
            "dice_median": v["dice"].median(),
            "n_below": int((j < ISIC_JACCARD_THRESHOLD).sum()),
        })
    return pd.DataFrame(out)


def _number(value):
    return None if value is None or pd.isna(value) else float(value)


def isic_2018(source: pd.DataFrame, level: str, dataset: str, split: int, ratio: int,
              provenance: Provenance = UNKNOWN) -> ChallengeScore | None:
    """The ISIC 2018 Task 1 table and metrics of a skin study (None for other datasets).
    ``source``: the per-image table of the statistics' level (combined outputs, or the trainings')."""
    if dataset not in ISIC_DATASETS:
        return None
    if not ({"jaccard", "jaccard_isic"} <= set(source.columns) or set(COUNT_COLUMNS) <= set(source.columns)):
        log.warning("warning: no ISIC 2018 score: the per-image table has neither jaccard columns nor the pixel "
                    "counts tp, fp, fn, tn; evaluate the study again (medseglab study) to get it")
        return None
    summary = isic_summary(source, level, split, ratio)
    rows = []
    for _, r in summary.iterrows():
        rows.append({
            "init": INIT_NAMES[r["init"]],
            "n": fmt_count(r["n"]),
            "ISIC 2018 score": fmt(r["score"]),
            "Jaccard mean": fmt(r["jaccard_mean"]),
            "Jaccard median": fmt(r["jaccard_median"]),
            "Dice mean": fmt(r["dice_mean"]),
            "Dice median": fmt(r["dice_median"]),
            f"Jaccard < {ISIC_JACCARD_THRESHOLD}": f"{fmt_count(r['n_below'])} ({fmt(_pct(r), 1)}%)",
        })
    per_image = ("each model's combined output over its repeats" if level == "combined"
                 else "each image's values averaged over the model's repeats (the score is the mean of the repeats' scores)")
    notes = [
        f"ISIC 2018 score (Task 1, lesion segmentation): per image the Jaccard index TP / (TP + FP + FN), set to 0 "
        f"when below {ISIC_JACCARD_THRESHOLD}, averaged over the test images. Per-image values: {per_image}.",
        "The challenge leaderboard scores 1,000 full-resolution test images; this study's test set, image size and "
        "training differ, so set the numbers against it as an indication, not a ranking.",
        "Images whose Jaccard is undefined (empty ground truth; ISIC 2018 has none) are left out; n counts the rest.",
    ]
    title = f"ISIC 2018 Task 1. {dataset}: challenge score (thresholded Jaccard) beside Dice, split {split}, {ratio}:{100 - ratio}"
    table = _labelled(Table(NAME, title, pd.DataFrame(rows), notes), provenance)
    metrics = {
        "threshold": ISIC_JACCARD_THRESHOLD,
        **{key: {r["init"]: _number(r[key]) for _, r in summary.iterrows()}
           for key in ("score", "jaccard_mean", "jaccard_median", "dice_mean", "dice_median")},
        "n": {r["init"]: int(r["n"]) for _, r in summary.iterrows()},
    }
    return ChallengeScore(summary, table, metrics)


def _pct(row: pd.Series) -> float:
    """n_below as % of the images with a defined Jaccard."""
    return 100.0 * row["n_below"] / row["n"] if row["n"] else np.nan
