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


def _data():
    x = np.random.default_rng(0).random((8, 4)).astype("float32")
    return x, (x[:, 0] > 0.5).astype("int32")


def test_checkpoint_round_trip(tmp_path):
    """A checkpoint before the last epoch restores weights and the optimizer's state (training goes on)."""
    x, y = _data()
    model = _model(0)
    history = []
    model.fit(x, y, epochs=2, verbose=0)
    save_checkpoint(tmp_path / "ck", model, 2, history)
    state = read_state(tmp_path / "ck")
    assert state["epochs_done"] == 2 and state["weights_only"] is False
    other = _model(1)
    restored = restore_into(other, tmp_path / "ck")
    assert restored["epochs_done"] == 2
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert int(other.optimizer.iterations) == int(model.optimizer.iterations) == 2
    for a, b in zip(model.optimizer.variables, other.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_last_epoch_checkpoint_holds_the_weights_only(tmp_path):
    """After the last epoch nothing trains: its checkpoint leaves out the optimizer's slots (Adadelta: two
    per weight, so a third of the file) and restores the trained weights; earlier ones keep the slots."""
    x, y = _data()
    model = _model(0)
    saved_sizes = {}

    class Sizes(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            state = read_state(tmp_path / "ck")
            saved_sizes[state["epochs_done"]] = ((tmp_path / "ck" / "model.keras").stat().st_size, state["weights_only"])

    model.fit(x, y, epochs=3, verbose=0, callbacks=[CheckpointCallback(tmp_path / "ck", [], interval_s=0), Sizes()])
    assert [saved_sizes[e][1] for e in (1, 2, 3)] == [False, False, True]
    other = _model(1)
    assert restore_into(other, tmp_path / "ck")["epochs_done"] == 3
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.predict(x, verbose=0), other.predict(x, verbose=0))
    # the toy model's weights are small next to the .keras file's fixed part: compare the saved weights
    import zipfile

    def weights_bytes(epoch_file):
        with zipfile.ZipFile(epoch_file) as z:
            return z.getinfo("model.weights.h5").file_size
    save_checkpoint(tmp_path / "full", model, 3, [])
    assert weights_bytes(tmp_path / "ck" / "model.keras") < weights_bytes(tmp_path / "full" / "model.keras")


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


class _Upload:
    """Records the calls a CheckpointCallback makes to its upload (wait before save, submit after)."""

    def __init__(self, calls):
        self.calls = calls

    def wait(self):
        self.calls.append("wait")

    def submit(self, folder):
        self.calls.append(("submit", read_state(folder)["epochs_done"]))


def _fit_with_checkpoints(tmp_path, epochs, **kwargs):
    x = np.random.default_rng(0).random((8, 4)).astype("float32")
    y = (x[:, 0] > 0.5).astype("int32")
    calls = []
    callback = CheckpointCallback(tmp_path / "ck", [], upload=_Upload(calls), **kwargs)
    _model(0).fit(x, y, epochs=epochs, verbose=0, callbacks=[callback])
    return callback, calls


def test_a_long_interval_saves_only_after_the_last_epoch(tmp_path):
    callback, calls = _fit_with_checkpoints(tmp_path, 3, interval_s=3600)
    assert callback.saved == [3]
    assert calls == ["wait", ("submit", 3)]
    assert read_state(tmp_path / "ck")["epochs_done"] == 3


def test_interval_zero_saves_every_epoch_and_waits_for_the_previous_upload(tmp_path):
    callback, calls = _fit_with_checkpoints(tmp_path, 3, interval_s=0)
    assert callback.saved == [1, 2, 3]
    assert calls == ["wait", ("submit", 1), "wait", ("submit", 2), "wait", ("submit", 3)]


def test_saves_when_the_interval_has_passed_since_the_last_save(tmp_path):
    now = [0.0]

    def clock():  # every reading is 4 s later: epoch ends at 4, 8, 12, ... after the train begins
        now[0] += 4.0
        return now[0]

    callback, _ = _fit_with_checkpoints(tmp_path, 5, interval_s=7, clock=clock)
    # begin t=8; epoch 1 ends t=12 (4 s), epoch 2 t=16 (8 s: save, reset t=20), epoch 3 t=24 (4 s),
    # epoch 4 t=28 (8 s: save, reset t=32), epoch 5: the last, always saved.
    assert callback.saved == [2, 4, 5]


def test_a_training_stopped_early_keeps_its_last_epoch(tmp_path):
    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.stop_training = True

    x = np.random.default_rng(0).random((8, 4)).astype("float32")
    y = (x[:, 0] > 0.5).astype("int32")
    callback = CheckpointCallback(tmp_path / "ck", [], interval_s=3600)
    _model(0).fit(x, y, epochs=5, verbose=0, callbacks=[callback, Stop()])
    assert callback.saved == [2]
