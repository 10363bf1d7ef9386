"""training stage: one training of the study as one MLflow run (fit, checkpoints, test-set evaluation).

    from medseglab.training import train_one, Tracking
    result = train_one(cfg, ("skin", "tii", 0, 80, 0), prepared, splits, tracking=Tracking.open(params, "skin"))

Keras and MLflow load on first use of these names.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "train_one": "medseglab.training.train",
    "Tracking": "medseglab.training.train",
    "TrainingResult": "medseglab.training.train",
    "split_validation": "medseglab.training.validation",
    "make_batches": "medseglab.training.feeding",
    "predict_probabilities": "medseglab.training.evaluate",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'medseglab.training' has no attribute {name!r}")
