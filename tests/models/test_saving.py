"""Saved models are self-contained: plain keras.saving.load_model gives identical predictions."""

import keras
import numpy as np
import pytest

from medseglab.models import load_model
from medseglab.models.compile import compile_model
from medseglab.models.vgg_unet import build_vgg_unet


# An optimizer saved before its first step has no slot variables yet; Keras warns about that on load.
@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_keras_round_trip_gives_identical_predictions(tmp_path, images):
    model, _ = build_vgg_unet((32, 32, 3), init="tii", seed=0)
    compile_model(model, {"optimizer": "adadelta", "learning_rate": 1.0, "threshold": 0.5})
    path = tmp_path / "model.keras"
    model.save(path)
    expected = model.predict(images, verbose=0)

    plain = keras.saving.load_model(path)  # registered classes: no custom_objects needed
    np.testing.assert_array_equal(plain.predict(images, verbose=0), expected)
    assert plain.get_layer("vgg_preprocess").mean == model.get_layer("vgg_preprocess").mean
    # The compiled state (optimizer, Dice metric) comes back too.
    assert isinstance(plain.optimizer, keras.optimizers.Adadelta)
    assert "medseglab>DiceCoefficient" in str(plain.get_compile_config()["metrics"])

    again = load_model(path, compile=False)
    np.testing.assert_array_equal(again.predict(images, verbose=0), expected)
    assert getattr(again, "optimizer", None) is None


def test_importing_the_package_registers_the_custom_classes():
    import medseglab.models as models

    assert keras.saving.get_registered_object("medseglab>VGGPreprocess") is models.VGGPreprocess
    assert keras.saving.get_registered_object("medseglab>DiceCoefficient") is models.DiceCoefficient
    assert set(models.custom_objects().values()) == {models.VGGPreprocess, models.DiceCoefficient}


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_mlflow_keras_flavour_round_trip(tmp_path, images):
    """What the training stage logs as `model/` loads back through MLflow (about 20 s: slow)."""
    import mlflow.keras
    model, _ = build_vgg_unet((32, 32, 3), init="lmi", seed=0)
    compile_model(model, {"optimizer": "adadelta", "learning_rate": 1.0})
    mlflow.keras.save_model(model, str(tmp_path / "model"), pip_requirements=["keras"])
    loaded = mlflow.keras.load_model(str(tmp_path / "model"))
    np.testing.assert_array_equal(loaded.predict(images, verbose=0), model.predict(images, verbose=0))
