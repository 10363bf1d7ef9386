"""One tuning trial: fits the fit part, scores the validation part per epoch (the pruner's input), never
loads a test image; its score is the median per-image Dice, checked against plain numpy."""

from __future__ import annotations

import keras
import numpy as np
import optuna
import pytest
from optuna_integration import KerasPruningCallback

from medseglab.tuning.trial import MONITOR, fit_and_validation_ids, train_trial

from .conftest import tiny_params

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from medseglab.study.inputs import ensure_prepared_dataset, ensure_splits, study_config

    root = tmp_path_factory.mktemp("tune-data")
    cfg = study_config(tiny_params("profiles.demo.epochs=2"), "skin")
    prepared = ensure_prepared_dataset(cfg, root / "prepared")
    splits, _ = ensure_splits(cfg, prepared, root / "splits")
    return cfg, prepared, splits


class KeepModel(keras.callbacks.Callback):
    def on_train_end(self, logs=None):
        self.kept = self.model


def _numpy_median_dice(model, prepared, ids, threshold=0.5) -> float:
    """Per-image Dice 2TP / (2TP + FP + FN) in plain numpy (empty ground truth left out), then the median."""
    prob = model.predict(np.asarray(prepared.load_images(ids), dtype=np.float32), verbose=0)[..., 1]
    gt = np.asarray(prepared.load_masks(ids)) == 1
    pred = prob >= threshold
    dice = [2 * (p & g).sum() / (2 * (p & g).sum() + (p & ~g).sum() + (~p & g).sum()) for p, g in zip(pred, gt) if g.any()]
    return float(np.median(dice))


def test_trial_scores_validation_images_only(tiny, monkeypatch):
    from medseglab.splits.store import train_test_ids

    cfg, prepared, splits = tiny
    seen: set[str] = set()
    for name in ("load_images", "load_masks"):
        real = getattr(prepared, name)
        monkeypatch.setattr(prepared, name, lambda ids, real=real: (seen.update(map(str, ids)), real(ids))[1])
    history, keep = [], KeepModel()
    value = train_trial(cfg, prepared, splits, "lmi", 0, 80, callbacks=[keep], history=history)

    train_ids, test_ids = train_test_ids(splits, 0, 80)
    _, fit_ids, val_ids = fit_and_validation_ids(cfg, prepared, splits, "lmi", 0, 80)
    assert seen == set(train_ids) and not seen & set(test_ids)
    assert set(fit_ids) | set(val_ids) == set(train_ids) and not set(fit_ids) & set(val_ids) and len(val_ids) >= 3
    assert [row["epoch"] for row in history] == [0, 1] and all(0 <= row[MONITOR] <= 1 for row in history)
    assert value == history[-1][MONITOR]
    monkeypatch.undo()
    assert value == pytest.approx(_numpy_median_dice(keep.kept, prepared, val_ids), abs=1e-9)


def test_validation_part_is_the_one_a_training_holds_out(tiny):
    from medseglab.splits.store import train_test_ids
    from medseglab.tracking.conventions import TrainingKey
    from medseglab.training.validation import split_validation

    cfg, prepared, splits = tiny
    train_ids, _ = train_test_ids(splits, 0, 80)
    groups = prepared.manifest.set_index("image_id").loc[train_ids, "group_id"].astype(str).tolist()
    seed = TrainingKey.make("skin", "lmi", 0, 80, 0).seed(0)
    assert fit_and_validation_ids(cfg, prepared, splits, "lmi", 0, 80) == (seed, *split_validation(train_ids, groups, 0.25, seed))


class PruneAlways:
    """A trial whose pruner always says stop: records what the Keras callback reports."""

    def __init__(self):
        self.reports = []

    def report(self, value, step):
        self.reports.append((value, step))

    def should_prune(self):
        return True


def test_pruning_stops_a_trial_after_the_epoch_it_reports(tiny):
    cfg, prepared, splits = tiny
    trial, history = PruneAlways(), []
    with pytest.raises(optuna.TrialPruned):
        train_trial(dict(cfg, epochs=3), prepared, splits, "lmi", 0, 80,
                    callbacks=[KerasPruningCallback(trial, MONITOR)], history=history)
    assert len(history) == 1 and trial.reports == [(history[0][MONITOR], 0)]
