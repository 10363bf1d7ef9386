"""Keras callbacks of a training: epoch history with timings, MLflow metrics, one progress bar."""

from __future__ import annotations

import math
import time

import keras

from medseglab.progress import bar


def _clean(logs: dict | None) -> dict[str, float]:
    out = {}
    for key, value in (logs or {}).items():
        try:
            value = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(value):
            out[key] = value
    return out


class HistoryRecorder(keras.callbacks.Callback):
    """Appends one row per epoch to ``history`` (shared with the checkpoint): epoch, metrics, seconds."""

    def __init__(self, history: list[dict]):
        super().__init__()
        self.history = history
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": int(epoch), **_clean(logs), "seconds": time.perf_counter() - self._start}
        self.history[:] = [r for r in self.history if r["epoch"] != epoch] + [row]


class MlflowEpochLogger(keras.callbacks.Callback):
    """Logs each epoch's train/validation loss and metrics (and its seconds, from the history row
    that `HistoryRecorder` wrote) to one MLflow run, step = epoch (0-based). Steps in ``skip_steps``
    (already logged by a killed process) are not logged again."""

    def __init__(self, client, run_id: str, history: list[dict] | None = None, skip_steps=()):
        super().__init__()
        self.client = client
        self.run_id = run_id
        self.history = history
        self.skip_steps = set(skip_steps)

    def on_epoch_end(self, epoch, logs=None):
        if epoch in self.skip_steps:
            return
        row = next((r for r in reversed(self.history or []) if r.get("epoch") == epoch), None)
        log_epoch(self.client, self.run_id, epoch, row if row is not None else _clean(logs))


def log_epoch(client, run_id: str, epoch: int, values: dict[str, float]) -> None:
    from mlflow.entities import Metric, RunTag

    now = int(time.time() * 1000)
    metrics = [Metric(key, float(v), now, int(epoch)) for key, v in values.items() if key not in ("epoch", "seconds")]
    if "seconds" in values:
        metrics.append(Metric("epoch_seconds", float(values["seconds"]), now, int(epoch)))
    client.log_batch(run_id, metrics=metrics, tags=[RunTag("medseglab.epochs_done", str(epoch + 1))])


class ProgressBar(keras.callbacks.Callback):
    """One bar over all batches of the remaining epochs: shows epoch, loss and time left."""

    def __init__(self, desc: str, epochs: int, initial_epoch: int, steps_per_epoch: int):
        super().__init__()
        self.desc = desc
        self.epochs = epochs
        self.initial_epoch = initial_epoch
        self.steps = steps_per_epoch
        self.bar = None
        self.epoch = initial_epoch

    def on_train_begin(self, logs=None):
        total = max(0, self.epochs - self.initial_epoch) * self.steps
        self.bar = bar(total=total, desc=self.desc, unit="batch", leave=False)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.bar is not None:
            loss = (logs or {}).get("loss")
            post = f"epoch {self.epoch + 1}/{self.epochs}"
            if loss is not None:
                post += f" loss {float(loss):.4f}"
            self.bar.set_postfix_str(post, refresh=False)
            self.bar.update(1)

    def on_train_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
