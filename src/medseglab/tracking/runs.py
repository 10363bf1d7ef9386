"""Finding and reading medseglab runs in MLflow: experiments, trainings by key, studies, their tables."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import Run, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from medseglab.procs import identity, pid_alive
from medseglab.tracking import conventions as C
from medseglab.tracking.store import check_writable, file_path, open_client

__all__ = ["open_client"]  # re-exported here for older imports; the factory lives in tracking.store

UNFINISHED = ("RUNNING", "FAILED", "KILLED", "SCHEDULED")
# Runs fetched per search request; every search pages through all of them (a test lowers it).
PAGE_SIZE = 1000
# Readers show one medseglab bar per stage, not MLflow's bar per downloaded artifact (a user's own value wins).
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _user_error(message: str) -> Exception:
    from medseglab.errors import UserError

    return UserError(message)


def _client(uri: str | None) -> MlflowClient:
    """A client of ``uri``, default the project's (``MLFLOW_TRACKING_URI`` or ``sqlite:///mlflow.db``)."""
    return open_client(uri=uri)


def ensure_experiment(client: MlflowClient, dataset: str, params: dict | None = None, *,
                      for_writing: bool = False) -> str:
    """The id of experiment ``medseglab/<dataset>``; created with artifacts in ``<root>/<dataset>``
    (through a tracking server, unless the root is a URI: where the server puts them, ``mlflow-artifacts:/``).

    The artifact root (params ``tracking.artifact_root``, default ``mlartifacts``) is resolved
    against the current directory once, at creation, and stored as an absolute file URI.
    Processes that create it at the same time all get the one experiment. ``for_writing``: also
    check that a local artifact location can be written (TrackingError naming the folder if not).
    """
    name = C.experiment_name(dataset)
    exp = client.get_experiment_by_name(name)
    if exp is None:
        root = Path(C.artifact_root(params))
        location = (root / dataset).resolve().as_uri() if "://" not in str(root) else f"{root}/{dataset}"
        if is_server_uri(client.tracking_uri) and "://" not in str(C.artifact_root(params)):
            # A tracking server picks the location (mlflow-artifacts:/..., proxied by --serve-artifacts):
            # a path on this machine would be written by every client to its own disk.
            location = None
        if for_writing and location is not None:
            check_writable(location)
        try:
            return client.create_experiment(name, artifact_location=location)
        except MlflowException:
            exp = client.get_experiment_by_name(name)  # another process created it meanwhile
            if exp is None:
                raise
    if exp.lifecycle_stage == "deleted":
        client.restore_experiment(exp.experiment_id)
    if for_writing:
        check_writable(exp.artifact_location)
    return exp.experiment_id


def is_server_uri(uri: str | None) -> bool:
    """Whether ``uri`` is a tracking server (http/https), not a local SQLite or file store."""
    return str(uri or "").lower().startswith(("http://", "https://"))


def search_all(client: MlflowClient, experiment_ids: list[str], filter_string: str = "",
               order_by: list[str] | None = None) -> list[Run]:
    """Every run matching ``filter_string``, fetched ``PAGE_SIZE`` at a time through all pages
    (one ``search_runs`` call stops at its ``max_results``; a paper study has more runs)."""
    runs: list[Run] = []
    token = None
    while True:
        page = client.search_runs(experiment_ids, filter_string=filter_string, order_by=order_by,
                                  max_results=PAGE_SIZE, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _search(client: MlflowClient, experiment_id: str, tags: dict) -> list[Run]:
    return search_all(client, [experiment_id], C.tag_filter(tags), ["attributes.start_time DESC"])


def find_trainings(
    client: MlflowClient, experiment_id: str, key: C.TrainingKey, cfg_hash: str, data_hash: str, splits_hash: str
) -> list[Run]:
    """Runs of one training (same key, config, data and splits), newest first."""
    tags = {C.KIND: "training", C.KEY: key.name, C.CONFIG_HASH: cfg_hash, C.DATA_HASH: data_hash,
            C.SPLITS_HASH: splits_hash}
    return _search(client, experiment_id, tags)


def find_study_parent(client: MlflowClient, experiment_id: str, dataset: str, cfg_hash: str) -> Run | None:
    """The study run to reuse for this config: the newest unfinished one (check `is_alive` before
    reusing it), else the newest finished one, else None."""
    runs = _search(client, experiment_id, {C.KIND: "study", C.DATASET: dataset, C.CONFIG_HASH: cfg_hash})
    unfinished = [r for r in runs if r.info.status != "FINISHED"]
    finished = [r for r in runs if r.info.status == "FINISHED"]
    return (unfinished or finished or [None])[0]


def process_tags() -> dict[str, str]:
    """The process that runs a run: pid, host and start (to tell a dead RUNNING run), and where it runs:
    code commit, package versions, machine, accelerator (``tracking.environment``, for the study report)."""
    from medseglab.tracking.environment import environment_tags

    me = identity()
    return {**environment_tags(), C.PID: me["pid"], C.HOST: me["host"], C.PROC_START: me["start"]}


def is_alive(run: Run) -> bool:
    """Whether a RUNNING run's process still lives. A run from another host counts as alive
    (we cannot tell); one whose process is gone or whose pid now names another process is dead."""
    if run.info.status != "RUNNING":
        return False
    tags = run.data.tags
    if not tags.get(C.PID) or not tags.get(C.HOST):
        return False  # no medseglab process owns it (e.g. an outer run left open)
    if tags[C.HOST] != socket.gethostname():
        return True
    pid = int(tags[C.PID])
    if pid == os.getpid():
        return False  # this process: a run it left open earlier (e.g. after an exception in a test)
    return pid_alive(pid, tags.get(C.PROC_START))


def mark_dead(client: MlflowClient, run: Run) -> None:
    """Mark a RUNNING run whose process is gone as KILLED."""
    if run.info.status == "RUNNING":
        client.set_terminated(run.info.run_id, status=RunStatus.to_string(RunStatus.KILLED))


# --- reading studies: the API other packages (and the dashboard) use ---------------------
# Every reader takes ``uri`` (default: ``MLFLOW_TRACKING_URI`` or params' ``tracking.uri`` default).


def get_run(run_id: str, *, uri: str | None = None) -> Run:
    """One run (info, params, metrics, tags); TrackingError-free: MLflow's error names a missing id."""
    return _client(uri).get_run(run_id)


def list_datasets(*, uri: str | None = None) -> list[str]:
    """The datasets that have a ``medseglab/<dataset>`` experiment, sorted."""
    prefix = C.experiment_name("")
    exps = _client(uri).search_experiments(filter_string=f"name LIKE '{prefix}%'")
    return sorted(e.name[len(prefix):] for e in exps if e.name.startswith(prefix))


def list_studies(dataset: str | None = None, *, uri: str | None = None, finished_only: bool = False) -> list[Run]:
    """The study parent runs of ``dataset`` (all datasets when None), newest first, all pages."""
    client = _client(uri)
    names = [C.experiment_name(dataset)] if dataset else [C.experiment_name(d) for d in list_datasets(uri=uri)]
    exp_ids = [e.experiment_id for e in (client.get_experiment_by_name(n) for n in names) if e is not None]
    if not exp_ids:
        return []
    where = C.tag_filter({C.KIND: "study"}) + (" and attributes.status = 'FINISHED'" if finished_only else "")
    return search_all(client, exp_ids, where, ["attributes.start_time DESC"])


def find_study(dataset: str, run_id: str | None = None, params: dict | None = None, *, uri: str | None = None) -> Run:
    """A study's parent run: ``run_id`` if given, else the newest finished study of ``dataset``."""
    uri = uri or C.tracking_uri(params)
    client = _client(uri)
    if run_id:
        run = client.get_run(run_id)
        if run.data.tags.get(C.KIND) != "study":
            raise _user_error(f"run {run_id} is not a medseglab study run (tag {C.KIND}="
                              f"{run.data.tags.get(C.KIND)!r}); pass the parent run id of a study")
        return run
    exp = client.get_experiment_by_name(C.experiment_name(dataset))
    runs = [] if exp is None else client.search_runs(
        [exp.experiment_id], filter_string=C.tag_filter({C.KIND: "study"}) + " and attributes.status = 'FINISHED'",
        order_by=["attributes.end_time DESC"], max_results=1,
    )
    if not runs:
        raise _user_error(
            f"no finished study of dataset {dataset!r} in {uri}; "
            f"run `medseglab study --dataset {dataset}` first (or set MLFLOW_TRACKING_URI)"
        )
    return runs[0]


def read_artifact(run_id: str, path: str, read, *, uri: str | None = None):
    """``read(local_path)`` of one run artifact (file or folder), downloaded into a temporary folder
    that is then removed (a study reads hundreds of artifacts: none may pile up in /tmp)."""
    uri = uri or C.tracking_uri()
    with tempfile.TemporaryDirectory(prefix="medseglab-") as dst:
        local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, dst_path=dst, tracking_uri=uri)
        return read(Path(local))


_read_artifact = read_artifact  # older name


def list_artifacts(run_id: str, path: str | None = None, *, uri: str | None = None) -> list[str]:
    """Paths of a run's artifacts directly under ``path`` (the root when None)."""
    return [a.path for a in _client(uri).list_artifacts(run_id, path)]


def study_table(run_id: str, *, uri: str | None = None) -> pd.DataFrame:
    """The per-image table of a study (all its trainings), from the parent's artifact."""
    return read_artifact(run_id, "study/per_image.parquet", pd.read_parquet, uri=uri)


def study_children(run_id: str, *, uri: str | None = None) -> pd.DataFrame:
    """One row per training of a study: key columns, ``run_id``, ``status``.

    Reads ``study/runs.csv`` when the study has finished; else searches child runs by tag (all pages)."""
    client = _client(uri)
    try:
        return read_artifact(run_id, "study/runs.csv", lambda p: pd.read_csv(p, dtype={"run_id": str}), uri=uri)
    except Exception:  # noqa: BLE001 - artifact absent while the study runs: fall back to tags
        pass
    parent = client.get_run(run_id)
    runs = search_all(client, [parent.info.experiment_id], C.tag_filter({C.PARENT: run_id, C.KIND: "training"}))
    rows = []
    for run in runs:
        tags = run.data.tags
        rows.append({"dataset": tags.get(C.DATASET), "init": tags.get(C.INIT), "split": int(tags.get(C.SPLIT, -1)),
                     "ratio": int(tags.get(C.RATIO, -1)), "repeat": int(tags.get(C.REPEAT, -1)),
                     "key": tags.get(C.KEY), "run_id": run.info.run_id, "status": run.info.status})
    cols = ["dataset", "init", "split", "ratio", "repeat", "key", "run_id", "status"]
    return pd.DataFrame(rows, columns=cols).sort_values(["init", "split", "ratio", "repeat"]).reset_index(drop=True)


def training_table(run_id: str, *, uri: str | None = None) -> pd.DataFrame:
    """The per-image table of one training."""
    return read_artifact(run_id, "evaluation/per_image.parquet", pd.read_parquet, uri=uri)


def load_probabilities(run_id: str, *, uri: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(image_ids, class-1 probability float32 N x H x W in [0, 1]) of one training's test set."""
    from medseglab.evaluation.probabilities import load_probabilities as load

    return read_artifact(run_id, "evaluation/probabilities.npz", load, uri=uri)


def load_model(run_id: str, *, uri: str | None = None):
    """The trained Keras model of one training (MLflow Keras flavour, artifact ``model``).

    Downloaded with an explicit tracking URI (``runs:/<id>/model`` also finds MLflow 3's logged
    models kept beside the run), then loaded from the local copy."""
    import mlflow.keras

    import medseglab.models.saving  # noqa: F401  (registers the VGG-UNet's custom layers and metrics)

    uri = uri or C.tracking_uri()
    with tempfile.TemporaryDirectory(prefix="medseglab-model-") as dst:
        local = mlflow.artifacts.download_artifacts(artifact_uri=f"runs:/{run_id}/model", dst_path=dst,
                                                    tracking_uri=uri)
        return mlflow.keras.load_model(local)


def delete_artifacts(client: MlflowClient, run_id: str, path: str) -> bool:
    """Remove a run's artifact folder ``path`` where the artifact store is a local folder (True);
    MLflow has no public delete, so other stores keep it (False)."""
    import shutil

    folder = file_path(client.get_run(run_id).info.artifact_uri)
    if folder is None:
        return False
    target = (folder / path).resolve()
    if folder.resolve() not in target.parents:
        raise ValueError(f"artifact path {path!r} leaves the run's artifact folder")
    shutil.rmtree(target, ignore_errors=True)
    return True
