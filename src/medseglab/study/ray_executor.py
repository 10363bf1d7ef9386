"""The grid on Ray: one Ray task per training key (params ``executor: ray``, docs/SCALING.md).

The driver (`medseglab.study.study.run_study`) keeps the parent run and the bookkeeping; here it

1. skips keys already FINISHED in MLflow (same key, config, data and splits hashes) without
   starting a task;
2. pushes the study's prepared dataset and split table to the DVC remote (`medseglab.study.share`);
3. submits every other key as a task (``ray.cpus_per_training`` CPUs, ``ray.gpus_per_training``
   GPUs, retried ``ray.max_retries`` times when its worker dies) and shows a progress bar as they end.

A task (:func:`train_task`) runs `train_one` against the tracking server URI, in the node's
checkout of the project, with the inputs found or pulled there. Its run carries the tag
``medseglab.task`` (launch id + key); a retried task finds the RUNNING run its dead attempt left
under that tag and resumes it, so a key never gets a second run.

Trainings on Ray write through a tracking server: the project's local SQLite store is served on
127.0.0.1 for the study's duration (:func:`tracking_for_workers`), which only this machine's nodes
reach; a cluster with other machines needs ``MLFLOW_TRACKING_URI`` of a real server.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import uuid
from pathlib import Path

from medseglab.errors import ConfigError, UserError
from medseglab.tracking import conventions as C

DEFAULTS = {"address": None, "cpus_per_training": 1, "gpus_per_training": 0, "max_retries": 3, "project_dir": None}


def settings(params: dict) -> dict:
    """params ``ray:`` with defaults, checked."""
    out = {**DEFAULTS, **{k: v for k, v in (params.get("ray") or {}).items() if v is not None}}
    for key in ("cpus_per_training", "gpus_per_training"):
        try:
            out[key] = float(out[key])
        except (TypeError, ValueError):
            raise ConfigError(f"ray.{key}: {out[key]!r} is not a number; give e.g. 1 (or 0.5 to share)") from None
        if out[key] < 0:
            raise ConfigError(f"ray.{key}: {out[key]} is negative; give 0 or more")
    try:
        out["max_retries"] = int(out["max_retries"])
    except (TypeError, ValueError):
        raise ConfigError(f"ray.max_retries: {out['max_retries']!r} is not a whole number; give e.g. 3") from None
    return out


def _say(message: str) -> None:
    print(f"medseglab: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def tracking_for_workers(tracking, params: dict):
    """``tracking`` itself when it is a tracking server; else the same experiment through a loopback
    `mlflow server` over the local store, for as long as the block runs."""
    from medseglab.tracking.runs import is_server_uri
    from medseglab.tracking.server import loopback_server
    from medseglab.tracking.store import open_client

    if is_server_uri(tracking.uri):
        yield tracking
        return
    with loopback_server(tracking.uri, C.artifact_root(params)) as url:
        _say(f"trainings write through a loopback MLflow server {url} over {tracking.uri} (stopped at the end)")
        yield dataclasses.replace(tracking, client=open_client(uri=url), uri=url)


@contextlib.contextmanager
def connected(address: str | None):
    """This process connected to the Ray cluster at ``address`` (None: what ``ray.init()`` finds:
    ``RAY_ADDRESS``, a `ray start` cluster of this machine, else a new local Ray); disconnected (a new
    local one stopped) on exit."""
    import ray

    try:
        ray.init(address=address or None, configure_logging=False)
    except ConnectionError as exc:
        raise UserError(f"cannot reach the Ray cluster at {address!r} ({exc}); start it (`ray start --head`) or "
                        "fix --address / params ray.address") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def other_machines(ray) -> list[str]:
    """Addresses of alive Ray nodes that are not this machine."""
    from ray.util import get_node_ip_address

    here = {get_node_ip_address(), "127.0.0.1", "localhost"}
    return sorted({n["NodeManagerAddress"] for n in ray.nodes() if n.get("Alive")} - here)


def check_cluster(others: list[str], tracking, dataset: str) -> None:
    """Nodes on other machines (``others``) need a tracking server they can reach and artifacts they can write."""
    from urllib.parse import urlparse

    if not others:
        return
    host = urlparse(str(tracking.uri)).hostname or ""
    if host in ("", "127.0.0.1", "localhost", "::1"):
        raise ConfigError(
            f"the Ray cluster has nodes on other machines ({', '.join(others)}) and the trainings would write to "
            f"{tracking.uri} (this machine's store): run an MLflow server (PostgreSQL + S3/MinIO artifacts, "
            "deploy/mlflow, docs/SCALING.md) and set MLFLOW_TRACKING_URI=http://HOST:5000")
    location = str(tracking.client.get_experiment(tracking.experiment_id).artifact_location)
    if location.startswith("file:"):
        raise ConfigError(
            f"experiment {C.experiment_name(dataset)} keeps its artifacts in {location}, a folder that the nodes on "
            f"{', '.join(others)} do not have: create it through the server (a fresh server store, or params "
            "tracking.artifact_root=s3://...)")


@dataclasses.dataclass
class TaskResult:
    """What `run_study` needs of a training (as `training.train.TrainingResult`), and where it ran."""

    run_id: str
    status: str
    node: str = ""
    pid: int = 0
    pulled: tuple = ()
    data_hash: str = ""
    table: object = None


def run_on_ray(params: dict, cfg: dict, keys: list, prepared, splits, splits_dir, tracking, progress,
               callbacks_for=None) -> list[TaskResult]:
    """Every key of ``keys`` trained (or found finished); results in the order of ``keys``."""
    from medseglab.splits import splits_hash
    from medseglab.study import share
    from medseglab.tracking.runs import find_trainings

    conf = settings(params)
    hashes = (C.training_config_hash(cfg), str(prepared.info["content_hash"]), splits_hash(splits))
    results: dict = {}
    for key in keys:
        done = [r for r in find_trainings(tracking.client, tracking.experiment_id, key, *hashes)
                if r.info.status == "FINISHED"]
        if done:
            results[key] = TaskResult(done[0].info.run_id, "skipped")
            progress.update(1)
    todo = [key for key in keys if key not in results]
    if todo:
        _say(f"{len(keys) - len(todo)} trainings already finished; {len(todo)} go to Ray")
        with connected(conf["address"]) as ray:
            others = other_machines(ray)
            check_cluster(others, tracking, cfg["name"])
            share.check_remote_reachable(share.remote_settings(params, Path.cwd()), bool(others))
            shared = share.push_inputs(params, prepared.root, splits_dir, cfg["name"])
            results.update(_submit(ray, conf, cfg, todo, tracking, shared, progress, callbacks_for))
    return [results[key] for key in keys]


def _submit(ray, conf: dict, cfg: dict, keys: list, tracking, shared, progress, callbacks_for) -> dict:
    task = ray.remote(train_task).options(num_cpus=conf["cpus_per_training"], num_gpus=conf["gpus_per_training"],
                                          max_retries=conf["max_retries"], name="medseglab-training")
    launch = uuid.uuid4().hex[:12]
    pending = {}
    for key in keys:
        payload = {
            "cfg": cfg, "key": tuple(key), "uri": tracking.uri, "experiment_id": tracking.experiment_id,
            "parent_run_id": tracking.parent_run_id, "profile": tracking.profile,
            "keep_checkpoints": tracking.keep_checkpoints, "checkpoint_root": str(tracking.checkpoint_root),
            "task": f"{launch}/{key.name}", "shared": shared, "project_dir": conf["project_dir"],
            "callbacks": tuple(callbacks_for(key)) if callbacks_for else (),
        }
        pending[task.remote(payload)] = key
    results = {}
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                key = pending.pop(ref)
                try:
                    results[key] = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - RayTaskError wraps the task's own error; worker losses too
                    cause = getattr(exc, "cause", None) or exc
                    if isinstance(cause, UserError):
                        raise type(cause)(f"{key.name}: {cause}") from None
                    first = str(cause).strip().splitlines()[-1] if str(cause).strip() else type(cause).__name__
                    raise UserError(f"{key.name} failed on Ray ({type(cause).__name__}: {first[:300]}); fix it and "
                                    "launch the study again: finished trainings are kept, this one resumes") from exc
                got = results[key]
                _say(f"{key.name}: {got.status} in run {got.run_id} on Ray node {got.node[:12]} (pid {got.pid}"
                     + (f"; pulled {', '.join(got.pulled)} from the DVC remote)" if got.pulled else ")"))
                progress.set_postfix_str(key.name)
                progress.update(1)
    finally:
        for ref in pending:  # a failure stops the study: the trainings still queued or running are cancelled
            ray.cancel(ref, force=True)
    return results


def train_task(payload: dict) -> TaskResult:
    """One training in a Ray worker: the node's project checkout, its inputs (pulled when missing),
    `train_one` against the tracking server."""
    os.environ["MEDSEGLAB_NO_PROGRESS"] = "1"  # the driver shows the study's bar; workers' bars would garble it
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    project = Path(payload["project_dir"] or os.getcwd())
    os.chdir(project)  # checkpoints/ and the DVC pointers are relative to the checkout

    import ray

    from medseglab.data import load_prepared
    from medseglab.splits import load_splits
    from medseglab.study import share
    from medseglab.tracking.session import Tracking
    from medseglab.tracking.store import open_client
    from medseglab.training.train import train_one

    prepared_dir, splits_dir, pulled = share.fetch(payload["shared"], project)
    prepared = load_prepared(prepared_dir)
    tracking = Tracking(client=open_client(uri=payload["uri"]), experiment_id=payload["experiment_id"],
                        parent_run_id=payload["parent_run_id"], profile=payload["profile"],
                        keep_checkpoints=payload["keep_checkpoints"], checkpoint_root=Path(payload["checkpoint_root"]),
                        uri=payload["uri"], task=payload["task"])
    result = train_one(payload["cfg"], C.TrainingKey.make(*payload["key"]), prepared, load_splits(splits_dir),
                       tracking=tracking, callbacks=tuple(payload["callbacks"]))
    return TaskResult(result.run_id, result.status, ray.get_runtime_context().get_node_id(), os.getpid(),
                      tuple(pulled), str(prepared.info["content_hash"]))
