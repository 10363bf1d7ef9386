"""The Dice estimator of Algorithm 1 without ground truth: features on hand-built masks, the fit,
its JSON round trip, and the cross-fitted evaluation (estimated vs oracle choice) on made-up outputs."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from medseglab.ensemble import estimation
from medseglab.ensemble.estimator import FEATURES, DiceEstimator, estimate, estimated_choice, image_features
from medseglab.ensemble.source import split_choices
from medseglab.errors import UserError
from medseglab.names import CANDIDATES


def _square(n, r0, r1, c0, c1, size=10):
    out = np.zeros((n, size, size), np.float32)
    out[:, r0:r1, c0:c1] = 1.0
    return out


def test_features_by_hand():
    # LMI repeats: the same 4x4 square (agree 1); TII repeats: 4x4 and 4x2 inside it (Dice 2*8/(16+8) = 2/3).
    lmi = np.stack([_square(1, 0, 4, 0, 4), _square(1, 0, 4, 0, 4)])
    tii = np.stack([_square(1, 0, 4, 0, 4), _square(1, 0, 4, 0, 2)])
    f = image_features(lmi, tii, combine="intersection", threshold=0.5).iloc[0]
    assert f["agree_repeats_lmi"] == 1.0
    assert f["agree_repeats_tii"] == pytest.approx(2 / 3)
    # combined: LMI 16 px, TII 8 px (intersection of its repeats): Dice 2*8/24
    assert f["agree_inits"] == pytest.approx(2 / 3)
    assert f["area_lmi"] == pytest.approx(0.16) and f["area_tii"] == pytest.approx(0.08)
    assert f["area_union"] == pytest.approx(0.16) and f["area_intersection"] == pytest.approx(0.08)
    # consensus = mean of the 4 maps >= 0.5: columns 0-1 (4/4) and 2-3 (3/4) -> the 16 px square
    assert f["consensus_lmi"] == 1.0 and f["consensus_tii"] == pytest.approx(2 / 3)
    assert f["margin_lmi"] == 1.0  # 0/1 maps are sure everywhere


def test_candidate_features_know_no_candidate_identity():
    from medseglab.ensemble.estimator import candidate_features

    lmi = np.stack([_square(1, 0, 4, 0, 4), _square(1, 0, 4, 0, 4)])
    tii = np.stack([_square(1, 0, 4, 0, 4), _square(1, 0, 4, 0, 2)])
    f = image_features(lmi, tii)
    assert candidate_features(f, "lmi")[0].tolist() == pytest.approx([1.0, 2 / 3, 1.0, 0.16, 1.0])
    assert candidate_features(f, "tii")[0, 0] == pytest.approx(2 / 3)
    assert candidate_features(f, "union")[0, 0] == pytest.approx((1 + 2 / 3) / 2)  # both inits' repeats


def test_features_of_empty_masks_are_agreement_one():
    empty = np.zeros((2, 3, 8, 8), np.uint8)
    f = image_features(empty, empty)
    assert len(f) == 3
    assert (f[["agree_repeats_lmi", "agree_inits", "consensus_union", "margin_tii"]] == 1.0).all().all()
    assert (f["area_lmi"] == 0).all()


def test_features_reject_misaligned_inits():
    with pytest.raises(ValueError, match="same images"):
        image_features(np.zeros((2, 3, 8, 8)), np.zeros((2, 4, 8, 8)))


def test_margin_is_low_for_unsure_maps():
    sure = np.stack([np.full((1, 6, 6), 0.95, np.float32)] * 2)
    unsure = np.stack([np.full((1, 6, 6), 0.55, np.float32)] * 2)
    f = image_features(sure, unsure)
    assert f["margin_lmi"].iloc[0] == pytest.approx(0.9, abs=1e-6)
    assert f["margin_tii"].iloc[0] == pytest.approx(0.1, abs=1e-6)


def _synthetic(n, rng):
    """Features and Dice with a known link: Dice_c = 0.2 + 0.7 * consensus_c (+ noise, a few outliers)."""
    cols = {}
    for name in ("agree_repeats_lmi", "agree_repeats_tii", "agree_inits"):
        cols[name] = rng.random(n)
    dice = {}
    for cand in CANDIDATES:
        cols[f"consensus_{cand}"] = rng.random(n)
        cols[f"area_{cand}"] = rng.random(n) * 0.5
        cols[f"margin_{cand}"] = rng.random(n)
        dice[f"dice_{cand}"] = 0.2 + 0.7 * cols[f"consensus_{cand}"] + rng.normal(0, 0.02, n)
    dice = pd.DataFrame(dice)
    dice.iloc[:5] = 0.0  # gross failures: Huber keeps the slope
    dice.iloc[5, 0] = np.nan  # empty ground truth: left out
    return pd.DataFrame(cols), dice


def test_fit_recovers_a_known_link_and_is_robust():
    rng = np.random.default_rng(0)
    features, dice = _synthetic(200, rng)
    est = DiceEstimator.fit(features, dice, info={"split": 0})
    assert est.n_fit == 199
    test_f, test_d = _synthetic(100, rng)
    pred = est.predict(test_f)
    assert pred.shape == (100, 4) and pred.min() >= 0 and pred.max() <= 1
    truth = test_d.to_numpy()[10:]
    assert np.abs(pred[10:] - truth).max() < 0.1
    # the standardised coefficient of consensus dominates
    coef = dict(zip(est.model["features"], est.model["coef"]))
    assert coef["consensus"] > 10 * max(abs(v) for k, v in coef.items() if k != "consensus")


def test_fit_needs_enough_images():
    features, dice = _synthetic(9, np.random.default_rng(1))  # 9 rows, one with empty ground truth
    with pytest.raises(ValueError, match="at least 10"):
        DiceEstimator.fit(features, dice)


def test_json_round_trip(tmp_path):
    features, dice = _synthetic(60, np.random.default_rng(2))
    est = DiceEstimator.fit(features, dice, combine="mean", threshold=0.4, info={"study_run_id": "abc"})
    est.save(tmp_path / "estimator.json")
    back = DiceEstimator.load(tmp_path / "estimator.json")
    assert back.combine == "mean" and back.threshold == 0.4 and back.info == {"study_run_id": "abc"}
    np.testing.assert_allclose(back.predict(features), est.predict(features))
    stored = json.loads((tmp_path / "estimator.json").read_text())
    assert stored["kind"] == "huber-linear" and stored["model"]["features"] == list(FEATURES)
    (tmp_path / "bad.json").write_text('{"kind": "other"}')
    with pytest.raises(UserError, match="bad.json"):
        DiceEstimator.load(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="lacks"):
        est.predict(features.drop(columns=["margin_tii"]))


def test_estimated_choice_ties_go_to_the_first_candidate():
    picked = estimated_choice(np.array([[0.5, 0.5, 0.5, 0.5], [0.1, 0.2, 0.9, 0.9], [np.nan, 0.1, 0.0, 0.0]]))
    assert list(picked) == ["lmi", "union", "tii"]


def _noisy(gt, rng, flip):
    prob = np.where(gt > 0, 0.9, 0.1).astype(np.float32)
    return np.where(rng.random(gt.shape) < flip, 1.0 - prob, prob).astype(np.float32)


def _fake_study(rng, n_images=90, tests=((0, 60), (30, 90)), size=16):
    """Per split: made-up repeat maps where LMI is good on some images and TII on the others (flip
    rates vary per image), the choice table and the feature table, as the stage makes them."""
    gt = np.zeros((n_images, size, size), np.uint8)
    for i in range(n_images):
        r = 2 + i % 5
        gt[i, size // 2 - r:size // 2 + r, size // 2 - r:size // 2 + r] = 1
    flips = rng.uniform(0.0, 0.35, size=(n_images, 2))
    choices, features = [], []
    for split, (a, b) in enumerate(tests):
        ids = np.array([f"img{i:03d}" for i in range(a, b)])
        maps = {init: np.stack([np.stack([_noisy(gt[i], rng, flips[i, j]) for i in range(a, b)]) for _ in range(2)])
                for j, init in enumerate(("lmi", "tii"))}
        choices.append(split_choices(maps["lmi"], maps["tii"], gt[a:b], ids, combine="intersection",
                                     mask_threshold=0.5, threshold=0.9, split=split, ratio=80))
        feats = image_features(maps["lmi"], maps["tii"])
        feats.insert(0, "image_id", ids)
        feats.insert(0, "split", split)
        features.append(feats)
    return pd.concat(choices, ignore_index=True), pd.concat(features, ignore_index=True)


def test_cross_fit_never_fits_on_the_evaluated_test_images():
    choices, features = _fake_study(np.random.default_rng(3))
    table, estimators, notes = estimation.cross_fit(features, choices, combine="intersection", threshold=0.5)
    assert notes == [] and sorted(estimators) == [0, 1]
    # split 0's test set is img000-059: its estimator is fitted on split 1's rows img060-089 only
    assert estimators[0].info["fit_images"] == 30 and estimators[0].info["fit_from_splits"] == [1]
    assert estimators[1].info["fit_images"] == 30 and estimators[1].info["fit_from_splits"] == [0]
    assert len(table) == len(choices)
    row = table.iloc[0]
    assert row["estimated_choice_dice"] == row[f"dice_{row['estimated_choice']}"]
    assert row["oracle_choice"] == choices.iloc[0]["chosen"]
    # the estimates rank the candidates' true Dice well on these outputs
    report = estimation.evaluation_report(table, 1, estimators, notes)
    assert report["spearman"] > 0.7
    assert report["median_dice"]["oracle_choice"] >= report["median_dice"]["estimated_choice"]
    assert report["estimated_vs_oracle"]["n_better"] == 0  # the oracle's Dice bounds every choice here


def test_cross_fit_with_one_split_gives_no_estimator():
    choices, features = _fake_study(np.random.default_rng(4), tests=((0, 60),))
    table, estimators, notes = estimation.cross_fit(features, choices, combine="intersection", threshold=0.5)
    assert table.empty and estimators == {} and "at least two splits" in notes[0]


def _table(est, oracle, lmi, tii, est_choice, oracle_choice):
    n = len(est)
    frame = pd.DataFrame({"image_id": [f"i{k}" for k in range(n)], "split": 0, "ratio": 80,
                          "estimated_choice": est_choice, "oracle_choice": oracle_choice,
                          "estimated_choice_dice": est, "oracle_choice_dice": oracle,
                          "dice_lmi": lmi, "dice_tii": tii, "dice_union": lmi, "dice_intersection": tii})
    for cand in CANDIDATES:
        frame[f"est_dice_{cand}"] = frame[f"dice_{cand}"] * 0.9
    return frame


def test_evaluate_by_hand():
    frame = _table(est=[0.8, 0.6, 0.9, np.nan], oracle=[0.9, 0.6, 0.95, np.nan], lmi=[0.8, 0.5, 0.9, np.nan],
                   tii=[0.9, 0.6, 0.7, np.nan], est_choice=["lmi", "tii", "lmi", "lmi"],
                   oracle_choice=["tii", "tii", "union", "lmi"])
    out = estimation.evaluate(frame)
    assert out["n_images"] == 3 and out["n_images_empty_gt"] == 1
    assert out["median_dice"] == {"estimated_choice": 0.8, "oracle_choice": 0.9, "best_single": 0.8,
                                  "lmi": 0.8, "tii": 0.7}
    assert out["best_single"] == "lmi"
    assert out["agreement_rate"] == pytest.approx(1 / 3)
    truth = frame.iloc[:3][[f"dice_{c}" for c in CANDIDATES]].to_numpy().ravel()
    assert out["spearman"] == pytest.approx(stats.spearmanr(truth * 0.9, truth).statistic)
    assert out["estimated_vs_oracle"]["n_worse"] == 2 and out["estimated_vs_oracle"]["n_equal"] == 1
    assert out["estimated_vs_oracle"]["p_value"] == pytest.approx(stats.wilcoxon([-0.1, -0.05]).pvalue)
    assert "never be negative" in out["oracle_note"]
    flat = estimation.headline_metrics({**out})
    assert flat["ensemble.estimated.median_dice_oracle"] == 0.9 and "ensemble.estimated.spearman" in flat


def test_stage_writes_the_files(tmp_path):
    from medseglab.ensemble.stage import _estimate_without_gt
    from medseglab.stats.provenance import UNKNOWN

    choices, features = _fake_study(np.random.default_rng(5))
    settings = {"combine": "intersection", "mask_threshold": 0.5}
    out = _estimate_without_gt(choices, features, tmp_path, settings, 1, dataset="skin",
                               info={"study_run_id": "r1", "ratio": 80}, provenance=UNKNOWN)
    assert sorted(p.name for p in out["paths"].values()) == sorted(estimation.FILES)
    table = pd.read_csv(tmp_path / "estimated_choice.csv")
    assert {"est_dice_union", "estimated_choice", "oracle_choice", "estimated_choice_dice",
            "oracle_choice_dice"} <= set(table.columns)
    report = json.loads((tmp_path / "estimator_evaluation.json").read_text())
    assert report["scope"] == "split 1" and report["n_images"] == 60 and set(report["scopes"]) == {"all", "split 0", "split 1"}
    assert (tmp_path / "estimated_vs_oracle.png").read_bytes()[:4] == b"\x89PNG"
    deployable = DiceEstimator.load(tmp_path / "estimator.json")
    assert deployable.info["split"] == 1 and deployable.info["study_run_id"] == "r1"
    # the deployable estimator applied to raw repeat maps gives the table's estimates
    rng = np.random.default_rng(6)
    maps = rng.random((2, 3, 16, 16)).astype(np.float32)
    values, picked = estimate(deployable, maps, maps[::-1])
    assert values.shape == (3, 4) and len(picked) == 3
    assert out["metrics"]["ensemble.estimated.agreement_rate"] == report["agreement_rate"]
    rows = estimation.report_rows(report)  # the dashboard's table: the chosen split first, each scope once
    assert [r["scope"] for r in rows] == ["split 1", "all", "split 0"]
    assert rows[0]["median oracle choice"] == round(report["median_dice"]["oracle_choice"], 4)
    assert estimation.report_rows(None) == []


def test_stage_without_a_second_split_writes_nothing(tmp_path):
    from medseglab.ensemble.stage import _estimate_without_gt
    from medseglab.stats.provenance import UNKNOWN

    choices, features = _fake_study(np.random.default_rng(7), tests=((0, 60),))
    out = _estimate_without_gt(choices, features, tmp_path, {"combine": "intersection", "mask_threshold": 0.5}, 0,
                               dataset="skin", info={}, provenance=UNKNOWN)
    assert out["paths"] == {} and out["report"] is None and list(tmp_path.iterdir()) == []


def test_uint8_and_float_maps_give_the_same_features():
    rng = np.random.default_rng(8)
    maps = rng.random((2, 5, 12, 12)).astype(np.float32)
    stored = np.rint(maps * 255).astype(np.uint8)  # as probabilities.npz keeps them
    a = image_features(stored, stored[::-1], chunk=2)
    b = image_features(stored.astype(np.float32) / 255, stored[::-1], chunk=3)
    pd.testing.assert_frame_equal(a, b)
