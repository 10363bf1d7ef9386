"""A study: every training of a profile's grid as child runs of one parent MLflow run.

The parent (tag ``medseglab.kind=study``, name ``study-<dataset>-<profile>-<config_hash>``) is
reused when the same config is launched again; finished trainings are skipped, killed ones
resume. At the end the parent holds ``study/per_image.parquet`` and ``study/runs.csv`` and the
median Dice per init; ``results/<dataset>/`` gets the same table and ``study.json`` for DVC.

The executor (params ``executor``) decides where the trainings run: ``local`` in this process, one
after the other; ``ray`` as one Ray task per training (``medseglab.study.ray_executor``). Either way
this process owns the parent run and the bookkeeping.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import sys
import time
from pathlib import Path

import pandas as pd

from medseglab.config import flatten
from medseglab.io import temp_dir, write_csv, write_json, write_parquet
from medseglab.progress import bar
from medseglab.tracking import conventions as C

RESULTS_BASE = Path("results")
RUNS_COLUMNS = ["dataset", "init", "split", "ratio", "repeat", "key", "run_id", "status"]
EXECUTORS = ("local", "ray")


@dataclasses.dataclass
class StudyResult:
    parent_run_id: str
    experiment_id: str
    table: pd.DataFrame          # the per-study per-image table
    runs: pd.DataFrame           # one row per training (RUNS_COLUMNS)
    summary: dict                # the parent's summary metrics
    results_dir: Path


def _say(message: str) -> None:
    print(f"medseglab: {message}", file=sys.stderr, flush=True)


def executor_of(params: dict) -> str:
    """params ``executor`` (default local), checked."""
    from medseglab.config import ConfigError

    executor = str(params.get("executor") or "local")
    if executor not in EXECUTORS:
        raise ConfigError(f"executor: {executor!r} is not one of {list(EXECUTORS)}; set it in params.yaml "
                          "or pass --executor local|ray")
    return executor


def run_study(params: dict, dataset: str, profile: str | None = None, source: str | None = None,
              format: str | None = None, *, launcher=None, results_base: str | Path = RESULTS_BASE,
              callbacks_for=None) -> StudyResult:
    """Run (or finish) the study of ``dataset`` under ``profile`` and return its tables.

    ``launcher``: an outer `mlflow run` run (`medseglab.study.launcher.Launcher`), see there.
    ``callbacks_for(key)``: extra Keras callbacks for one training (tests use it to simulate a kill;
    with the Ray executor they must pickle).
    """
    from medseglab.study.inputs import ensure_prepared_dataset, ensure_splits, study_config
    from medseglab.tracking.session import Tracking

    executor = executor_of(params)
    cfg = study_config(params, dataset, profile, source, format)
    prepared = ensure_prepared_dataset(cfg)
    splits, splits_dir = ensure_splits(cfg, prepared)
    tracking = Tracking.open(params, dataset, profile=cfg["profile"])
    store_uri = tracking.uri  # what study.json records, even when the trainings write through a loopback server
    with contextlib.ExitStack() as stack:
        if executor == "ray":
            from medseglab.study.ray_executor import tracking_for_workers

            tracking = stack.enter_context(tracking_for_workers(tracking, params))
        return _run(params, cfg, prepared, splits, splits_dir, tracking, store_uri, executor, launcher,
                    Path(results_base), callbacks_for)


def _run(params, cfg, prepared, splits, splits_dir, tracking, store_uri, executor, launcher, results_base,
         callbacks_for) -> StudyResult:
    from medseglab.study.inputs import grid
    from medseglab.study.launcher import link
    from medseglab.tracking.session import ended_run

    dataset = cfg["name"]
    client = tracking.client
    study_hash = C.study_config_hash(cfg)
    hashes = {C.CONFIG_HASH: study_hash, C.DATA_HASH: str(prepared.info["content_hash"]),
              C.SPLITS_HASH: _splits_hash(splits)}
    parent_id = _open_parent(client, tracking.experiment_id, cfg, hashes, launcher)
    link(client, launcher, parent_id, "study")
    tracking.parent_run_id = parent_id
    keys = grid(cfg)
    _say(f"study {dataset} ({cfg['profile']}): {len(keys)} trainings ({executor} executor), parent run "
         f"{parent_id} in experiment {C.experiment_name(dataset)}")

    from medseglab.tracking.runs import training_table

    # A launcher parent is closed again by `mlflow run` afterwards; ending it here too is harmless.
    with ended_run(client, parent_id):
        with bar(total=len(keys), desc=f"study {dataset}", unit="training") as progress:
            if executor == "ray":
                from medseglab.study.ray_executor import run_on_ray

                results = run_on_ray(params, cfg, keys, prepared, splits, splits_dir, tracking, progress, callbacks_for)
            else:
                results = _run_here(cfg, keys, prepared, splits, tracking, progress, callbacks_for)
        rows, tables = [], []
        for key, result in zip(keys, results):
            tables.append(result.table if result.table is not None else training_table(result.run_id, uri=tracking.uri))
            rows.append({"dataset": key.dataset, "init": key.init, "split": key.split, "ratio": key.ratio,
                         "repeat": key.repeat, "key": key.name, "run_id": result.run_id, "status": result.status})
        table = pd.concat(tables, ignore_index=True)
        runs = pd.DataFrame(rows, columns=RUNS_COLUMNS)
        summary = study_summary(table)
        results_dir = _write_outputs(client, store_uri, parent_id, tracking.experiment_id, cfg, study_hash, table,
                                     runs, summary, results_base, splits_dir)
        client.log_batch(parent_id, metrics=_metrics(summary))
        if launcher is not None and launcher.run_id != parent_id:
            client.log_batch(launcher.run_id, metrics=_metrics(summary))
    _say(f"study {dataset} done: " + ", ".join(f"{k} {v:.4f}" for k, v in summary.items() if k.startswith("dice_median")))
    return StudyResult(parent_id, tracking.experiment_id, table, runs, summary, results_dir)


def _run_here(cfg, keys, prepared, splits, tracking, progress, callbacks_for) -> list:
    """The local executor: every training in this process, in the grid's order."""
    from medseglab.training.train import train_one

    results = []
    for key in keys:
        progress.set_postfix_str(key.name)
        extra = tuple(callbacks_for(key)) if callbacks_for else ()
        results.append(train_one(cfg, key, prepared, splits, tracking=tracking, callbacks=extra))
        gc.collect()
        progress.update(1)
    return results


def _splits_hash(splits) -> str:
    from medseglab.splits import splits_hash

    return splits_hash(splits)


def _open_parent(client, experiment_id: str, cfg: dict, hashes: dict, launcher) -> str:
    """The parent run id: the launcher when it is in our experiment, else the reusable study run of
    this config, else a new one. It is (re)marked RUNNING and tagged with this process."""
    from medseglab.tracking.runs import find_study_parent, is_alive, process_tags

    tags = {C.KIND: "study", C.DATASET: cfg["name"], C.PROFILE: cfg["profile"], **hashes}
    name = C.study_run_name(cfg["name"], cfg["profile"], hashes[C.CONFIG_HASH])
    if launcher is not None and launcher.same_experiment(experiment_id):
        run_id = launcher.run_id
        client.update_run(run_id, name=name)
    else:
        found = find_study_parent(client, experiment_id, cfg["name"], hashes[C.CONFIG_HASH])
        if found is not None and is_alive(found):
            from medseglab.errors import UserError

            raise UserError(f"study run {found.info.run_id} of this config is running in process "
                            f"{found.data.tags.get(C.PID)}; wait for it or stop it and launch again")
        if found is None:
            run_id = client.create_run(experiment_id, run_name=name, tags=tags).info.run_id
        else:
            run_id = found.info.run_id
            _say(f"reusing study run {run_id} ({found.info.status}) of the same config")
            client.update_run(run_id, status="RUNNING")
    for key, value in {**tags, **process_tags()}.items():
        client.set_tag(run_id, key, value)
    existing = client.get_run(run_id).data.params
    from mlflow.entities import Param

    params = [Param(k, v) for k, v in C.mlflow_params(cfg).items() if k not in existing]
    for start in range(0, len(params), 100):
        client.log_batch(run_id, params=params[start:start + 100])
    return run_id


def study_summary(table: pd.DataFrame) -> dict[str, float]:
    """Median (and mean) per-image test Dice per init over all trainings, and image counts."""
    summary: dict[str, float] = {}
    for init, part in table.groupby("init"):
        dice = part["dice"].dropna()
        summary[f"dice_median_{init}"] = float(dice.median()) if len(dice) else float("nan")
        summary[f"dice_mean_{init}"] = float(dice.mean()) if len(dice) else float("nan")
        summary[f"n_rows_{init}"] = float(len(part))
    summary["n_trainings"] = float(table["run_id"].nunique())
    return summary


def _metrics(summary: dict):
    import math

    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    return [Metric(k, float(v), now, 0) for k, v in summary.items() if not math.isnan(float(v))]


# Logged on the parent under splits/: labels per split and subset, and the test sets' overlap (Table S2).
SPLIT_TABLES = ("split_report.csv", "split_overlap.csv")


def _write_outputs(client, uri, parent_id, experiment_id, cfg, study_hash, table, runs, summary, results_base: Path,
                   splits_dir: Path) -> Path:
    with temp_dir() as tmp:  # plain modes, not tempfile's 0700, whatever copies the staged files into the store
        write_parquet(tmp / "per_image.parquet", table)
        write_csv(tmp / "runs.csv", runs)
        client.log_artifacts(parent_id, str(tmp), "study")
    # The split tables travel with the study, so the dashboard shows its splits from MLflow alone.
    for name in SPLIT_TABLES:
        if (Path(splits_dir) / name).is_file():
            client.log_artifact(parent_id, str(Path(splits_dir) / name), "splits")
    out = results_base / cfg["name"]
    write_parquet(out / "per_image.parquet", table)
    write_json(out / "study.json", {
        "parent_run_id": parent_id,
        "experiment_id": experiment_id,
        "experiment_name": C.experiment_name(cfg["name"]),
        "tracking_uri": uri,
        "profile": cfg["profile"],
        "config_hash": study_hash,
        "dataset": cfg["name"],
        "n_trainings": int(len(runs)),
        "splits_dir": str(splits_dir),
        "summary": summary,
        "flat_config": {k: v for k, v in flatten(cfg).items()},
    })
    return out
