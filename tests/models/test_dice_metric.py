"""The streaming Dice metric: counts over the epoch, every target layout, the empty policy."""

import numpy as np
import pytest

from medseglab.models.metrics import DiceCoefficient


def _probs(p1):
    p1 = np.asarray(p1, "float32")
    return np.stack([1 - p1, p1], axis=-1)


def _dice(true, pred):
    tp = np.sum(true & pred)
    return 2 * tp / (2 * tp + np.sum(~true & pred) + np.sum(true & ~pred))


def test_accumulates_counts_over_batches_not_mean_of_batch_dice():
    rng = np.random.default_rng(0)
    masks = [rng.integers(0, 2, (2, 8, 8)), np.zeros((2, 8, 8), int)]
    masks[1][0, :2, :2] = 1
    p1s = [rng.uniform(size=(2, 8, 8)), rng.uniform(size=(2, 8, 8)) * 0.6]
    metric = DiceCoefficient()
    for mask, p1 in zip(masks, p1s):
        metric.update_state(mask, _probs(p1))
    true = np.concatenate(masks).astype(bool)
    pred = np.concatenate(p1s) >= 0.5
    assert float(metric.result()) == pytest.approx(_dice(true, pred), rel=1e-6)
    batch_mean = np.mean([_dice(m.astype(bool), p >= 0.5) for m, p in zip(masks, p1s)])
    assert float(metric.result()) != pytest.approx(batch_mean, rel=1e-3)


@pytest.mark.parametrize("layout", ["int", "int_channel", "onehot"])
def test_target_layouts_agree(layout):
    mask = np.array([[[0, 1], [1, 1]]])
    p1 = np.array([[[0.9, 0.5], [0.2, 0.7]]])  # p = 0.5 counts as class 1 (SPEC 4: p >= 0.5)
    target = {"int": mask, "int_channel": mask[..., None], "onehot": np.eye(2)[mask]}[layout]
    metric = DiceCoefficient()
    metric.update_state(target, _probs(p1))
    # tp = 2 (0.5, 0.7), fp = 1 (0.9 on background), fn = 1 (0.2)
    assert float(metric.result()) == pytest.approx(4 / 6)


def test_empty_target_and_prediction_is_nan_and_reset_clears():
    metric = DiceCoefficient()
    metric.update_state(np.zeros((1, 4, 4)), _probs(np.zeros((1, 4, 4))))
    assert np.isnan(float(metric.result()))
    metric.update_state(np.ones((1, 4, 4)), _probs(np.ones((1, 4, 4))))
    assert float(metric.result()) == pytest.approx(1.0)
    metric.reset_state()
    assert np.isnan(float(metric.result()))


def test_threshold_and_config_round_trip():
    metric = DiceCoefficient(threshold=0.8, name="dice80")
    clone = DiceCoefficient.from_config(metric.get_config())
    assert (clone.threshold, clone.class_id, clone.name) == (0.8, 1, "dice80")
    clone.update_state(np.ones((1, 2, 2)), _probs(np.full((1, 2, 2), 0.7)))
    assert float(clone.result()) == 0.0


def test_per_image_sample_weight_excludes_an_image():
    mask = np.stack([np.ones((4, 4), int), np.zeros((4, 4), int)])
    p1 = np.stack([np.ones((4, 4)), np.ones((4, 4))])  # image 2: all false positives
    metric = DiceCoefficient()
    metric.update_state(mask, _probs(p1), sample_weight=np.array([1.0, 0.0]))
    assert float(metric.result()) == pytest.approx(1.0)
    metric.update_state(mask, _probs(p1), sample_weight=np.array([1.0, 1.0]))
    assert float(metric.result()) == pytest.approx(2 * 32 / (2 * 32 + 16))
