"""Counts, Dice gain and the Wilcoxon test on choice tables built from known metric arrays."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from medseglab.ensemble.algorithm import choice_table
from medseglab.ensemble.summary import (
    choice_counts,
    choices_figure,
    counts_matrix,
    dice_gain,
    headline_metrics,
    summary_markdown,
)


def table(dice_rows, split=0, auroc=None):
    dice = np.array(dice_rows, dtype=float)
    auroc = np.full_like(dice, 0.9) if auroc is None else np.array(auroc, dtype=float)
    fpr = np.tile([0.04, 0.03, 0.05, 0.01], (len(dice), 1))
    ids = [f"s{split}-{i}" for i in range(len(dice))]
    return choice_table({"dice": dice, "auroc": auroc, "fpr": fpr}, ids, threshold=0.9, split=split, ratio=80)


@pytest.fixture
def choices():
    nan = math.nan
    return table(
        [
            [0.50, 0.60, 0.70, 0.40],  # all_below -> union (gain +0.20 vs lmi, +0.10 vs tii)
            [0.80, 0.95, 0.85, 0.70],  # mixed -> tii (+0.15, 0)
            [0.70, 0.60, 0.50, 0.80],  # all_below -> intersection (+0.10, +0.20)
            [0.60, 0.50, 0.40, 0.30],  # all_below -> lmi (0, +0.10)
            [nan, nan, nan, nan],      # empty_gt -> intersection (lowest FPR); no Dice
        ]
    )


def test_counts_overall_and_per_branch(choices):
    counts = choice_counts(choices)
    overall = counts[counts["branch"] == "all"].set_index("output")
    assert overall["count"].to_dict() == {"lmi": 1, "tii": 1, "union": 1, "intersection": 2}
    assert overall["fraction"].sum() == pytest.approx(1.0)
    below = counts[counts["branch"] == "all_below"].set_index("output")["count"]
    assert below.to_dict() == {"lmi": 1, "tii": 0, "union": 1, "intersection": 1}
    empty = counts[counts["branch"] == "empty_gt"].set_index("output")["count"]
    assert empty["intersection"] == 1 and empty.sum() == 1
    above = counts[counts["branch"] == "all_above"]
    assert above["count"].sum() == 0 and above["fraction"].isna().all()
    wide = counts_matrix(counts).set_index("branch")
    assert wide.loc["all", "n_images"] == 5 and wide.loc["mixed", "tii"] == 1


def test_dice_gain_medians_and_wilcoxon(choices):
    gains = dice_gain(choices).set_index("baseline")
    lmi, tii = gains.loc["lmi"], gains.loc["tii"]
    assert lmi["n"] == 4 and tii["n"] == 4  # the empty-ground-truth image has no Dice
    assert lmi["median_chosen"] == pytest.approx(np.median([0.70, 0.95, 0.80, 0.60]))
    assert lmi["median_baseline"] == pytest.approx(np.median([0.50, 0.80, 0.70, 0.60]))
    assert lmi["median_gain"] == pytest.approx(np.median([0.20, 0.15, 0.10, 0.0]))
    assert tii["median_gain"] == pytest.approx(np.median([0.10, 0.0, 0.20, 0.10]))
    assert (lmi["n_better"], lmi["n_equal"], lmi["n_worse"]) == (3, 1, 0)
    expected = stats.wilcoxon([0.20, 0.15, 0.10])  # zero differences dropped
    assert lmi["p_value"] == pytest.approx(expected.pvalue)
    assert lmi["wilcoxon_statistic"] == pytest.approx(expected.statistic)


def test_no_difference_gives_undefined_test_with_note():
    # every image picks LMI (it is best everywhere): no difference vs LMI at all
    choices = table([[0.8, 0.5, 0.6, 0.4], [0.7, 0.6, 0.5, 0.3]])
    gains = dice_gain(choices).set_index("baseline")
    assert math.isnan(gains.loc["lmi", "p_value"]) and "no image differs" in gains.loc["lmi", "note"]
    assert gains.loc["lmi", "median_gain"] == 0.0
    metrics = headline_metrics(choice_counts(choices), dice_gain(choices))
    assert "ensemble.wilcoxon_p_vs_lmi" not in metrics  # NaN is left out, not logged
    assert metrics["ensemble.chosen_fraction.lmi"] == 1.0
    assert metrics["ensemble.median_gain_vs_tii"] == pytest.approx(np.median([0.3, 0.1]))


def test_per_split_scopes():
    choices = pd.concat([table([[0.5, 0.6, 0.7, 0.4]], split=0), table([[0.6, 0.5, 0.4, 0.3]] * 2, split=1)])
    gains = dice_gain(choices)
    assert sorted(gains["scope"].unique()) == ["all", "split 0", "split 1"]
    split1 = gains[(gains["scope"] == "split 1") & (gains["baseline"] == "tii")].iloc[0]
    assert split1["n"] == 2 and split1["median_gain"] == pytest.approx(0.1)


def test_markdown_and_figure(choices, tmp_path):
    counts, gains = choice_counts(choices), dice_gain(choices)
    text = summary_markdown(counts, gains, dataset="skin", threshold=0.9, combine="intersection")
    assert "# Algorithm 1 on `skin`" in text and "mixed" in text
    assert "| all | 1 | 1 | 1 | 2 | 5 |" in text
    path = tmp_path / "choices.png"
    choices_figure(counts, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 2000
