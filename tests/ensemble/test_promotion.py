"""Ranking a study's candidates for promotion (no MLflow): criterion, ties by lower SD, and the names."""

from __future__ import annotations

import pandas as pd
import pytest

from medseglab.ensemble.promotion import parse_criterion, rank_trainings
from medseglab.errors import UserError
from medseglab.tracking.registry import registered_model_name, source_label


def _table(dice_by_run: dict[tuple[str, int], list[float]]) -> pd.DataFrame:
    rows = []
    for (init, repeat), values in dice_by_run.items():
        for i, dice in enumerate(values):
            rows.append({"image_id": f"i{i}", "init": init, "split": 1, "ratio": 80, "repeat": repeat,
                         "run_id": f"{init}{repeat}", "dice": dice, "sensitivity": 1.0 - dice})
    return pd.DataFrame(rows)


def test_best_median_first_per_init_and_ties_go_to_the_lower_sd():
    table = _table({
        ("lmi", 0): [0.5, 0.7, 0.9],   # median 0.7, wide
        ("lmi", 1): [0.69, 0.7, 0.71],  # median 0.7, narrow: wins the tie
        ("lmi", 2): [0.1, 0.2, 0.3],
        ("tii", 0): [0.8, 0.8, 0.8],
        ("tii", 1): [0.9, 0.9, float("nan")],  # NaN Dice (empty ground truth) is left out
    })
    ranked = rank_trainings(table, "dice_median")
    lmi = ranked[ranked["init"] == "lmi"]
    assert list(lmi["repeat"]) == [1, 0, 2] and list(lmi["rank"]) == [1, 2, 3]
    tii = ranked[ranked["init"] == "tii"]
    assert list(tii["repeat"]) == [1, 0] and tii["n_images"].tolist() == [2, 3]
    assert lmi["score"].iloc[0] == pytest.approx(0.7)


def test_other_criteria_and_a_wrong_one():
    ranked = rank_trainings(_table({("lmi", 0): [0.2, 0.2], ("lmi", 1): [0.9, 0.9]}), "sensitivity_mean")
    assert ranked["repeat"].tolist() == [0, 1]
    assert parse_criterion("auroc_mask_median") == ("auroc_mask", "median")
    with pytest.raises(UserError, match="dice_median"):
        parse_criterion("dice_max")


def test_names_carry_dataset_source_data_and_config():
    name = registered_model_name("skin", "isic2018", "ab" * 32, "cd" * 32, "lmi")
    assert name == "medseglab-skin-isic2018-dabababab-ccdcdcdcd-lmi"
    assert registered_model_name("skin", "synthetic", "ab" * 32, "cd" * 32, "lmi") != name
    assert registered_model_name("skin", "isic2018", "ef" * 32, "cd" * 32, "lmi") != name
    assert registered_model_name("skin", "isic2018", "ab" * 32, "ef" * 32, "lmi") != name
    assert source_label("ISIC-2018") == "isic2018" and source_label(None) == "unknown"
    with pytest.raises(UserError, match="data hash"):
        registered_model_name("skin", "synthetic", "", "cd" * 32, "tii")
