"""Per-epoch checkpoints: the model with its optimizer state, the epoch count and the history so far.

A checkpoint is a folder ``checkpoints/<run_id>/`` with ``model.keras`` (weights + optimizer
variables) and ``state.json`` (``epochs_done``, ``history`` rows); it is replaced atomically
after every epoch, so a kill leaves either the previous or the new checkpoint, never half of one
(tested with real SIGKILLs in tests/training/test_kill_resume.py).
"""

from __future__ import annotations

import glob
import json
import shutil
import time
from pathlib import Path

import keras

from medseglab.io import atomic_dir, restore_interrupted

MODEL_FILE = "model.keras"
STATE_FILE = "state.json"
DEFAULT_ROOT = Path("checkpoints")


def save_checkpoint(directory: str | Path, model, epochs_done: int, history: list[dict], extra: dict | None = None) -> Path:
    directory = Path(directory)
    with atomic_dir(directory) as tmp:
        model.save(tmp / MODEL_FILE)
        state = {"epochs_done": int(epochs_done), "history": history, "saved": time.time(), **(extra or {})}
        (tmp / STATE_FILE).write_text(json.dumps(state, indent=1, default=float) + "\n")
    return directory


def discard(directory: str | Path) -> None:
    """Remove a checkpoint and whatever killed saves left beside it (``.<run_id>.*.tmp``, ``.<run_id>.old``):
    run ids are unique and only the run's own process saves them, so all of it is this run's."""
    directory = Path(directory)
    shutil.rmtree(directory, ignore_errors=True)
    if directory.parent.is_dir():
        for leftover in directory.parent.glob(f".{glob.escape(directory.name)}.*"):
            shutil.rmtree(leftover, ignore_errors=True)


def read_state(directory: str | Path) -> dict | None:
    """The checkpoint's state, or None when the folder holds no complete checkpoint (a save killed
    between its two renames left the previous checkpoint as ``.<run_id>.old``: it is put back)."""
    directory = Path(directory)
    restore_interrupted(directory)
    if not (directory / STATE_FILE).is_file() or not (directory / MODEL_FILE).is_file():
        return None
    return json.loads((directory / STATE_FILE).read_text())


def restore_into(model, directory: str | Path) -> dict:
    """Load a checkpoint's weights and optimizer state into a freshly built, compiled ``model``."""
    directory = Path(directory)
    state = read_state(directory)
    if state is None:
        raise FileNotFoundError(f"{directory}: no complete checkpoint ({MODEL_FILE} + {STATE_FILE})")
    if model.optimizer is not None and not model.optimizer.built:
        # An unbuilt optimizer has no slots to load into: Keras would skip its saved state.
        model.optimizer.build(model.trainable_variables)
    model.load_weights(directory / MODEL_FILE)
    return state


class CheckpointCallback(keras.callbacks.Callback):
    """After every epoch: save the checkpoint, then hand its folder to ``on_saved`` (e.g. MLflow upload)."""

    def __init__(self, directory: str | Path, history: list[dict], on_saved=None, extra: dict | None = None):
        super().__init__()
        self.directory = Path(directory)
        self.history = history
        self.on_saved = on_saved
        self.extra = extra or {}

    def on_epoch_end(self, epoch, logs=None):
        save_checkpoint(self.directory, self.model, epoch + 1, self.history, self.extra)
        if self.on_saved is not None:
            self.on_saved(self.directory, epoch + 1)
