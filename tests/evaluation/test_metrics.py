"""Per-image metrics against scikit-learn, the edge-case policy, shapes and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    confusion_matrix, f1_score, jaccard_score, precision_score, recall_score, roc_auc_score,
)

from medseglab.evaluation import metrics as metrics_module
from medseglab.evaluation import (
    COLUMNS,
    EMPTY_GT_POLICY,
    ISIC_JACCARD_THRESHOLD,
    auroc_mask,
    auroc_prob,
    confusion_counts,
    dice,
    fpr,
    isic_score,
    jaccard,
    jaccard_isic,
    per_image_metrics,
    precision,
    sensitivity,
    specificity,
)
from medseglab.evaluation.probabilities import dequantize, quantize

DATASETS = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets"
TOL = 1e-9


def blobs(rng, n, h, w, *, noise=0.25):
    """Disc-shaped ground truth and a noisy probability map that mostly agrees with it."""
    yy, xx = np.mgrid[:h, :w]
    gt = np.zeros((n, h, w), bool)
    for i in range(n):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        r = rng.uniform(0.1, 0.4) * min(h, w)
        gt[i] = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
    prob = np.clip(0.2 + 0.6 * gt + rng.normal(0, noise, gt.shape), 0, 1)
    return prob, gt


def sk_counts(pred, gt):
    tn, fp, fn, tp = confusion_matrix(gt.ravel(), pred.ravel(), labels=[0, 1]).ravel()
    return tp, fp, fn, tn


@pytest.mark.parametrize("shape", [(6, 32, 32), (4, 7, 9), (3, 5, 4, 6)])
@pytest.mark.parametrize("dtype", [bool, np.uint8, np.int64, np.float32])
def test_confusion_counts_match_sklearn(shape, dtype):
    # 7x9 has a pixel count that is not a multiple of 8 (the non-popcount path); 5x4x6 is a volume.
    rng = np.random.default_rng(sum(shape))
    pred = (rng.random(shape) < 0.4).astype(dtype)
    gt = (rng.random(shape) < 0.3).astype(dtype)
    counts = confusion_counts(pred, gt)
    for arr in counts:
        assert arr.dtype == np.int64 and arr.shape == (shape[0],)
    for i in range(shape[0]):
        assert tuple(int(c[i]) for c in counts) == tuple(int(v) for v in sk_counts(pred[i], gt[i]))


def test_count_metrics_match_sklearn_and_formulas():
    rng = np.random.default_rng(3)
    prob, gt = blobs(rng, 8, 32, 32)
    pred = prob >= 0.5
    tp, fp, fn, tn = confusion_counts(pred, gt)
    for i in range(8):
        y, p = gt[i].ravel(), pred[i].ravel()
        s_tp, s_fp, s_fn, s_tn = sk_counts(pred[i], gt[i])
        assert abs(dice(tp, fp, fn, tn)[i] - f1_score(y, p)) < TOL
        assert abs(sensitivity(tp, fp, fn, tn)[i] - recall_score(y, p)) < TOL
        assert abs(precision(tp, fp, fn, tn)[i] - precision_score(y, p)) < TOL
        assert abs(specificity(tp, fp, fn, tn)[i] - recall_score(y, p, pos_label=0)) < TOL
        assert abs(fpr(tp, fp, fn, tn)[i] - s_fp / (s_fp + s_tn)) < TOL
        # sklearn's ROC AUC of a 0/1 score is the area under (0,0)-(FPR,TPR)-(1,1): the mask AUROC.
        assert abs(auroc_mask(tp, fp, fn, tn)[i] - roc_auc_score(y, p.astype(float))) < TOL


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
@pytest.mark.parametrize("levels", [None, 11, 3])
def test_auroc_prob_matches_roc_auc_score(dtype, levels):
    # levels=11 / 3 rounds the map to a few values: heavy ties between and within the classes.
    rng = np.random.default_rng(7)
    prob, gt = blobs(rng, 6, 24, 40, noise=0.35)
    if levels is not None:
        prob = np.round(prob * (levels - 1)) / (levels - 1)
    prob = prob.astype(dtype)
    got = auroc_prob(prob, gt)
    for i in range(len(gt)):
        assert abs(got[i] - roc_auc_score(gt[i].ravel(), prob[i].ravel())) < TOL


def test_auroc_prob_uint8_and_grid_paths_are_exact():
    rng = np.random.default_rng(11)
    prob, gt = blobs(rng, 5, 32, 32, noise=0.3)
    codes = quantize(prob)
    on_grid = dequantize(codes)  # float32 values exactly on the q / 255 levels
    expected = [roc_auc_score(gt[i].ravel(), codes[i].ravel()) for i in range(5)]
    np.testing.assert_allclose(auroc_prob(codes, gt), expected, rtol=0, atol=TOL)
    np.testing.assert_allclose(auroc_prob(on_grid, gt), expected, rtol=0, atol=TOL)
    # Off the grid by one ulp in one pixel: the exact rank path must see the broken tie.
    nudged = on_grid.copy()
    nudged[0, 0, 0] = np.nextafter(nudged[0, 0, 0], np.float32(1))
    assert abs(auroc_prob(nudged, gt)[0] - roc_auc_score(gt[0].ravel(), nudged[0].ravel())) < TOL


@pytest.mark.parametrize(
    "make",
    [
        lambda rng, g: np.where(rng.random(g.shape) < 0.3, -0.0, rng.random(g.shape)),  # -0.0 ties +0.0
        lambda rng, g: rng.random(g.shape) * 1e-40,  # subnormal float64 values
        lambda rng, g: np.full(g.shape, 0.3),  # one value: all ties, AUROC 0.5
        lambda rng, g: np.clip(0.5 + 0.3 * g + rng.normal(0, 0.2, g.shape), 0, 1).astype(np.float32),
        lambda rng, g: (rng.integers(0, 40, g.shape) / 39).astype(np.float32),  # ties off the uint8 grid
    ],
)
def test_auroc_prob_float_path_on_awkward_values(make):
    # 96x96 images: enough pixels that the histogram buckets and the sorted subset both matter.
    rng = np.random.default_rng(12)
    gt = rng.random((3, 96, 96)) < np.array([0.05, 0.3, 0.7])[:, None, None]
    prob = make(rng, gt)
    got = auroc_prob(prob, gt)
    for i in range(3):
        assert abs(got[i] - roc_auc_score(gt[i].ravel(), prob[i].ravel())) < TOL


def test_per_image_metrics_table_contract():
    rng = np.random.default_rng(5)
    prob, gt = blobs(rng, 4, 32, 32)
    prob[0, :2, :2] = 0.5  # exactly at the threshold: foreground (p >= threshold)
    table = per_image_metrics(prob, gt.astype(np.uint8), threshold=0.5)
    assert isinstance(table, pd.DataFrame)
    assert tuple(table.columns) == COLUMNS == (
        "tp", "fp", "fn", "tn", "gt_empty", "pred_empty",
        "dice", "sensitivity", "specificity", "precision", "fpr", "auroc_mask", "auroc_prob",
        "jaccard", "jaccard_isic",
    )
    assert all(table[c].dtype == np.int64 for c in ("tp", "fp", "fn", "tn"))
    assert all(table[c].dtype == np.bool_ for c in ("gt_empty", "pred_empty"))
    assert all(table[c].dtype == np.float64 for c in COLUMNS[6:])
    assert len(table) == 4 and list(table.index) == [0, 1, 2, 3]
    counts = confusion_counts(prob >= 0.5, gt)
    for name, arr in zip(("tp", "fp", "fn", "tn"), counts):
        np.testing.assert_array_equal(table[name], arr)
    assert (table[["tp", "fp", "fn", "tn"]].sum(axis=1) == 32 * 32).all()
    for i in range(4):
        assert abs(table.auroc_prob[i] - roc_auc_score(gt[i].ravel(), prob[i].ravel())) < TOL
        assert abs(table.dice[i] - f1_score(gt[i].ravel(), (prob[i] >= 0.5).ravel())) < TOL


def test_threshold_moves_the_mask():
    rng = np.random.default_rng(8)
    prob, gt = blobs(rng, 3, 16, 16)
    low, high = per_image_metrics(prob, gt, 0.2), per_image_metrics(prob, gt, 0.8)
    assert (low.tp + low.fp > high.tp + high.fp).all()
    np.testing.assert_array_equal(high.tp + high.fp, (prob >= 0.8).sum(axis=(1, 2)))
    np.testing.assert_array_equal(low.auroc_prob, high.auroc_prob)  # threshold-free


def test_uint8_maps_give_the_same_table_as_their_float_levels():
    rng = np.random.default_rng(9)
    prob, gt = blobs(rng, 4, 32, 32)
    codes = quantize(prob)
    codes[0, 0, :4] = [127, 128, 129, 0]  # around threshold 0.5 = 127.5 / 255
    pd.testing.assert_frame_equal(per_image_metrics(codes, gt), per_image_metrics(dequantize(codes), gt))


H, W = 8, 8
FULL, NONE = np.ones((H, W), bool), np.zeros((H, W), bool)
SQUARE = np.zeros((H, W), bool)
SQUARE[2:5, 2:5] = True

NAN = float("nan")
# name: (prob, gt, expected values of the defined-or-NaN metrics)
EDGE_CASES = {
    # empty ground truth, something predicted: Dice/sens/AUROCs NaN, spec/FPR defined, precision 0
    "empty_gt": (SQUARE * 0.9, NONE, dict(dice=NAN, sensitivity=NAN, auroc_mask=NAN, auroc_prob=NAN,
                                          specificity=55 / 64, fpr=9 / 64, precision=0.0)),
    # empty ground truth, empty prediction (all background): still NaN, not 1
    "all_background": (NONE * 0.1, NONE, dict(dice=NAN, sensitivity=NAN, auroc_mask=NAN, auroc_prob=NAN,
                                              specificity=1.0, fpr=0.0, precision=NAN)),
    # empty prediction of a real target: precision NaN, Dice and sensitivity 0
    "empty_pred": (NONE * 0.2, SQUARE, dict(dice=0.0, sensitivity=0.0, precision=NAN, specificity=1.0,
                                            fpr=0.0, auroc_mask=0.5, auroc_prob=0.5)),
    # ground truth all foreground: no negatives, so specificity, FPR and both AUROCs are NaN
    "all_foreground": (FULL * 0.8, FULL, dict(dice=1.0, sensitivity=1.0, precision=1.0, specificity=NAN,
                                              fpr=NAN, auroc_mask=NAN, auroc_prob=NAN)),
    "perfect": (SQUARE * 1.0, SQUARE, dict(dice=1.0, sensitivity=1.0, precision=1.0, specificity=1.0,
                                           fpr=0.0, auroc_mask=1.0, auroc_prob=1.0)),
}


@pytest.mark.parametrize("case", list(EDGE_CASES))
def test_edge_cases(case):
    prob, gt, expected = EDGE_CASES[case]
    row = per_image_metrics(prob, gt).iloc[0]
    assert row.gt_empty == (not gt.any()) and row.pred_empty == (not (prob >= 0.5).any())
    for name, value in expected.items():
        if np.isnan(value):
            assert np.isnan(row[name]), f"{case}: {name} should be NaN, got {row[name]}"
        else:
            assert row[name] == pytest.approx(value, abs=TOL), f"{case}: {name}"


def test_policy_constant_is_nan_and_is_the_default():
    assert EMPTY_GT_POLICY == "nan"
    assert np.isnan(dice(0, 0, 0, 10)) and np.isnan(dice(0, 0, 0, 10, empty=EMPTY_GT_POLICY))


@pytest.mark.parametrize(
    "gt, pred, expected",
    [
        (NONE, NONE, dict(dice=1.0, sensitivity=1.0, auroc_mask=1.0, auroc_prob=1.0, precision=1.0)),
        (NONE, SQUARE, dict(dice=0.0, sensitivity=0.0, auroc_mask=0.0, auroc_prob=0.0, precision=0.0)),
        (FULL, FULL, dict(specificity=1.0, fpr=0.0, auroc_mask=1.0)),
        (FULL, SQUARE, dict(specificity=0.0, fpr=1.0, auroc_mask=0.0, auroc_prob=0.0)),
        (SQUARE, NONE, dict(precision=0.0, dice=0.0)),
    ],
)
def test_agree_policy_is_isic_style(gt, pred, expected):
    row = per_image_metrics(pred.astype(float), gt, empty="agree").iloc[0]
    for name, value in expected.items():
        assert row[name] == value, name
    assert not row.isna().any()


def test_numeric_policy_fills_only_undefined_values():
    table = per_image_metrics(np.stack([SQUARE * 0.9, SQUARE * 0.9]), np.stack([NONE, SQUARE]), empty=1.0)
    assert table.dice.tolist() == [1.0, 1.0] and table.sensitivity[0] == 1.0
    assert table.precision[0] == 0.0  # defined (something predicted), so not replaced
    assert table.specificity[0] == pytest.approx(55 / 64)


def test_count_functions_broadcast_and_keep_scalars():
    assert dice(3, 1, 1, 10) == pytest.approx(6 / 8)
    assert np.ndim(sensitivity(3, 1, 1, 10)) == 0
    out = specificity(np.array([[1, 2]]), 0, 0, np.array([[4], [5]]))
    assert out.shape == (2, 2) and np.all(out == 1.0)
    np.testing.assert_allclose(fpr([0, 1], [1, 1], [0, 0], [3, 0]), [0.25, 1.0])


def test_single_image_equals_batch_of_one():
    rng = np.random.default_rng(2)
    prob, gt = blobs(rng, 3, 16, 16)
    batch = per_image_metrics(prob, gt)
    single = per_image_metrics(prob[1], gt[1])
    assert len(single) == 1
    pd.testing.assert_frame_equal(single, batch.iloc[[1]].reset_index(drop=True))
    counts = confusion_counts(prob[1] >= 0.5, gt[1])
    assert counts.tp.shape == (1,) and counts.tp[0] == batch.tp[1]
    assert auroc_prob(prob[1], gt[1]).shape == (1,)


def test_empty_batch_gives_empty_table():
    table = per_image_metrics(np.zeros((0, 4, 4)), np.zeros((0, 4, 4), bool))
    assert len(table) == 0 and tuple(table.columns) == COLUMNS


def test_chunked_batches_equal_one_pass(monkeypatch):
    rng = np.random.default_rng(4)
    prob, gt = blobs(rng, 7, 16, 16)
    whole = per_image_metrics(prob, gt)
    monkeypatch.setattr(metrics_module, "CHUNK_PIXELS", 3 * 16 * 16)  # chunks of 3 images
    monkeypatch.setenv("MEDSEGLAB_NO_PROGRESS", "1")
    pd.testing.assert_frame_equal(per_image_metrics(prob, gt), whole)


@pytest.mark.parametrize(
    "prob, gt, message",
    [
        (np.zeros((2, 4, 4)), np.zeros((2, 4, 5)), "shape"),
        (np.zeros((2, 4, 4)), np.full((2, 4, 4), 2, np.uint8), "binary"),
        (np.zeros((2, 4, 4)), np.full((2, 4, 4), 255, np.uint8), "mask > 0"),
        (np.zeros((2, 4, 4)), np.full((2, 4, 4), -1), "binary"),
        (np.zeros((2, 4, 4)), np.full((2, 4, 4), 0.5), "binary"),
        (np.full((2, 4, 4), 1.5), np.zeros((2, 4, 4)), r"\[0, 1\]"),
        (np.full((2, 4, 4), np.nan), np.zeros((2, 4, 4)), "NaN"),
        (np.zeros((2, 4, 4), np.int32), np.zeros((2, 4, 4)), "dtype"),
        (np.zeros(16), np.zeros(16), "one image"),
    ],
)
def test_bad_input_raises_clear_value_error(prob, gt, message):
    with pytest.raises(ValueError, match=message):
        per_image_metrics(prob, gt)


def test_bad_arguments_raise_value_error():
    prob, gt = np.zeros((1, 4, 4)), np.zeros((1, 4, 4))
    with pytest.raises(ValueError, match="threshold"):
        per_image_metrics(prob, gt, threshold=1.5)
    with pytest.raises(ValueError, match="empty"):
        per_image_metrics(prob, gt, empty="one")
    with pytest.raises(ValueError, match="shape"):
        confusion_counts(np.zeros((1, 4, 4), bool), np.zeros((1, 4, 3), bool))
    with pytest.raises(ValueError, match="pred must be binary"):
        confusion_counts(np.full((1, 4, 4), 3), np.zeros((1, 4, 4), bool))
    with pytest.raises(ValueError, match="non-negative"):
        dice(-1, 0, 0, 0)


def test_real_isic_masks_match_sklearn(shared_dataset):
    folder = shared_dataset("isic2018/ISIC2018_Task1_Training_GroundTruth", root=DATASETS)
    from PIL import Image

    files = sorted(folder.glob("*_segmentation.png"))[:4]
    gt = np.stack([np.asarray(Image.open(f).convert("L").resize((64, 64), Image.NEAREST)) > 127 for f in files])
    rng = np.random.default_rng(0)
    prob = np.clip(0.15 + 0.7 * gt + rng.normal(0, 0.3, gt.shape), 0, 1).astype(np.float32)
    table = per_image_metrics(prob, gt)
    for i in range(len(files)):
        tp, fp, fn, tn = sk_counts(prob[i] >= 0.5, gt[i])
        assert (table.tp[i], table.fp[i], table.fn[i], table.tn[i]) == (tp, fp, fn, tn)
        assert abs(table.auroc_prob[i] - roc_auc_score(gt[i].ravel(), prob[i].ravel())) < TOL


# --- ISIC 2018 Task 1: thresholded Jaccard ------------------------------------------------------


def isic_reference(pred, gt, threshold=0.65):
    """The challenge score the independent way: scikit-learn's Jaccard per image, 0 below the threshold, mean
    (every ground truth here has a target, as in ISIC 2018)."""
    assert all(g.any() for g in gt)
    per_image = [jaccard_score(g.ravel(), p.ravel()) for p, g in zip(pred, gt)]
    thresholded = [j if j >= threshold else 0.0 for j in per_image]
    return np.array(per_image), np.array(thresholded), float(np.mean(thresholded))


@pytest.mark.parametrize("shape", [(12, 32, 32), (9, 7, 9)])
def test_isic_score_matches_sklearn_jaccard_on_random_masks(shape):
    # ground truth random; predictions flip a different share of pixels per image, so per-image
    # Jaccard spans roughly 0.3..1 and the 0.65 cut matters on both sides
    rng = np.random.default_rng(shape[0])
    gt = rng.random(shape) < 0.5
    flip = rng.random(shape) < np.linspace(0.0, 0.4, shape[0])[:, None, None]
    pred = gt ^ flip
    ref_j, ref_isic, ref_score = isic_reference(pred, gt)
    assert (ref_j < ISIC_JACCARD_THRESHOLD).any() and (ref_j >= ISIC_JACCARD_THRESHOLD).any()
    counts = confusion_counts(pred, gt)
    np.testing.assert_allclose(jaccard(*counts), ref_j, rtol=0, atol=TOL)
    np.testing.assert_allclose(jaccard_isic(*counts), ref_isic, rtol=0, atol=TOL)
    assert abs(isic_score(*counts) - ref_score) < TOL
    table = per_image_metrics(pred.astype(np.float32), gt)
    np.testing.assert_allclose(table["jaccard"], ref_j, rtol=0, atol=TOL)
    np.testing.assert_allclose(table["jaccard_isic"], ref_isic, rtol=0, atol=TOL)
    assert abs(table["jaccard_isic"].mean() - ref_score) < TOL
    # Jaccard and Dice are one function of each other: J = D / (2 - D)
    np.testing.assert_allclose(table["jaccard"], table["dice"] / (2 - table["dice"]), rtol=0, atol=TOL)


def test_isic_threshold_is_inclusive_and_a_parameter():
    # 13 / (13 + 7) = 0.65 exactly: kept; 0.6 below: 0
    assert jaccard_isic(13, 4, 3, 80) == pytest.approx(0.65, abs=0) and jaccard_isic(12, 4, 4, 80) == 0.0
    assert jaccard_isic(12, 4, 4, 80, threshold=0.5) == pytest.approx(0.6)
    assert isic_score([13, 12], [4, 4], [3, 4], [80, 80]) == pytest.approx(0.325)
    with pytest.raises(ValueError, match="threshold"):
        jaccard_isic(1, 0, 0, 1, threshold=1.2)


def test_isic_jaccard_on_empty_ground_truth_follows_the_policy():
    # no target: undefined (NaN) and left out of the score by default; "agree" is ISIC's own 1 / 0
    tp, fp, fn, tn = [0, 0, 30], [0, 5, 2], [0, 0, 3], [64, 59, 29]
    assert np.isnan(jaccard_isic(tp, fp, fn, tn)[:2]).all()
    assert isic_score(tp, fp, fn, tn) == pytest.approx(30 / 35)
    np.testing.assert_array_equal(jaccard_isic(tp, fp, fn, tn, empty="agree")[:2], [1.0, 0.0])
    assert np.isnan(isic_score(0, 3, 0, 61))


def test_real_isic_masks_isic_score_matches_sklearn(shared_dataset):
    folder = shared_dataset("isic2018/ISIC2018_Task1_Training_GroundTruth", root=DATASETS)
    from PIL import Image

    files = sorted(folder.glob("*_segmentation.png"))[:6]
    gt = np.stack([np.asarray(Image.open(f).convert("L").resize((64, 64), Image.NEAREST)) > 127 for f in files])
    rng = np.random.default_rng(1)
    prob = np.clip(0.2 + 0.6 * gt + rng.normal(0, np.linspace(0.1, 0.6, len(files))[:, None, None], gt.shape), 0, 1)
    table = per_image_metrics(prob, gt)
    ref_j, ref_isic, ref_score = isic_reference(prob >= 0.5, gt)
    np.testing.assert_allclose(table["jaccard"], ref_j, rtol=0, atol=TOL)
    np.testing.assert_allclose(table["jaccard_isic"], ref_isic, rtol=0, atol=TOL)
    assert abs(table["jaccard_isic"].mean() - ref_score) < TOL
