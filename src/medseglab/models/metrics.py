"""Dice of one class as a streaming Keras metric: tp, fp, fn summed over the epoch, not averaged per batch.

Per-image Dice for the study's tables lives in `medseglab.evaluation`; this one only guides training.
"""

from __future__ import annotations

import keras
from keras import ops

from medseglab.names import DEFAULT_THRESHOLD


@keras.saving.register_keras_serializable(package="medseglab")
class DiceCoefficient(keras.metrics.Metric):
    """2TP / (2TP + FP + FN) of ``class_id`` over everything seen since the last reset.

    Prediction: class-``class_id`` probability >= ``threshold`` (SPEC 4: p >= 0.5).
    Targets: integer masks (N, H, W) or (N, H, W, 1), or one-hot (N, H, W, n_classes).
    No target and no predicted pixel at all: NaN (SPEC 5 policy: undefined, not 0 or 1).
    """

    def __init__(self, class_id: int = 1, threshold: float = DEFAULT_THRESHOLD, name: str = "dice", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.class_id = int(class_id)
        self.threshold = float(threshold)
        # float64: an epoch of 608x416 images passes 2**24 pixels, where float32 counts stop being exact.
        self.tp = self.add_variable(shape=(), initializer="zeros", dtype="float64", name="tp")
        self.fp = self.add_variable(shape=(), initializer="zeros", dtype="float64", name="fp")
        self.fn = self.add_variable(shape=(), initializer="zeros", dtype="float64", name="fn")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.convert_to_tensor(y_true)
        pred = ops.cast(y_pred[..., self.class_id] >= self.threshold, "float64")
        if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == y_pred.shape[-1] and y_pred.shape[-1] > 1:
            true = ops.cast(ops.argmax(y_true, axis=-1) == self.class_id, "float64")
        else:
            if len(y_true.shape) == len(y_pred.shape):
                y_true = ops.squeeze(y_true, axis=-1)
            true = ops.cast(ops.cast(y_true, "int32") == self.class_id, "float64")
        weight = 1.0
        if sample_weight is not None:
            weight = ops.cast(ops.convert_to_tensor(sample_weight), "float64")
            while len(weight.shape) < len(true.shape):
                weight = ops.expand_dims(weight, -1)
        self.tp.assign_add(ops.sum(true * pred * weight))
        self.fp.assign_add(ops.sum((1.0 - true) * pred * weight))
        self.fn.assign_add(ops.sum(true * (1.0 - pred) * weight))

    def result(self):
        denominator = 2.0 * self.tp + self.fp + self.fn
        safe = ops.where(denominator > 0, denominator, 1.0)
        dice = ops.where(denominator > 0, 2.0 * self.tp / safe, float("nan"))
        return ops.cast(dice, self.dtype)

    def reset_state(self):
        for variable in (self.tp, self.fp, self.fn):
            variable.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "class_id": self.class_id, "threshold": self.threshold}
