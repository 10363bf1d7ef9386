"""tuning stage: `medseglab tune`, an Optuna study of training settings scored on validation images.

    from medseglab.tuning import tune
    result = tune(params, "skin", "tii", n_trials=20)

The search space, storage and pruner are the `tune:` section of params.yaml (docs/TUNING.md).
Optuna, Keras and MLflow load on first use of these names.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "tune": "medseglab.tuning.tune",
    "TuneResult": "medseglab.tuning.tune",
    "train_trial": "medseglab.tuning.trial",
    "run_worker": "medseglab.tuning.worker",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'medseglab.tuning' has no attribute {name!r}")
