"""The ISIC 2018 Task 1 score in the skin report: table, metrics.json, MLflow headline; not for other datasets."""

import json

import numpy as np
import pandas as pd
import pytest

from medseglab.errors import UserError
from medseglab.stats.challenge import isic_summary, with_jaccard
from medseglab.stats.report import write_report
from medseglab.stats.summary import StatsOptions
from medseglab.stats.synthetic import synthetic_study


def independent_score(table: pd.DataFrame, split: int, ratio: int, init: str) -> tuple[float, float]:
    """(ISIC score, mean Dice) from the pixel counts with plain pandas: Jaccard per training and image,
    0 below 0.65, averaged over the repeats per image, then over the images with a target."""
    rows = table.loc[(table["split"] == split) & (table["ratio"] == ratio) & (table["init"] == init)].copy()
    union = rows["tp"] + rows["fp"] + rows["fn"]
    has_target = (rows["tp"] + rows["fn"]) > 0
    j = (rows["tp"] / union).where(has_target)
    rows["isic"] = j.where(j.isna() | (j >= 0.65), 0.0)
    per_image = rows.groupby("image_id")[["isic", "dice"]].mean()
    return per_image["isic"].mean(), per_image["dice"].mean()


def test_skin_report_has_the_isic_score_beside_dice(tmp_path):
    table = synthetic_study(n_images=30, splits=(0, 1), repeats=(0, 1), seed=5)
    assert "jaccard" not in table  # a table without the columns: computed from its counts
    report = write_report(table, tmp_path, StatsOptions(bootstrap=20), make_plots=False)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    isic, split = metrics["isic2018"], metrics["split"]
    assert isic["threshold"] == 0.65
    for init in ("tii", "lmi"):
        score, dice_mean = independent_score(table, split, 80, init)
        assert isic["score"][init] == pytest.approx(score, abs=1e-12)
        assert isic["dice_mean"][init] == pytest.approx(dice_mean, abs=1e-12)
        assert isic["dice_mean"][init] == pytest.approx(metrics["table1"]["dice"]["mean"][init], abs=1e-12)
        assert 0 < isic["score"][init] < isic["jaccard_mean"][init]  # some images fall below 0.65
        assert isinstance(isic["n"][init], int)
        assert report.headline[f"isic2018.score.{init}"] == pytest.approx(isic["score"][init])
    assert "isic2018.n.tii" not in report.headline
    md = (tmp_path / "tables" / "isic2018.md").read_text()
    assert "ISIC 2018 score" in md and "Dice mean" in md and f"split {split}, 80:20" in md
    assert "ISIC 2018 Task 1" in (tmp_path / "tables" / "index.md").read_text()
    shown = pd.read_csv(tmp_path / "tables" / "isic2018.csv").set_index("init")
    assert float(shown.loc["TII", "ISIC 2018 score"]) == pytest.approx(isic["score"]["tii"], abs=5e-5)


def test_other_datasets_get_no_isic_score(tmp_path):
    table = synthetic_study(datasets=("kidney",), n_images=12, splits=(0,), repeats=(0,), seed=2)
    write_report(table, tmp_path, StatsOptions(bootstrap=0), make_plots=False)
    assert "isic2018" not in json.loads((tmp_path / "metrics.json").read_text())
    assert not (tmp_path / "tables" / "isic2018.md").exists()


def test_combined_level_scores_the_combined_outputs():
    table = with_jaccard(synthetic_study(n_images=10, splits=(0,), repeats=(0,), seed=7))
    combined = table.assign(repeat=-1, n_repeats=1)
    combined.loc[combined["init"] == "tii", "jaccard_isic"] = 0.7  # the table's column wins over its counts
    summary = isic_summary(combined, "combined", 0, 80).set_index("init")
    assert summary.loc["tii", "score"] == pytest.approx(0.7)
    lmi = combined.loc[combined["init"] == "lmi", "jaccard_isic"]
    assert summary.loc["lmi", "score"] == pytest.approx(lmi.mean())
    assert summary.loc["lmi", "n"] == lmi.notna().sum() and summary.loc["lmi", "n_images"] == 10
    j = combined.loc[combined["init"] == "lmi", "jaccard"]
    assert summary.loc["lmi", "n_below"] == int((j < 0.65).sum())
    np.testing.assert_allclose(table["jaccard"], table["dice"] / (2 - table["dice"]), atol=1e-12)


def test_table_without_counts_or_jaccard_is_a_clear_error():
    table = synthetic_study(n_images=4, splits=(0,), repeats=(0,)).drop(columns=["tp"])
    with pytest.raises(UserError, match="tp.*evaluate the study again"):
        with_jaccard(table)


def test_a_table_without_counts_gets_no_isic_table_and_a_warning(tmp_path, caplog):
    table = synthetic_study(n_images=8, splits=(0,), repeats=(0,), seed=1).drop(columns=["tp", "fp", "fn", "tn"])
    with caplog.at_level("WARNING"):
        write_report(table, tmp_path, StatsOptions(bootstrap=0), make_plots=False)
    assert "no ISIC 2018 score" in caplog.text
    assert "isic2018" not in json.loads((tmp_path / "metrics.json").read_text())
