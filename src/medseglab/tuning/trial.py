"""One tuning trial: train on the fit part of a train set, score the validation part.

The validation part is the one `medseglab train` holds out of the same train set (`train.val_fraction`,
whole groups, the training key's seed); the test images of the split are never loaded. The score is
the median per-image Dice of the validation images (empty ground truth left out, SPEC 5), computed
after every epoch: Optuna's pruner reads it each epoch (`KerasPruningCallback`) and the last
epoch's value is the trial's value.
"""

from __future__ import annotations

import keras
import numpy as np

from medseglab.errors import ConfigError

MONITOR = "val_dice_median"  # the per-epoch score: median per-image Dice of the validation images


class ValidationDice(keras.callbacks.Callback):
    """Puts the median per-image validation Dice into the epoch's logs as ``val_dice_median`` (the
    callbacks after it, history, MLflow and pruning, read it from there)."""

    def __init__(self, prepared, val_ids, threshold: float, batch_size: int = 8):
        super().__init__()
        self.prepared, self.val_ids = prepared, list(val_ids)
        self.threshold, self.batch_size = float(threshold), int(batch_size)
        self.gt = np.asarray(prepared.load_masks(self.val_ids), dtype=np.uint8)

    def on_epoch_end(self, epoch, logs=None):
        from medseglab.evaluation.metrics import per_image_metrics
        from medseglab.training.evaluate import predict_probabilities

        prob = predict_probabilities(self.model, self.prepared, self.val_ids, self.batch_size, desc="validation")
        dice = per_image_metrics(prob, self.gt, threshold=self.threshold)["dice"].dropna()
        if logs is not None:
            logs[MONITOR] = float(dice.median())


def fit_and_validation_ids(cfg: dict, prepared, splits, init: str, split: int, ratio: int):
    """(seed, fit_ids, val_ids) of the train set of (split, ratio): the split `medseglab train` makes
    for that training (repeat 0). A ConfigError when there is no validation part to score."""
    from medseglab.splits.store import train_test_ids
    from medseglab.tracking.conventions import TrainingKey
    from medseglab.training.validation import split_validation

    train_cfg = cfg.get("train") or {}
    seed = TrainingKey.make(cfg["name"], init, split, ratio, 0).seed(int(train_cfg.get("seed", 0)))
    train_ids, _test_ids = train_test_ids(splits, split, ratio)  # the test part is never used by tuning
    manifest = prepared.manifest.set_index("image_id")
    groups = manifest.loc[train_ids, "group_id"].astype(str).tolist()
    fraction = float(train_cfg.get("val_fraction") or 0.0)
    fit_ids, val_ids = split_validation(train_ids, groups, fraction, seed)
    if not val_ids or not fit_ids:
        raise ConfigError(f"train.val_fraction={fraction}: the train set of split {split} at ratio {ratio} "
                          f"({len(train_ids)} images) leaves {len(fit_ids)} to fit and {len(val_ids)} to validate; "
                          "tuning scores the validation part: raise train.val_fraction (e.g. 0.2) or use more images")
    if not (manifest.loc[val_ids, "target_fraction"] > 0).any():
        raise ConfigError(f"the validation part of split {split} ({len(val_ids)} images) has no image with a target, "
                          "so its Dice is undefined; raise train.val_fraction or use more images")
    return seed, fit_ids, val_ids


def train_trial(cfg: dict, prepared, splits, init: str, split: int, ratio: int, *, callbacks=(),
                history: list | None = None, desc: str = "trial") -> float:
    """Train one model of config ``cfg`` and return the last epoch's median validation Dice.

    ``callbacks`` run after the score is in the logs (MLflow logging, pruning); ``history`` receives
    one row per epoch."""
    from medseglab.models import build_vgg_unet, compile_model
    from medseglab.names import mask_threshold
    from medseglab.training.callbacks import HistoryRecorder, ProgressBar
    from medseglab.training.feeding import make_batches
    from medseglab.training.train import _seed_everything

    train_cfg = cfg.get("train") or {}
    seed, fit_ids, val_ids = fit_and_validation_ids(cfg, prepared, splits, init, split, ratio)
    width, height = (int(v) for v in cfg["image_size"])
    epochs = int(cfg["epochs"])
    if epochs < 1:
        raise ConfigError(f"epochs={epochs}: a trial needs at least 1 (tune.space.epochs low)")
    _seed_everything(seed, bool(train_cfg.get("deterministic", True)))
    model, _weights = build_vgg_unet((height, width, 3), 2, init, train_cfg.get("weights_path"), seed)
    compile_model(model, train_cfg)
    feeder = make_batches(prepared, fit_ids, int(train_cfg.get("batch_size", 2)), seed, cfg["image_size"],
                          in_memory_mb=train_cfg.get("in_memory_mb"), workers=train_cfg.get("workers"),
                          augment=train_cfg.get("augment"))
    history = [] if history is None else history
    progress = ProgressBar(desc, epochs, 0, len(feeder))
    steps = [ValidationDice(prepared, val_ids, mask_threshold(cfg)), HistoryRecorder(history), progress, *callbacks]
    try:
        model.fit(feeder, epochs=epochs, callbacks=steps, shuffle=False, verbose=0)
    finally:
        progress.on_train_end()
    return float(history[-1][MONITOR])
