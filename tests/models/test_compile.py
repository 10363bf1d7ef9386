"""compile_model: params.yaml's train section -> optimizer, loss, metrics; and it learns."""

import keras
import numpy as np
import pytest

from medseglab.config import ConfigError
from medseglab.models.compile import compile_model, make_loss, make_optimizer
from medseglab.models.vgg_unet import build_vgg_unet

TRAIN = {"optimizer": "adadelta", "learning_rate": 1.0, "loss": "categorical_crossentropy", "threshold": 0.5}


@pytest.mark.parametrize(
    "name, cls", [("adadelta", keras.optimizers.Adadelta), ("Adam", keras.optimizers.Adam), ("sgd", keras.optimizers.SGD)]
)
def test_optimizer_by_name_with_learning_rate(name, cls):
    optimizer = make_optimizer({"optimizer": name, "learning_rate": 0.25})
    assert isinstance(optimizer, cls)
    assert float(optimizer.learning_rate) == pytest.approx(0.25)


@pytest.mark.parametrize(
    "cfg, match",
    [
        ({"optimizer": "rmsprop"}, "train.optimizer='rmsprop'"),
        ({"learning_rate": 0}, "train.learning_rate=0"),
        ({"learning_rate": "fast"}, "train.learning_rate='fast'"),
    ],
)
def test_bad_optimizer_settings_are_config_errors(cfg, match):
    with pytest.raises(ConfigError, match=match):
        make_optimizer(cfg)


def test_loss_is_cross_entropy_on_integer_masks():
    with pytest.raises(ConfigError, match="train.loss='dice'"):
        make_loss({"loss": "dice"})
    loss = make_loss(TRAIN)
    mask = np.array([[[0, 1]]])
    prob = np.array([[[[0.8, 0.2], [0.4, 0.6]]]], "float32")
    assert float(loss(mask, prob)) == pytest.approx(-(np.log(0.8) + np.log(0.6)) / 2, rel=1e-5)
    with pytest.raises(ConfigError, match="train.threshold"):
        compile_model(keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)]), {**TRAIN, "threshold": 1.5})


def test_a_few_steps_reduce_the_loss_on_a_toy_task():
    """Bright squares on dark noise: the study's optimizer (Adadelta, lr 1.0) must make progress."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 60, size=(4, 32, 32, 3)).astype("float32")
    y = np.zeros((4, 32, 32), "uint8")
    for i, (r, c) in enumerate(rng.integers(0, 16, size=(4, 2))):
        x[i, r : r + 16, c : c + 16] += 150
        y[i, r : r + 16, c : c + 16] = 1
    keras.utils.set_random_seed(0)
    model, _ = build_vgg_unet((32, 32, 3), init="tii", seed=0)
    compile_model(model, TRAIN)
    loss = make_loss(TRAIN)
    before = float(loss(y, model(x)))  # eager: no second traced graph for evaluate
    history = model.fit(x, y, batch_size=2, epochs=4, verbose=0, shuffle=False)
    after = float(loss(y, model(x)))
    assert set(history.history) >= {"loss", "accuracy", "dice"}
    assert after < 0.9 * before, (before, after, history.history["loss"])


@pytest.mark.slow
def test_bench_reports_throughput():
    from medseglab.models.bench import measure

    result = measure(32, 32, batch_size=2, steps=2)
    assert result["params"] == 18_948_914
    assert result["train_images_per_s"] > 0 and result["predict_images_per_s"] > 0
