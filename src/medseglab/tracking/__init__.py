"""tracking stage: the one MLflow access layer (URIs, experiment names, run keys, the store, finding
and reading runs and tables). Other packages and the dashboard talk to MLflow only through it.

`conventions` is pure Python; `store` (the client factory), `runs` (searches and readers) and
`session` (`Tracking`, for writing trainings) import MLflow, so they load on first use of their names.
`registry` (registered-model names, promotion, aliases, the champion pair; docs/REGISTRY.md) and
`pair_model` (the pair's pyfunc class) are imported as modules: ``from medseglab.tracking import registry``.
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
    "open_client", "ensure_experiment", "search_all", "find_trainings", "find_study_parent", "find_study",
    "list_datasets", "list_studies", "get_run", "list_artifacts", "read_artifact", "study_table",
    "study_children", "training_table", "load_probabilities", "load_model", "is_alive",
)

__all__ = ["TrainingKey", "experiment_name", "study_config_hash", "tracking_uri", "training_config_hash",
           *_RUNS_API]


def __getattr__(name: str):
    if name in _RUNS_API:
        from medseglab.tracking import runs

        return getattr(runs, name)
    raise AttributeError(f"module 'medseglab.tracking' has no attribute {name!r}")
