"""A training killed after its last epoch's checkpoint (weights only: nothing trains after it) resumes
without training and ends with the per-image metrics of an uninterrupted training."""

from __future__ import annotations

import json

import keras
import pandas as pd
import pytest

from medseglab.tracking import conventions as C

from .conftest import new_store
from .test_train import METRIC_COLUMNS, Epochs, _dead_pid

KEY = C.TrainingKey.make("skin", "lmi", 0, 80, 0)


class KillAfterLastEpoch(keras.callbacks.Callback):
    """Dies at the end of the last epoch, after medseglab's callbacks saved its checkpoint."""

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.params["epochs"]:
            raise RuntimeError("simulated kill")


@pytest.fixture(scope="module")
def runs(tiny_data, tmp_path_factory, mlflow_db_template):
    from medseglab.training.train import Tracking, train_one
    from medseglab.tracking.runs import open_client

    cfg, prepared, splits = tiny_data
    cfg = dict(cfg, epochs=2, train={**cfg["train"], "checkpoint_interval_s": 3600})  # only the final checkpoint
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDSEGLAB_NO_PROGRESS", "1")
        mp.setenv("MEDSEGLAB_OFFLINE", "1")
        store = new_store(tmp_path_factory.mktemp("store-a"), mlflow_db_template, mp)
        params = {"tracking": {"register_models": False}}
        tracking = Tracking.open(params, "skin", profile="demo")
        with pytest.raises(RuntimeError, match="simulated kill"):
            train_one(cfg, KEY, prepared, splits, tracking=tracking, callbacks=(KillAfterLastEpoch(),))
        client = open_client(params)
        killed = client.search_runs([tracking.experiment_id])[0]
        out["state"] = json.loads((store / "checkpoints" / killed.info.run_id / "state.json").read_text())
        client.update_run(killed.info.run_id, status="RUNNING")
        client.set_tag(killed.info.run_id, C.PID, str(_dead_pid()))
        epochs = Epochs()
        out["resumed"] = train_one(cfg, KEY, prepared, splits, tracking=tracking, callbacks=(epochs,))
        out["resumed_epochs"] = epochs.seen

        new_store(tmp_path_factory.mktemp("store-b"), mlflow_db_template, mp)
        other = Tracking.open(params, "skin", profile="demo")
        out["uninterrupted"] = train_one(cfg, KEY, prepared, splits, tracking=other)
    return out


def test_last_epoch_checkpoint_is_weights_only(runs):
    assert runs["state"]["epochs_done"] == 2 and runs["state"]["weights_only"] is True


def test_resume_from_it_trains_nothing(runs):
    assert runs["resumed"].status == "resumed"
    assert runs["resumed_epochs"] == []


def test_resume_from_it_gives_the_uninterrupted_metrics(runs):
    a = runs["resumed"].table.set_index("image_id")[METRIC_COLUMNS]
    b = runs["uninterrupted"].table.set_index("image_id")[METRIC_COLUMNS]
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-6, atol=1e-6)
