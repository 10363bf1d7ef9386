"""Checkpoints restore weights, optimizer state and history into a freshly built model."""

from __future__ import annotations

import json

import keras
import numpy as np

from medseglab.training.checkpoint import CheckpointCallback, read_state, restore_into, save_checkpoint


def _model(seed: int):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.Dense(3)(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adadelta(1.0), loss="sparse_categorical_crossentropy")
    return model


def test_checkpoint_round_trip(tmp_path):
    x = np.random.default_rng(0).random((8, 4)).astype("float32")
    y = (x[:, 0] > 0.5).astype("int32")
    model = _model(0)
    history = []
    model.fit(x, y, epochs=2, verbose=0, callbacks=[CheckpointCallback(tmp_path / "ck", history)])
    state = read_state(tmp_path / "ck")
    assert state["epochs_done"] == 2
    other = _model(1)
    restored = restore_into(other, tmp_path / "ck")
    assert restored["epochs_done"] == 2
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert int(other.optimizer.iterations) == int(model.optimizer.iterations) == 2
    for a, b in zip(model.optimizer.variables, other.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_incomplete_checkpoint_reads_as_none(tmp_path):
    model = _model(0)
    save_checkpoint(tmp_path / "ck", model, 3, [{"epoch": 2, "loss": 0.5}], {"seed": 9})
    state = json.loads((tmp_path / "ck" / "state.json").read_text())
    assert state["seed"] == 9 and state["history"][0]["loss"] == 0.5
    (tmp_path / "ck" / "model.keras").unlink()
    assert read_state(tmp_path / "ck") is None
    assert read_state(tmp_path / "missing") is None


def test_save_killed_between_its_renames_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    """atomic_dir moves the old folder aside, then renames the new one in: a kill in between must not
    lose the old checkpoint (tests/training/test_kill_resume.py does this with a real SIGKILL)."""
    import os

    model = _model(0)
    save_checkpoint(tmp_path / "ck", model, 1, [{"epoch": 0, "loss": 0.7}])
    real_replace = os.replace
    calls = []

    def replace(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # the new checkpoint's rename: die here
            raise KeyboardInterrupt
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    try:
        save_checkpoint(tmp_path / "ck", model, 2, [{"epoch": 0, "loss": 0.7}, {"epoch": 1, "loss": 0.6}])
    except KeyboardInterrupt:
        pass
    monkeypatch.setattr(os, "replace", real_replace)
    assert not (tmp_path / "ck").exists() and (tmp_path / ".ck.old").is_dir()  # what the kill left
    assert read_state(tmp_path / "ck")["epochs_done"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]
    restore_into(_model(1), tmp_path / "ck")
    save_checkpoint(tmp_path / "ck", model, 2, [])
    assert read_state(tmp_path / "ck")["epochs_done"] == 2


def test_discard_removes_the_checkpoint_and_what_killed_saves_left(tmp_path):
    from medseglab.training.checkpoint import discard

    for name in ("run1", ".run1.abc123.tmp", ".run1.old", "run2", ".run2.x.tmp"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.keras").write_text("x")
    discard(tmp_path / "run1")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".run2.x.tmp", "run2"]
    discard(tmp_path / "missing")
