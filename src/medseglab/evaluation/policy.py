"""What a metric returns when its denominator is empty: the ``empty`` argument of every metric.

The study's policy (SPEC 5, docs/METRICS.md) is ``EMPTY_GT_POLICY = "nan"``: an undefined metric
is NaN, never silently 0 or 1, so that statistics skip it instead of counting a made-up score.
Undefined means:

- Dice, sensitivity, mask and probability AUROC: the ground truth has no class-1 pixel;
- AUROC (both) also when the ground truth has no class-0 pixel (FPR has no denominator);
- specificity and FPR: the ground truth has no class-0 pixel (all foreground);
- precision: nothing is predicted.

Alternatives, for comparing with other tools:

- ``"agree"``: the metric's best value (1; 0 for FPR) when the prediction matches the ground
  truth exactly on that image (no FP and no FN), else its worst value (0; 1 for FPR). For an
  empty ground truth this is ISIC's and MONAI's ``ignore_empty=False`` rule: 1 for an empty
  prediction, 0 otherwise.
- a number, e.g. ``1.0`` (every undefined value becomes that number).
"""

from __future__ import annotations

import math

import numpy as np

EMPTY_GT_POLICY = "nan"
POLICIES = ("nan", "agree")


def check_empty(empty) -> str | float:
    """Validate an ``empty`` argument: "nan", "agree" or a finite number."""
    if isinstance(empty, str):
        if empty not in POLICIES:
            raise ValueError(f"empty must be one of {POLICIES} or a number; got {empty!r}")
        return empty
    if isinstance(empty, (bool, np.bool_)) or not isinstance(empty, (int, float, np.integer, np.floating)):
        raise ValueError(f"empty must be one of {POLICIES} or a number; got {empty!r}")
    if not math.isfinite(float(empty)):
        raise ValueError(f"empty as a number must be finite (use empty='nan' for NaN); got {empty!r}")
    return float(empty)


def resolve(value: np.ndarray, undefined: np.ndarray, empty, *, best: float, worst: float, exact) -> np.ndarray:
    """Replace ``value`` where ``undefined`` according to the policy (in place; returns it).

    ``exact`` is a bool array (or a callable returning one, so it is computed only when needed)
    telling where the prediction has no error; only the ``"agree"`` policy uses it.
    """
    empty = check_empty(empty)
    if not np.any(undefined):
        return value
    if empty == "nan":
        value[undefined] = np.nan
    elif empty == "agree":
        exact = exact() if callable(exact) else exact
        value[undefined] = np.where(np.broadcast_to(exact, value.shape), best, worst)[undefined]
    else:
        value[undefined] = empty
    return value
