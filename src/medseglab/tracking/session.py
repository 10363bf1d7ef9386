"""Where and how trainings are written: the :class:`Tracking` of a study, and the one scoped use of
MLflow's fluent API (``mlflow.keras.log_model`` needs an active run and the global tracking URI)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from pathlib import Path


@dataclasses.dataclass
class Tracking:
    """Where and how a training is tracked (one per study; `Tracking.open` makes one from params)."""

    client: object
    experiment_id: str
    parent_run_id: str | None = None
    profile: str | None = None
    register_models: bool = True  # no effect since issue #9: trainings are LoggedModels, registered at `medseglab promote`
    keep_checkpoints: bool = False
    checkpoint_root: Path = Path("checkpoints")
    uri: str | None = None  # the tracking URI the client was built for

    @classmethod
    def open(cls, params: dict, dataset: str, parent_run_id: str | None = None,
             profile: str | None = None) -> "Tracking":
        """A client of the project's store and the dataset's experiment, checked for writing:
        a corrupt store or an artifact folder that cannot be written is a TrackingError now,
        not a traceback when the first run starts."""
        from medseglab.tracking.conventions import tracking_uri
        from medseglab.tracking.runs import ensure_experiment
        from medseglab.tracking.store import open_client

        uri = tracking_uri(params)
        client = open_client(uri=uri)
        section = params.get("tracking") or {}
        return cls(
            client=client,
            experiment_id=ensure_experiment(client, dataset, params, for_writing=True),
            parent_run_id=parent_run_id,
            profile=profile,
            register_models=bool(section.get("register_models", True)),
            keep_checkpoints=bool(section.get("keep_checkpoints", False)),
            checkpoint_root=Path(section.get("checkpoint_root") or "checkpoints"),
            uri=uri,
        )


@contextlib.contextmanager
def fluent_run(uri: str, run_id: str):
    """Make ``run_id`` MLflow's active run on ``uri`` for the calls inside (``mlflow.keras.log_model``
    has no client form), then restore the previous global URI and ``MLFLOW_TRACKING_URI``.

    The run stays RUNNING: its caller sets the final status with the client.
    """
    import mlflow

    env_before = os.environ.get("MLFLOW_TRACKING_URI")
    uri_before = mlflow.get_tracking_uri() if mlflow.tracking.is_tracking_uri_set() else None
    mlflow.set_tracking_uri(uri)
    try:
        mlflow.start_run(run_id=run_id)
        try:
            yield
        finally:
            mlflow.end_run("RUNNING")
    finally:
        mlflow.set_tracking_uri(uri_before)  # None: back to "not set" (it also unsets the variable)
        if env_before is not None:
            os.environ["MLFLOW_TRACKING_URI"] = env_before
