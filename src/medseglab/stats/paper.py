"""The published study's own results (Ghosal & Shah 2021; SPEC section 12), as data.

The tables put these beside the user's numbers. Metric keys follow the per-image table's
column names; the paper's AUROC is the mask AUROC (`auroc_mask`).
"""

from __future__ import annotations

# Table 1, 80:20: metric -> init -> (median, mean); n = test images of the chosen split.
TABLE1: dict[str, dict] = {
    "skin": {
        "n": 2758,
        "auroc_mask": {"lmi": (0.8544, 0.8120), "tii": (0.9282, 0.8826)},
        "dice": {"lmi": (0.8273, 0.7483), "tii": (0.8857, 0.8250)},
        "sensitivity": {"lmi": (0.7156, 0.6331), "tii": (0.8891, 0.7944)},
        "specificity": {"lmi": (0.9999, 0.9922), "tii": (0.9986, 0.9722)},
    },
    "prostate": {
        "n": 49,
        "auroc_mask": {"lmi": (0.9359, 0.9083), "tii": (0.9337, 0.8991)},
        "dice": {"lmi": (0.9476, 0.8858), "tii": (0.9325, 0.8733)},
        "sensitivity": {"lmi": (0.9520, 0.8988), "tii": (0.9059, 0.8507)},
        "specificity": {"lmi": (0.9572, 0.9108), "tii": (0.9761, 0.9490)},
    },
    "kidney": {
        "n": 9085,
        "auroc_mask": {"lmi": (0.9980, 0.9876), "tii": (0.9978, 0.9871)},
        "dice": {"lmi": (0.9597, 0.9509), "tii": (0.9598, 0.9502)},
        "sensitivity": {"lmi": (0.9985, 0.9772), "tii": (0.9979, 0.9761)},
        "specificity": {"lmi": (1.0, 0.9993), "tii": (1.0, 0.9993)},
    },
}

# Table 2: median Dice by % of the data used for training: dataset -> train % -> init -> median.
TABLE2_DICE: dict[str, dict[int, dict[str, float]]] = {
    "skin": {
        10: {"lmi": 0.7818, "tii": 0.8437},
        20: {"lmi": 0.7855, "tii": 0.8743},
        40: {"lmi": 0.8346, "tii": 0.8624},
        60: {"lmi": 0.8274, "tii": 0.8721},
        80: {"lmi": 0.8273, "tii": 0.8857},
    },
    "prostate": {
        10: {"lmi": 0.9246, "tii": 0.9250},
        20: {"lmi": 0.9268, "tii": 0.9392},
        40: {"lmi": 0.9390, "tii": 0.9302},
        60: {"lmi": 0.9262, "tii": 0.9030},
        80: {"lmi": 0.9476, "tii": 0.9325},
    },
    "kidney": {
        10: {"lmi": 0.9533, "tii": 0.9541},
        20: {"lmi": 0.9551, "tii": 0.9543},
        40: {"lmi": 0.9571, "tii": 0.9567},
        60: {"lmi": 0.9570, "tii": 0.9577},
        80: {"lmi": 0.9597, "tii": 0.9598},
    },
}

# Challenge leaders, for context only (SPEC 12).
CHALLENGE_DICE = {"skin": 0.91, "kidney": 0.98}


def table1(dataset: str) -> dict | None:
    """The paper's Table 1 entry of a dataset, or None for a dataset the paper did not study."""
    return TABLE1.get(dataset)


def table2_dice(dataset: str) -> dict[int, dict[str, float]] | None:
    return TABLE2_DICE.get(dataset)
