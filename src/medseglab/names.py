"""The study's fixed vocabulary, defined once: the two initialisations, Algorithm 1's candidates and
the default probability threshold. Plain Python (imported by CLIs, the dashboard and every stage).
"""

from __future__ import annotations

# LMI: the encoder starts from random weights (learned from the medical images only);
# TII: from natural-image (ImageNet) weights. This order is the tables' and plots' order.
LMI = "lmi"
TII = "tii"
INITS = (LMI, TII)

# Algorithm 1's outputs; also the tie-breaking order: the single models before their combinations.
UNION = "union"
INTERSECTION = "intersection"
CANDIDATES = (LMI, TII, UNION, INTERSECTION)

# A pixel is foreground when its class-1 probability is >= this (SPEC 4); params `train.threshold`.
DEFAULT_THRESHOLD = 0.5


def mask_threshold(params: dict | None) -> float:
    """The probability threshold of a config: params/effective config ``train.threshold``, else 0.5."""
    return float(((params or {}).get("train") or {}).get("threshold", DEFAULT_THRESHOLD))
