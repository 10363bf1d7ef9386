"""tracking stage: MLflow conventions (URIs, experiment names, run keys) and reading runs and tables.

`conventions` is pure Python; `runs` imports MLflow, so it is loaded on first use of its names.
"""

from __future__ import annotations

from medseglab.tracking.conventions import (
    TrainingKey,
    experiment_name,
    study_config_hash,
    tracking_uri,
    training_config_hash,
)

_RUNS_API = (
    "open_client", "ensure_experiment", "find_trainings", "find_study_parent", "find_study", "study_table",
    "study_children", "training_table", "load_probabilities", "load_model", "is_alive",
)

__all__ = ["TrainingKey", "experiment_name", "study_config_hash", "tracking_uri", "training_config_hash",
           *_RUNS_API]


def __getattr__(name: str):
    if name in _RUNS_API:
        from medseglab.tracking import runs

        return getattr(runs, name)
    raise AttributeError(f"module 'medseglab.tracking' has no attribute {name!r}")
