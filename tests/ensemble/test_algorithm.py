"""Algorithm 1 on hand-built 10x10 masks whose Dice / AUROC / FPR are worked out by hand."""

import numpy as np
import pytest

from medseglab.ensemble.algorithm import CANDIDATES, algorithm1, candidate_maps, select


def block(pixels=(), shape=(10, 10)):
    """A {0,1} mask with the given flat pixel indices set."""
    mask = np.zeros(shape, np.uint8)
    mask.flat[list(pixels)] = 1
    return mask


GT = list(range(20))          # 20 foreground pixels: flat indices 0..19; 80 background
OUT = list(range(50, 100))    # background pixels to place false positives in


def run(lmi_px, tii_px, gt_px=GT, threshold=0.9):
    lmi = block(pixels=lmi_px)[None].astype(np.float32)
    tii = block(pixels=tii_px)[None].astype(np.float32)
    gt = block(pixels=gt_px)[None]
    return algorithm1(lmi, tii, gt, ["img"], threshold=threshold, split=0, ratio=80).iloc[0]


def test_all_above_picks_highest_auroc_not_highest_dice():
    # LMI misses 1 pixel: Dice 38/39 = 0.974, AUROC (1 + 19/20 - 0) / 2 = 0.975.
    # TII has 2 false positives: Dice 40/42 = 0.952, AUROC (1 + 1 - 2/80) / 2 = 0.9875.
    # union == TII's mask, intersection == LMI's mask: every Dice >= 0.9.
    row = run(GT[1:], GT + OUT[:2])
    assert row["branch"] == "all_above" and row["criterion"] == "auroc"
    assert row["dice_lmi"] == pytest.approx(38 / 39) and row["dice_tii"] == pytest.approx(40 / 42)
    assert row["auroc_lmi"] == pytest.approx(0.975) and row["auroc_tii"] == pytest.approx(0.9875)
    assert row["auroc_union"] == pytest.approx(0.9875) and row["dice_intersection"] == pytest.approx(38 / 39)
    # TII and union tie on AUROC: the tie goes to TII (earlier in CANDIDATES).
    assert row["chosen"] == "tii"
    assert row["chosen_dice"] == pytest.approx(40 / 42)


def test_all_below_picks_highest_dice_intersection():
    # Both models find the same 12 of 20 pixels plus 10 different false positives each:
    # Dice 24/42 each, union 24/52, intersection (no FP) 24/32 = 0.75: all < 0.9.
    row = run(GT[:12] + OUT[:10], GT[:12] + OUT[10:20])
    assert row["branch"] == "all_below" and row["criterion"] == "dice"
    assert row["dice_intersection"] == pytest.approx(0.75)
    assert row["dice_union"] == pytest.approx(24 / 52)
    assert row["chosen"] == "intersection"


def test_mixed_picks_highest_dice_union():
    # LMI finds pixels 0..9, TII 8..17: Dice 20/30 each; union 0..17: 36/38 = 0.947 >= 0.9;
    # intersection 8..9: 4/22. Some Dice >= 0.9, some not -> mixed -> highest Dice.
    row = run(GT[:10], GT[8:18])
    assert row["branch"] == "mixed" and row["criterion"] == "dice"
    assert row["dice_union"] == pytest.approx(36 / 38)
    assert row["dice_intersection"] == pytest.approx(4 / 22)
    assert row["chosen"] == "union"


def test_threshold_is_a_parameter():
    # Same masks as the mixed case: with t = 0.1 every Dice is above -> highest AUROC.
    # AUROC: LMI/TII (1 + 0.5) / 2 = 0.75, union (1 + 0.9) / 2 = 0.95, intersection 0.55.
    row = run(GT[:10], GT[8:18], threshold=0.1)
    assert row["branch"] == "all_above"
    assert row["chosen"] == "union"
    row = run(GT[:10], GT[8:18], threshold=0.95)
    assert row["branch"] == "all_below"


def test_dice_equal_to_threshold_counts_as_above():
    dice = np.array([[0.9, 0.95, 0.95, 0.9]])
    auroc = np.array([[0.99, 0.9, 0.9, 0.9]])
    fpr = np.zeros((1, 4))
    branch, criterion, chosen = select(dice, auroc, fpr, 0.9)
    assert branch[0] == "all_above" and CANDIDATES[chosen[0]] == "lmi"


@pytest.mark.parametrize(
    "lmi_px, tii_px, expected",
    [
        (OUT[:3], OUT[3:5], "intersection"),  # FPR 3/100, 2/100, union 5/100, intersection 0
        ([], OUT[3:5], "lmi"),                # LMI and intersection both 0: the tie goes to LMI
        (OUT[:3], OUT[:2], "tii"),            # TII = intersection = 2/100: tie -> TII
    ],
)
def test_empty_ground_truth_picks_lowest_fpr(lmi_px, tii_px, expected):
    row = run(lmi_px, tii_px, gt_px=[])
    assert row["branch"] == "empty_gt" and row["criterion"] == "fpr"
    assert np.isnan(row["dice_lmi"]) and np.isnan(row["chosen_dice"])
    assert row["fpr_lmi"] == pytest.approx(len(lmi_px) / 100)
    assert row["chosen"] == expected


def test_identical_outputs_tie_to_lmi_in_every_branch():
    for pixels, gt in ((GT, GT), (GT[:5], GT), (GT[:15] + OUT[:1], GT), (OUT[:4], [])):
        row = run(pixels, pixels, gt_px=gt)
        assert row["chosen"] == "lmi", row["branch"]


def test_all_foreground_ground_truth_falls_back_to_dice():
    everything = list(range(100))
    row = run(everything[:95], everything[:99], gt_px=everything)
    assert np.isnan(row["auroc_lmi"]) and row["branch"] == "all_above"
    assert row["criterion"] == "dice" and row["chosen"] == "tii"


def test_vectorised_over_images_with_probability_maps():
    gt = np.stack([block(pixels=GT), block(pixels=GT), block(pixels=[])])
    lmi = np.stack([block(pixels=GT[1:]), block(pixels=GT[:10]), block(pixels=OUT[:3])]).astype(np.float32)
    tii = np.stack([block(pixels=GT + OUT[:2]), block(pixels=GT[8:18]), block(pixels=OUT[3:5])]).astype(np.float32)
    # graded probabilities: 0.6 is foreground, 0.4 background at the 0.5 mask threshold
    table = algorithm1(lmi * 0.2 + 0.4, tii * 0.2 + 0.4, gt, ["a", "b", "c"], threshold=0.9)
    assert list(table["branch"]) == ["all_above", "mixed", "empty_gt"]
    assert list(table["chosen"]) == ["tii", "union", "intersection"]
    assert list(table["image_id"]) == ["a", "b", "c"]
    rows = np.arange(3)
    cols = [CANDIDATES.index(c) for c in table["chosen"]]
    dice = table[[f"dice_{c}" for c in CANDIDATES]].to_numpy()
    np.testing.assert_array_equal(table["chosen_dice"].to_numpy(), dice[rows, cols])


def test_candidate_maps_union_and_intersection():
    a = np.array([[[0.2, 0.7]]], np.float32)
    b = np.array([[[0.6, 0.1]]], np.float32)
    maps = candidate_maps(a, b)
    np.testing.assert_allclose(maps["union"], [[[0.6, 0.7]]])
    np.testing.assert_allclose(maps["intersection"], [[[0.2, 0.1]]])
    with pytest.raises(ValueError, match="N, H, W"):
        candidate_maps(a, b[0])


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="ensemble.threshold"):
        select(np.zeros((1, 4)), np.zeros((1, 4)), np.zeros((1, 4)), 1.5)
    with pytest.raises(ValueError, match="image ids"):
        algorithm1(np.zeros((2, 4, 4)), np.zeros((2, 4, 4)), np.zeros((2, 4, 4), np.uint8), ["only-one"])
