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
from mlflow.tracking import MlflowClient

from medseglab.tracking import conventions as C

UNFINISHED = ("RUNNING", "FAILED", "KILLED", "SCHEDULED")


def _user_error(message: str) -> Exception:
    from medseglab.errors import UserError

    return UserError(message)


def open_client(params: dict | None = None) -> MlflowClient:
    """Point MLflow at the project's tracking URI and return a client for it."""
    uri = C.tracking_uri(params)
    mlflow.set_tracking_uri(uri)
    return MlflowClient(tracking_uri=uri)


def ensure_experiment(client: MlflowClient, dataset: str, params: dict | None = None) -> str:
    """The id of experiment ``medseglab/<dataset>``; created with artifacts in ``<root>/<dataset>``.

    The artifact root (params ``tracking.artifact_root``, default ``mlartifacts``) is resolved
    against the current directory once, at creation, and stored as an absolute file URI.
    """
    name = C.experiment_name(dataset)
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            client.restore_experiment(exp.experiment_id)
        return exp.experiment_id
    root = Path(C.artifact_root(params))
    location = (root / dataset).resolve().as_uri() if "://" not in str(root) else f"{root}/{dataset}"
    return client.create_experiment(name, artifact_location=location)


def _search(client: MlflowClient, experiment_id: str, tags: dict) -> list[Run]:
    return client.search_runs(
        [experiment_id], filter_string=C.tag_filter(tags), order_by=["attributes.start_time DESC"],
        max_results=1000,
    )


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


def _proc_start(pid: int) -> str | None:
    """Start time of a process (clock ticks since boot), or None where /proc has no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()[19]


def process_tags() -> dict[str, str]:
    pid = os.getpid()
    return {C.PID: str(pid), C.HOST: socket.gethostname(), C.PROC_START: _proc_start(pid) or ""}


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
    start = _proc_start(pid)
    if start is None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not tags.get(C.PROC_START)
    return start == tags.get(C.PROC_START, start)


def mark_dead(client: MlflowClient, run: Run) -> None:
    """Mark a RUNNING run whose process is gone as KILLED."""
    if run.info.status == "RUNNING":
        client.set_terminated(run.info.run_id, status=RunStatus.to_string(RunStatus.KILLED))


# --- reading studies: the API other packages use ------------------------------------------


def find_study(dataset: str, run_id: str | None = None, params: dict | None = None) -> Run:
    """A study's parent run: ``run_id`` if given, else the newest finished study of ``dataset``."""
    client = open_client(params)
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
            f"no finished study of dataset {dataset!r} in {mlflow.get_tracking_uri()}; "
            f"run `medseglab study --dataset {dataset}` first (or set MLFLOW_TRACKING_URI)"
        )
    return runs[0]


def _read_artifact(run_id: str, path: str, read):
    """``read(local_path)`` of one run artifact, downloaded into a temporary folder that is then removed
    (a study reads hundreds of artifacts: none may pile up in /tmp)."""
    with tempfile.TemporaryDirectory(prefix="medseglab-") as dst:
        local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, dst_path=dst)
        return read(Path(local))


def study_table(run_id: str) -> pd.DataFrame:
    """The per-image table of a study (all its trainings), from the parent's artifact."""
    return _read_artifact(run_id, "study/per_image.parquet", pd.read_parquet)


def study_children(run_id: str) -> pd.DataFrame:
    """One row per training of a study: key columns, ``run_id``, ``status``.

    Reads ``study/runs.csv`` when the study has finished; else searches child runs by tag."""
    client = MlflowClient()
    try:
        return _read_artifact(run_id, "study/runs.csv", lambda p: pd.read_csv(p, dtype={"run_id": str}))
    except Exception:  # noqa: BLE001 - artifact absent while the study runs: fall back to tags
        pass
    parent = client.get_run(run_id)
    runs = client.search_runs(
        [parent.info.experiment_id], filter_string=C.tag_filter({C.PARENT: run_id, C.KIND: "training"}),
        max_results=5000,
    )
    rows = []
    for run in runs:
        tags = run.data.tags
        rows.append({"dataset": tags.get(C.DATASET), "init": tags.get(C.INIT), "split": int(tags.get(C.SPLIT, -1)),
                     "ratio": int(tags.get(C.RATIO, -1)), "repeat": int(tags.get(C.REPEAT, -1)),
                     "key": tags.get(C.KEY), "run_id": run.info.run_id, "status": run.info.status})
    cols = ["dataset", "init", "split", "ratio", "repeat", "key", "run_id", "status"]
    return pd.DataFrame(rows, columns=cols).sort_values(["init", "split", "ratio", "repeat"]).reset_index(drop=True)


def training_table(run_id: str) -> pd.DataFrame:
    """The per-image table of one training."""
    return _read_artifact(run_id, "evaluation/per_image.parquet", pd.read_parquet)


def load_probabilities(run_id: str) -> tuple[np.ndarray, np.ndarray]:
    """(image_ids, class-1 probability float32 N x H x W in [0, 1]) of one training's test set."""
    from medseglab.evaluation.probabilities import load_probabilities as load

    return _read_artifact(run_id, "evaluation/probabilities.npz", load)


def load_model(run_id: str):
    """The trained Keras model of one training (MLflow Keras flavour, artifact ``model``)."""
    import mlflow.keras

    import medseglab.models.saving  # noqa: F401  (registers the VGG-UNet's custom layers and metrics)

    return mlflow.keras.load_model(f"runs:/{run_id}/model")
