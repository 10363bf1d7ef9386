"""One training as one MLflow run: contract tags and artifacts, skip when finished, resume after a
kill in the same run without retraining finished epochs, and the same seed giving the same metrics.

The trainings are shared by the module (each costs seconds even at 32x32): a 2-epoch training is
killed after its first epoch, relaunched, and compared with an uninterrupted one in another store.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import yaml

from medseglab.tracking import conventions as C

from .conftest import new_store

KEY = C.TrainingKey.make("skin", "tii", 0, 80, 0)
METRIC_COLUMNS = ["tp", "fp", "fn", "tn", "dice", "sensitivity", "specificity", "precision", "fpr", "auroc_mask",
                  "auroc_prob"]


class Kill(keras.callbacks.Callback):
    """Dies after the first epoch, once its checkpoint is saved (callbacks run after medseglab's)."""

    def on_epoch_end(self, epoch, logs=None):
        raise RuntimeError("simulated kill")


class Epochs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append(epoch)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture(scope="module")
def scenario(tiny_data, tmp_path_factory, mlflow_db_template):
    from medseglab.training.train import Tracking, train_one
    from medseglab.tracking.runs import open_client

    cfg, prepared, splits = tiny_data
    cfg = dict(cfg, epochs=2, train={**cfg["train"], "checkpoint_interval_s": 0})  # the kill needs epoch 1's
    out = {"cfg": cfg}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDSEGLAB_NO_PROGRESS", "1")
        mp.setenv("MEDSEGLAB_OFFLINE", "1")
        store_a = new_store(tmp_path_factory.mktemp("store-a"), mlflow_db_template, mp)
        params = {"tracking": {"register_models": True}}
        tracking = Tracking.open(params, "skin", profile="demo")
        with pytest.raises(RuntimeError, match="simulated kill"):
            train_one(cfg, KEY, prepared, splits, tracking=tracking, callbacks=(Kill(),))
        out["killed_at"] = time.time() * 1000
        client = open_client(params)
        killed = client.search_runs([tracking.experiment_id])[0]
        out["killed"] = killed
        out["checkpoint_state"] = (store_a / "checkpoints" / killed.info.run_id / "state.json").read_text()
        out["checkpoint_artifacts"] = [f.path for f in client.list_artifacts(killed.info.run_id, "checkpoint")]
        # As if the process had died without MLflow noticing: RUNNING, owned by a pid that is gone.
        client.update_run(killed.info.run_id, status="RUNNING")
        client.set_tag(killed.info.run_id, C.PID, str(_dead_pid()))
        epochs = Epochs()
        out["resumed"] = train_one(cfg, KEY, prepared, splits, tracking=tracking, callbacks=(epochs,))
        out["resumed_epochs"] = epochs.seen
        out["skipped"] = train_one(cfg, KEY, prepared, splits, tracking=tracking)
        out["runs_a"] = client.search_runs([tracking.experiment_id])
        out["store_a"] = store_a
        run_id = out["resumed"].run_id
        out["artifacts"] = _artifact_tree(client, run_id)
        out["history"] = {m: [(x.step, x.timestamp) for x in client.get_metric_history(run_id, m)]
                          for m in ("loss", "val_loss", "dice", "val_dice", "epoch_seconds")}
        out["run"] = client.get_run(run_id)
        from medseglab.tracking.runs import load_model, load_probabilities, training_table

        out["table"] = training_table(run_id)
        out["probabilities"] = load_probabilities(run_id)
        model = load_model(run_id)
        ids = out["probabilities"][0][:2]
        out["reloaded_prob"] = np.asarray(model.predict_on_batch(prepared.load_images(list(ids)).astype("float32")))[..., 1]
        out["versions"] = client.search_model_versions(f"run_id='{run_id}'")
        out["logged_models"] = client.search_logged_models([tracking.experiment_id],
                                                           filter_string=f"source_run_id='{run_id}'")
        import mlflow.models

        out["model_signature"] = mlflow.models.get_model_info(f"runs:/{run_id}/model").signature
        out["config_yaml"] = _read_artifact(client, run_id, "config/params.yaml")
        out["history_csv"] = pd.read_csv(_download(client, run_id, "history/history.csv"))

        new_store(tmp_path_factory.mktemp("store-b"), mlflow_db_template, mp)
        other = Tracking.open({"tracking": {"register_models": False}}, "skin", profile="demo")
        out["uninterrupted"] = train_one(cfg, KEY, prepared, splits, tracking=other)
    return out


def _download(client, run_id, path):
    import mlflow

    return mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path)


def _read_artifact(client, run_id, path):
    with open(_download(client, run_id, path)) as handle:
        return handle.read()


def _artifact_tree(client, run_id, path=None):
    files = []
    for item in client.list_artifacts(run_id, path):
        files.extend(_artifact_tree(client, run_id, item.path) if item.is_dir else [item.path])
    return sorted(files)


def test_kill_leaves_a_failed_run_with_a_checkpoint_of_epoch_one(scenario):
    killed = scenario["killed"]
    assert killed.info.status == "FAILED"
    assert killed.info.run_name == KEY.name
    assert '"epochs_done": 1' in scenario["checkpoint_state"]
    assert sorted(scenario["checkpoint_artifacts"]) == ["checkpoint/model.keras", "checkpoint/state.json"]


def test_relaunch_resumes_the_same_run_without_retraining_epoch_one(scenario):
    resumed = scenario["resumed"]
    assert resumed.status == "resumed"
    assert resumed.run_id == scenario["killed"].info.run_id
    assert scenario["resumed_epochs"] == [1]
    assert scenario["run"].info.status == "FINISHED"
    for metric, points in scenario["history"].items():
        assert [step for step, _ in points] == [0, 1], metric  # every epoch once, none twice
        assert points[0][1] < scenario["killed_at"] < points[1][1], metric
    assert len(scenario["history_csv"]) == 2
    assert scenario["history_csv"]["epoch"].tolist() == [0, 1]


def test_finished_training_is_skipped(scenario):
    skipped = scenario["skipped"]
    assert skipped.status == "skipped" and skipped.run_id == scenario["resumed"].run_id
    assert skipped.table is None
    assert len(scenario["runs_a"]) == 1  # no second run for the same key and config


def test_same_seed_gives_the_same_per_image_metrics(scenario):
    a = scenario["resumed"].table.set_index("image_id")[METRIC_COLUMNS]
    b = scenario["uninterrupted"].table.set_index("image_id")[METRIC_COLUMNS]
    assert scenario["uninterrupted"].run_id != scenario["resumed"].run_id
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-6, atol=1e-6)


def test_run_has_the_contract_tags_and_params(scenario):
    run = scenario["run"]
    tags = run.data.tags
    expected = {C.KIND: "training", C.DATASET: "skin", C.PROFILE: "demo", C.INIT: "tii", C.SPLIT: "0",
                C.RATIO: "80", C.REPEAT: "0", C.KEY: KEY.name, C.CONFIG_HASH: C.training_config_hash(scenario["cfg"])}
    assert {k: tags.get(k) for k in expected} == expected
    assert len(tags[C.DATA_HASH]) == 64 and len(tags[C.SPLITS_HASH]) == 64
    assert tags[C.WEIGHTS_SOURCE] and len(tags[C.WEIGHTS_SHA256]) == 64
    params = run.data.params
    assert params["epochs"] == "2" and params["image_size"] == "[32, 32]"
    assert params["train.batch_size"] == "2" and params["weights.sha256"] == tags[C.WEIGHTS_SHA256]
    assert run.data.metrics["test_dice_median"] == pytest.approx(scenario["table"]["dice"].median())


def test_run_records_the_resolved_precision_xla_and_replication(scenario):
    """params.yaml says auto; the run says what auto became here (params once, tags on every start)."""
    from medseglab.training.acceleration import resolve_acceleration

    run = scenario["run"]
    assert run.data.params["train.precision"] == "auto"
    expected = resolve_acceleration(scenario["cfg"]["train"])
    for name in ("precision", "distribute", "replicas", "device"):
        assert run.data.params[f"training.{name}"] == run.data.tags[f"medseglab.{name}"] == expected.params()[
            f"training.{name}"]
    assert run.data.params["training.jit_compile"] == run.data.tags["medseglab.jit_compile"] in ("true", "false")


def test_run_has_the_contract_artifacts(scenario):
    files = scenario["artifacts"]
    for name in ("evaluation/per_image.parquet", "evaluation/probabilities.npz", "history/history.csv",
                 "config/params.yaml"):
        assert name in files
    assert not any(f.startswith("checkpoint/") for f in files)  # dropped once finished
    assert not (scenario["store_a"] / "checkpoints" / scenario["run"].info.run_id).exists()
    assert yaml.safe_load(scenario["config_yaml"])["epochs"] == 2
    # A LoggedModel with the test scores linked to it; registered only by `medseglab promote`.
    assert scenario["versions"] == []
    (logged,) = scenario["logged_models"]
    assert logged.name == "model"
    assert {m.key for m in logged.metrics} >= {"test_dice_median", "test_dice_mean"}


def test_logged_model_has_the_input_and_output_signature(scenario):
    (inp,), (out,) = scenario["model_signature"].inputs.inputs, scenario["model_signature"].outputs.inputs
    assert inp.shape == (-1, 32, 32, 3) and inp.type == np.dtype("float32")
    assert out.shape == (-1, 32, 32, 2) and out.type == np.dtype("float32")


def test_per_image_table_and_probabilities_match(scenario, tiny_data):
    _, prepared, splits = tiny_data
    table = scenario["table"]
    key_columns = ["image_id", "group_id", "clinical_label", "dataset", "init", "split", "ratio", "repeat", "run_id"]
    assert list(table.columns[:9]) == key_columns
    assert set(METRIC_COLUMNS) <= set(table.columns)
    from medseglab.splits import train_test_ids

    _, test_ids = train_test_ids(splits, 0, 80)
    assert table["image_id"].tolist() == test_ids
    assert (table["run_id"] == scenario["run"].info.run_id).all()
    ids, prob = scenario["probabilities"]
    assert ids.tolist() == test_ids and prob.shape == (len(test_ids), 32, 32)
    # The logged model reproduces the stored probabilities (up to their uint8 quantisation).
    np.testing.assert_allclose(scenario["reloaded_prob"], prob[:2], atol=1 / 255 + 1e-6)
    masks = prepared.load_masks(test_ids)
    tp = ((prob >= 0.5) & (masks == 1)).sum(axis=(1, 2))
    assert np.abs(table["tp"].to_numpy() - tp).max() <= 0.02 * 32 * 32  # same counts up to quantisation


@pytest.mark.parametrize("keep", [False, True], ids=["dropped", "kept"])
def test_default_interval_checkpoints_the_last_epoch_and_its_upload_ends_before_the_run(
        keep, tiny_data, tmp_path, mlflow_db_template, monkeypatch):
    """Issue #10: with the default interval (300 s) a 2-epoch training saves only after its last
    epoch; the upload runs in the background (slowed down here) and the run ends only after it."""
    import json

    from medseglab.training.train import Tracking, train_one

    cfg, prepared, splits = tiny_data
    cfg = dict(cfg, epochs=2)
    assert float(cfg["train"]["checkpoint_interval_s"]) >= 60  # params.yaml's default, not 0
    new_store(tmp_path / "store", mlflow_db_template, monkeypatch)
    tracking = Tracking.open({}, "skin", profile="demo")
    tracking.keep_checkpoints = keep
    client = tracking.client
    real_log_artifacts = client.log_artifacts
    uploads = []

    def slow_log_artifacts(run_id, local_dir, artifact_path=None):
        if artifact_path != "checkpoint":
            return real_log_artifacts(run_id, local_dir, artifact_path)
        time.sleep(1.5)  # longer than this tiny model's test-set evaluation
        real_log_artifacts(run_id, local_dir, artifact_path)
        epochs_done = json.loads((Path(local_dir) / "state.json").read_text())["epochs_done"]
        uploads.append((epochs_done, client.get_run(run_id).info.status))

    monkeypatch.setattr(client, "log_artifacts", slow_log_artifacts)
    result = train_one(cfg, KEY, prepared, splits, tracking=tracking)
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert uploads == [(2, "RUNNING")]  # one save, after the last epoch; uploaded before the run ended
    assert run.data.metrics["checkpoint_seconds"] >= 0
    files = [f.path for f in client.list_artifacts(result.run_id, "checkpoint")]
    local = tracking.checkpoint_root / result.run_id
    if keep:
        assert sorted(files) == ["checkpoint/model.keras", "checkpoint/state.json"]
        assert json.loads((local / "state.json").read_text())["epochs_done"] == 2
    else:  # deleted on finish as before, and no late upload put it back
        assert files == [] and not local.exists()
