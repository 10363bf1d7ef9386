"""evaluation stage: per-image metrics (SPEC 5) and the stored probability maps.

``metrics``: confusion counts, one function per metric (incl. the ISIC 2018 thresholded Jaccard),
``per_image_metrics`` (the table);
``roc``: exact ROC AUC of probability maps; ``policy``: what undefined metrics return
(``EMPTY_GT_POLICY = "nan"``); ``probabilities``: the ``probabilities.npz`` format.
"""

from medseglab.evaluation.metrics import (
    COLUMNS,
    EMPTY_GT_POLICY,
    ISIC_JACCARD_THRESHOLD,
    ConfusionCounts,
    auroc_mask,
    auroc_prob,
    confusion_counts,
    dice,
    fpr,
    isic_score,
    jaccard,
    jaccard_isic,
    per_image_metrics,
    precision,
    sensitivity,
    specificity,
)
from medseglab.evaluation.probabilities import load_probabilities, save_probabilities

__all__ = [
    "COLUMNS", "EMPTY_GT_POLICY", "ConfusionCounts", "auroc_mask", "auroc_prob", "confusion_counts",
    "dice", "fpr", "ISIC_JACCARD_THRESHOLD", "isic_score", "jaccard", "jaccard_isic", "load_probabilities",
    "per_image_metrics", "precision", "save_probabilities", "sensitivity", "specificity",
]
