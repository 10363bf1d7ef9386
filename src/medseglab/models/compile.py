"""Optimizer, loss and metrics from the `train:` section of params.yaml."""

from __future__ import annotations

import keras

from medseglab.config import ConfigError
from medseglab.models.metrics import DiceCoefficient
from medseglab.names import DEFAULT_THRESHOLD

OPTIMIZERS = ("adadelta", "adam", "sgd")
# Both names mean the same math: cross-entropy of the softmax against the integer mask
# (sparse form: masks stay (N, H, W) integers instead of one-hot (N, H, W, 2) floats).
LOSSES = ("categorical_crossentropy", "sparse_categorical_crossentropy")


def make_optimizer(train_cfg: dict) -> keras.optimizers.Optimizer:
    name = str(train_cfg.get("optimizer", "adadelta")).lower()
    lr = train_cfg.get("learning_rate", 1.0)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ConfigError(f"train.learning_rate={lr!r}: give a positive number (the study used 1.0 with adadelta)")
    lr = float(lr)
    if name == "adadelta":
        # Keras' default rho/epsilon match the Keras 2 Adadelta the study used.
        return keras.optimizers.Adadelta(learning_rate=lr)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=lr)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=float(train_cfg.get("momentum", 0.0) or 0.0))
    raise ConfigError(f"train.optimizer={name!r}: use one of {list(OPTIMIZERS)}")


def make_loss(train_cfg: dict) -> keras.losses.Loss:
    name = str(train_cfg.get("loss", "categorical_crossentropy")).lower()
    if name not in LOSSES:
        raise ConfigError(f"train.loss={name!r}: use one of {list(LOSSES)}")
    return keras.losses.SparseCategoricalCrossentropy(name=name)


def make_metrics(train_cfg: dict) -> list:
    threshold = float(train_cfg.get("threshold", DEFAULT_THRESHOLD))
    if not 0.0 < threshold < 1.0:
        raise ConfigError(f"train.threshold={threshold}: give a probability strictly between 0 and 1")
    return [
        keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
        DiceCoefficient(class_id=1, threshold=threshold, name="dice"),
    ]


def compile_model(model: keras.Model, train_cfg: dict) -> keras.Model:
    """Compile for training on integer masks: fit(x=float32 (N,H,W,3) in 0..255, y=int (N,H,W)).

    ``train_cfg`` is the `train:` section (optimizer, learning_rate, loss, threshold; optional
    momentum for sgd and jit_compile: True/False, default "auto" = Keras' choice, XLA on GPU unless op
    determinism is on; a training resolves it first, `training.acceleration.resolve_acceleration`).
    Build and compile under `training.acceleration.build_scope` for mixed precision or replication.
    Metrics: "accuracy" (pixel accuracy) and "dice" (class 1, over the epoch). Returns the model.
    """
    model.compile(
        optimizer=make_optimizer(train_cfg),
        loss=make_loss(train_cfg),
        metrics=make_metrics(train_cfg),
        jit_compile=train_cfg.get("jit_compile", "auto"),
    )
    return model
