"""A training's `model` artifact documents its input and output (MLflow signature)."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest

from medseglab.models import build_vgg_unet
from medseglab.training.model_artifact import log_trained_model, model_signature


@pytest.fixture(scope="module")
def tiny_model():
    model, _ = build_vgg_unet((32, 64, 3), init="lmi", seed=0)  # H 32, W 64: a swap would show
    return model


def check(signature):
    (inp,) = signature.inputs.inputs
    (out,) = signature.outputs.inputs
    assert inp.shape == (-1, 32, 64, 3) and inp.type == np.dtype("float32")  # raw 0..255 RGB, as predict feeds it
    assert out.shape == (-1, 32, 64, 2) and out.type == np.dtype("float32")  # class softmax


def test_signature_is_the_models_input_and_output(tiny_model):
    check(model_signature(tiny_model))


def test_logged_model_carries_it_without_the_missing_signature_warning(tiny_model, tmp_path, monkeypatch,
                                                                        mlflow_db_template, caplog):
    import mlflow

    shutil.copy(mlflow_db_template, tmp_path / "mlflow.db")
    monkeypatch.chdir(tmp_path)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow_log = logging.getLogger("mlflow")  # does not propagate to the root logger caplog listens on
    mlflow_log.addHandler(caplog.handler)
    try:
        # Its own experiment with artifacts in tmp_path: the template's default experiment 0 points at
        # ./mlruns of wherever the template was made (the project root), and the model would land there.
        experiment = mlflow.create_experiment("signature", artifact_location=(tmp_path / "artifacts").as_uri())
        with mlflow.start_run(experiment_id=experiment) as run:
            model_id = log_trained_model(tiny_model)
        info = mlflow.models.get_model_info(f"runs:/{run.info.run_id}/model")
        assert info.model_id == model_id  # the run's `model` is the LoggedModel it returned
    finally:
        mlflow_log.removeHandler(caplog.handler)
        mlflow.set_tracking_uri(previous)
    assert "without specifying model signature" not in caplog.text
    check(info.signature)


def test_a_model_without_a_fixed_input_size_is_refused():
    model, _ = build_vgg_unet((None, None, 3), init="lmi", seed=0)
    with pytest.raises(ValueError, match="fixed input size"):
        model_signature(model)
