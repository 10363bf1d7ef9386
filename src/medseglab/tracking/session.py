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
    task: str | None = None  # a study task id (Ray executor): a RUNNING run with this tag is its own dead attempt

    @classmethod
    def open(cls, params: dict, dataset: str, parent_run_id: str | None = None,
             profile: str | None = None, uri: str | None = None) -> "Tracking":
        """A client of the project's store and the dataset's experiment, checked for writing:
        a corrupt store or an artifact folder that cannot be written is a TrackingError now,
        not a traceback when the first run starts. ``uri`` overrides the store of ``params``."""
        from medseglab.tracking.conventions import tracking_uri
        from medseglab.tracking.runs import ensure_experiment
        from medseglab.tracking.store import open_client

        uri = uri or tracking_uri(params)
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
def global_uris(uri: str):
    """MLflow's process-global tracking and registry URIs set to ``uri`` inside (``models:/`` loading
    and the fluent ``log_model`` read them), then put back as they were: the globals and the
    ``MLFLOW_TRACKING_URI`` / ``MLFLOW_REGISTRY_URI`` variables, which MLflow's setters also write and
    never clear. A registry URI left behind would send a later subprocess's registrations elsewhere."""
    import mlflow

    env_before = {name: os.environ.get(name) for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    uri_before = mlflow.get_tracking_uri() if mlflow.tracking.is_tracking_uri_set() else None
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_registry_uri(None)  # back to "follow the tracking URI" (or the variable, restored below)
        mlflow.set_tracking_uri(uri_before)  # None: back to "not set"
        for name, value in env_before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def ended_run(client, run_id: str):
    """End ``run_id`` when the block ends: FINISHED when it completes, KILLED on KeyboardInterrupt (Ctrl-C,
    and the SIGTERM handler's), FAILED on any other exception, which propagates."""
    status = "FAILED"
    try:
        yield
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        client.set_terminated(run_id, status=status)


@contextlib.contextmanager
def fluent_run(uri: str, run_id: str):
    """Make ``run_id`` MLflow's active run on ``uri`` for the calls inside (``mlflow.keras.log_model``
    has no client form), with the global URIs set only meanwhile (:func:`global_uris`).

    The run stays RUNNING: its caller sets the final status with the client.
    """
    import mlflow

    with global_uris(uri):
        mlflow.start_run(run_id=run_id)
        try:
            yield
        finally:
            mlflow.end_run("RUNNING")
