"""One training as one MLflow run: fit with checkpoints, then evaluate the test set.

Checkpoints are saved every ``train.checkpoint_interval_s`` seconds (at an epoch's end) and after
the last epoch, and copied into the artifact store by a background thread that the run waits for
before it ends (docs/TRACKING.md, "Skip and resume").

`train_one` finds the run of its key first (same key, config hash, data and splits hashes):
FINISHED -> nothing to do; RUNNING in a live process -> refuse; RUNNING left by a dead process,
FAILED or KILLED -> resume that same run from its last checkpoint; none -> a new run.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from medseglab.io import temp_dir, write_csv, write_parquet
from medseglab.names import mask_threshold
from medseglab.tracking import conventions as C
from medseglab.tracking.session import Tracking, ended_run, fluent_run  # noqa: F401  (Tracking: older imports)

log = logging.getLogger(__name__)

DEFAULT_PREDICT_BATCH = 8


@dataclasses.dataclass
class TrainingResult:
    key: C.TrainingKey
    run_id: str
    status: str  # "trained" | "resumed" | "skipped"
    epochs_done: int
    table: pd.DataFrame | None = None  # the per-image table (None when skipped: read it from the run)


def _say(message: str) -> None:
    print(f"medseglab: {message}", file=sys.stderr, flush=True)


def train_one(cfg: dict, key, prepared, splits: pd.DataFrame, *, tracking: Tracking,
              callbacks: tuple = (), predict_batch_size: int = DEFAULT_PREDICT_BATCH) -> TrainingResult:
    """Train, evaluate and record one training of the study.

    cfg: the effective config (`config.resolve`); key: a `TrainingKey` or (dataset, init, split,
    ratio, repeat); prepared: a `PreparedDataset`; splits: the split table. ``callbacks`` are extra
    Keras callbacks (run after the checkpoint is saved each epoch).
    """
    from medseglab.errors import UserError
    from medseglab.splits.store import splits_hash, train_test_ids
    from medseglab.tracking.runs import find_trainings, is_alive

    key = key if isinstance(key, C.TrainingKey) else C.TrainingKey.make(*key)
    if key.dataset != cfg.get("name"):
        raise UserError(f"training key {key.name} is for dataset {key.dataset!r} but the config is for {cfg.get('name')!r}")
    hashes = {
        C.CONFIG_HASH: C.training_config_hash(cfg),
        C.DATA_HASH: str(prepared.info["content_hash"]),
        C.SPLITS_HASH: splits_hash(splits),
    }
    client = tracking.client
    runs = find_trainings(client, tracking.experiment_id, key, hashes[C.CONFIG_HASH], hashes[C.DATA_HASH],
                          hashes[C.SPLITS_HASH])
    finished = [r for r in runs if r.info.status == "FINISHED"]
    if finished:
        run = finished[0]
        _say(f"{key.name}: already finished in run {run.info.run_id} (same config {hashes[C.CONFIG_HASH]}); skipped")
        return TrainingResult(key, run.info.run_id, "skipped", int(run.data.tags.get(C.EPOCHS_DONE, cfg["epochs"])))
    # A RUNNING run of this very study task was left by its earlier attempt, whose worker died (Ray retries
    # a task only then), wherever it ran: resumed, not refused.
    alive = [r for r in runs if is_alive(r) and not (tracking.task and r.data.tags.get(C.TASK) == tracking.task)]
    if alive:
        tags = alive[0].data.tags
        raise UserError(
            f"{key.name}: run {alive[0].info.run_id} is being trained by process {tags.get(C.PID)} on "
            f"{tags.get(C.HOST)}; wait for it, or stop that process and launch again to resume"
        )
    resume = runs[0] if runs else None

    train_ids, test_ids = train_test_ids(splits, key.split, key.ratio)
    if not train_ids or not test_ids:
        raise UserError(f"{key.name}: split {key.split} at ratio {key.ratio} has {len(train_ids)} train and "
                        f"{len(test_ids)} test images; use a bigger dataset or another split")
    tags = {C.KIND: "training", C.PROFILE: str(tracking.profile or cfg.get("profile", "")), **key.tags(), **hashes}
    if tracking.parent_run_id:
        tags[C.PARENT] = tracking.parent_run_id
    if tracking.task:
        tags[C.TASK] = tracking.task
    return _run(cfg, key, prepared, train_ids, test_ids, tracking, resume, tags, callbacks, predict_batch_size)


def _start(tracking: Tracking, key: C.TrainingKey, resume, tags: dict) -> str:
    """Create the run (or reopen the one to resume and mark it RUNNING again)."""
    from medseglab.tracking.runs import process_tags

    client = tracking.client
    if resume is None:
        # create_run, not start_run(): start_run would adopt an outer MLFLOW_RUN_ID from the environment.
        run_id = client.create_run(tracking.experiment_id, run_name=key.name, tags={**tags, **process_tags()}).info.run_id
    else:
        run_id = resume.info.run_id
        for name, value in {**tags, **process_tags()}.items():
            client.set_tag(run_id, name, value)
        client.update_run(run_id, status="RUNNING")
    return run_id


def _run(cfg, key, prepared, train_ids, test_ids, tracking, resume, tags, extra_callbacks, predict_batch_size):
    from medseglab.training.upload import BackgroundUpload

    run_id = _start(tracking, key, resume, tags)
    upload = BackgroundUpload(lambda folder: tracking.client.log_artifacts(run_id, str(folder), "checkpoint"),
                              what=f"checkpoint of run {run_id}")
    with ended_run(tracking.client, run_id):
        try:
            result = _train_in_run(cfg, key, prepared, train_ids, test_ids, tracking, run_id, resume is not None,
                                   extra_callbacks, predict_batch_size, upload)
        finally:
            # Before the run ends: a resume elsewhere needs the artifact, and _drop_checkpoints must not
            # race a late upload that would put it back.
            upload.close()
    if not tracking.keep_checkpoints:
        _drop_checkpoints(tracking, run_id)
    return result


def _seed_everything(seed: int, deterministic: bool) -> None:
    import keras
    import tensorflow as tf

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def _train_in_run(cfg, key, prepared, train_ids, test_ids, tracking, run_id, resuming, extra_callbacks,
                  predict_batch_size, upload) -> TrainingResult:
    from mlflow.entities import Metric, RunTag

    from medseglab.models import build_vgg_unet, compile_model
    from medseglab.training.acceleration import build_scope, compile_config, resolve_acceleration
    from medseglab.training.callbacks import HistoryRecorder, MlflowEpochLogger, ProgressBar, log_epoch
    from medseglab.training.checkpoint import CheckpointCallback, restore_into
    from medseglab.training.evaluate import per_image_table, predict_probabilities
    from medseglab.training.feeding import make_batches
    from medseglab.training.validation import split_validation

    client = tracking.client
    train_cfg = cfg.get("train") or {}
    epochs = int(cfg["epochs"])
    batch_size = int(train_cfg.get("batch_size", 2))
    width, height = (int(v) for v in cfg["image_size"])
    seed = key.seed(int(train_cfg.get("seed", 0)))
    _seed_everything(seed, bool(train_cfg.get("deterministic", True)))

    manifest = prepared.manifest
    groups = manifest.set_index("image_id").loc[train_ids, "group_id"].astype(str).tolist()
    fit_ids, val_ids = split_validation(train_ids, groups, float(train_cfg.get("val_fraction", 0.0) or 0.0), seed)

    acc = resolve_acceleration(train_cfg)
    with build_scope(acc):  # dtype policy and replication for the build only: nothing leaks into the next key
        model, weights = build_vgg_unet((height, width, 3), 2, key.init, train_cfg.get("weights_path"), seed)
        compile_model(model, compile_config(train_cfg, acc))

    ckpt_dir = Path(tracking.checkpoint_root) / run_id
    history: list[dict] = []
    initial_epoch = 0
    logged_steps: set[int] = set()
    state = _find_checkpoint(ckpt_dir, run_id, tracking.uri) if resuming else None
    if state is not None:
        state = restore_into(model, ckpt_dir)
        initial_epoch = int(state["epochs_done"])
        history = list(state["history"])
        logged_steps = _relog_missing(client, run_id, history, log_epoch)
        _say(f"{key.name}: resuming run {run_id} after epoch {initial_epoch}/{epochs}")
    elif resuming:
        _say(f"{key.name}: run {run_id} stopped before its first checkpoint; training it again from epoch 0")
    if not resuming or state is None:
        _log_start(client, run_id, cfg, key, weights, seed, fit_ids, val_ids, test_ids, acc.params(model))
    # Tags on every start: a resume on other hardware shows what it ran with (params keep the first start's).
    client.log_batch(run_id, tags=[RunTag(k, v) for k, v in acc.tags(model).items()])
    client.set_tag(run_id, C.EPOCHS_DONE, str(initial_epoch))

    fit_seconds = 0.0
    checkpoint = None
    if initial_epoch < epochs:
        in_memory_mb = train_cfg.get("in_memory_mb")
        feeder = make_batches(prepared, fit_ids, batch_size, seed, cfg["image_size"], initial_epoch=initial_epoch,
                              in_memory_mb=in_memory_mb, workers=train_cfg.get("workers"),
                              augment=train_cfg.get("augment"))
        val = (make_batches(prepared, val_ids, batch_size, seed, cfg["image_size"], in_memory_mb=in_memory_mb,
                            shuffle=False, workers=train_cfg.get("workers")) if val_ids else None)
        progress = ProgressBar(f"train {key.name}", epochs, initial_epoch, len(feeder))
        checkpoint = CheckpointCallback(ckpt_dir, history, upload=upload,
                                        extra={"run_id": run_id, "key": key.name, "seed": seed},
                                        interval_s=float(train_cfg.get("checkpoint_interval_s") or 0))
        callbacks = [
            HistoryRecorder(history),
            checkpoint,
            # Epochs after the resumed checkpoint that the killed process had logged are trained
            # again; their steps are not logged twice.
            MlflowEpochLogger(client, run_id, history, skip_steps=logged_steps),
            progress,
            *extra_callbacks,
        ]
        start = time.perf_counter()
        try:
            model.fit(feeder, validation_data=val, epochs=epochs, initial_epoch=initial_epoch, callbacks=callbacks,
                      shuffle=False, verbose=0)
        finally:
            progress.on_train_end()
        fit_seconds = time.perf_counter() - start

    # Evaluation of the test set.
    start = time.perf_counter()
    prob = predict_probabilities(model, prepared, test_ids, predict_batch_size, desc=f"test {key.name}")
    gt = np.asarray(prepared.load_masks(test_ids), dtype=np.uint8)
    table = per_image_table(prob, gt, test_ids, manifest, key, run_id, mask_threshold(cfg))
    predict_seconds = time.perf_counter() - start
    with fluent_run(tracking.uri or C.tracking_uri(), run_id):  # log_model needs the active run
        model_id = _log_outputs(client, run_id, key, cfg, model, history, table, test_ids, prob, tracking)
    start = time.perf_counter()
    upload.close()  # the last checkpoint's upload overlapped the evaluation; what is left is waited for here
    checkpoint_seconds = (checkpoint.blocked_s if checkpoint else 0.0) + time.perf_counter() - start
    summary = {"fit_seconds": fit_seconds, "predict_seconds": predict_seconds, "checkpoint_seconds": checkpoint_seconds}
    for metric in ("dice", "auroc_mask", "sensitivity", "specificity"):
        values = table[metric].dropna()
        if len(values):
            summary[f"test_{metric}_median"] = float(values.median())
            summary[f"test_{metric}_mean"] = float(values.mean())
    now = int(time.time() * 1000)
    # Linked to the LoggedModel too, so the registry and `search_logged_models` show a model's test scores.
    client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0, model_id=model_id) for k, v in summary.items()])
    client.set_tag(run_id, C.EPOCHS_DONE, str(epochs))
    return TrainingResult(key, run_id, "resumed" if resuming else "trained", epochs, table)


def _find_checkpoint(ckpt_dir: Path, run_id: str, uri: str | None = None) -> dict | None:
    """The local checkpoint, else the run's ``checkpoint/`` artifact (another machine's), else None."""
    from medseglab.training.checkpoint import read_state

    state = read_state(ckpt_dir)
    if state is not None:
        return state
    import mlflow.artifacts

    try:
        with tempfile.TemporaryDirectory(dir=ckpt_dir.parent if ckpt_dir.parent.exists() else None) as tmp:
            got = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="checkpoint", dst_path=tmp,
                                                             tracking_uri=uri or C.tracking_uri()))
            if read_state(got) is None:
                return None
            from medseglab.io import atomic_dir

            with atomic_dir(ckpt_dir) as dst:
                for item in got.iterdir():
                    shutil.copy2(item, dst / item.name)
    except Exception as exc:  # noqa: BLE001 - no artifact: the run died before its first checkpoint
        log.info("no checkpoint artifact for run %s: %s", run_id, exc)
        return None
    return read_state(ckpt_dir)


def _relog_missing(client, run_id: str, history: list[dict], log_epoch) -> set[int]:
    """Log epochs that the checkpoint has but MLflow missed (a kill between the two writes);
    returns the steps MLflow already had."""
    logged = {m.step for m in client.get_metric_history(run_id, "loss")}
    for row in history:
        if int(row["epoch"]) not in logged:
            log_epoch(client, run_id, int(row["epoch"]), row)
    return logged


def _log_start(client, run_id, cfg, key, weights, seed, fit_ids, val_ids, test_ids, resolved: dict) -> None:
    from mlflow.entities import Param, RunTag

    params = C.mlflow_params(cfg)
    params.update(resolved)  # precision, XLA, replicas as resolved on this machine (training.acceleration)
    params.update({
        "training.key": key.name, "training.init": key.init, "training.split": str(key.split),
        "training.ratio": str(key.ratio), "training.repeat": str(key.repeat), "training.seed": str(seed),
        "training.n_fit": str(len(fit_ids)), "training.n_val": str(len(val_ids)), "training.n_test": str(len(test_ids)),
        "weights.source": weights.source, "weights.sha256": weights.sha256 or "",
    })
    existing = client.get_run(run_id).data.params
    new = [Param(k, v) for k, v in params.items() if k not in existing]
    for start in range(0, len(new), 100):  # MLflow takes at most 100 params per batch
        client.log_batch(run_id, params=new[start:start + 100])
    # medseglab.weights.source, .sha256, .path, .md5, .note
    client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in weights.as_tags().items()])
    with temp_dir() as tmp:  # plain modes, not tempfile's 0700, whatever copies it into the store
        path = Path(tmp) / "params.yaml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        client.log_artifact(run_id, str(path), "config")


def _log_outputs(client, run_id, key, cfg, model, history, table, test_ids, prob, tracking) -> str:
    """The run's evaluation and history artifacts and its ``model`` (a LoggedModel); returns the model id."""
    from medseglab.training.model_artifact import log_trained_model

    with temp_dir() as tmp:  # plain modes, not tempfile's 0700, whatever copies them into the store
        write_parquet(tmp / "evaluation" / "per_image.parquet", table)
        _save_probabilities(tmp / "evaluation" / "probabilities.npz", test_ids, prob)
        write_csv(tmp / "history" / "history.csv", pd.DataFrame(history))
        client.log_artifacts(run_id, str(tmp / "evaluation"), "evaluation")
        client.log_artifacts(run_id, str(tmp / "history"), "history")
    # Not registered: versions enter the registry at `medseglab promote` (tracking.registry).
    return log_trained_model(model)  # with its signature: input and output shapes and dtypes


def _save_probabilities(path: Path, image_ids, prob: np.ndarray) -> None:
    from medseglab.evaluation import probabilities

    probabilities.save_probabilities(path, image_ids, prob)


def _drop_checkpoints(tracking: Tracking, run_id: str) -> None:
    """A finished training needs no checkpoint: free the disk (local folder and the artifact copy).

    MLflow has no public artifact delete: a local artifact store's copy is removed from its folder,
    a remote store keeps it (harmless, only disk)."""
    from medseglab.tracking.runs import delete_artifacts
    from medseglab.training.checkpoint import discard

    discard(Path(tracking.checkpoint_root) / run_id)
    try:
        if not delete_artifacts(tracking.client, run_id, "checkpoint"):
            log.info("kept checkpoint artifact of run %s: its artifact store is not a local folder", run_id)
    except OSError as exc:
        log.info("kept checkpoint artifact of run %s: %s", run_id, exc)
