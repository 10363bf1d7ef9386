"""The chosen split (stats.selection) and a depletion run only on split 0 (the demo profile's grid)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from medseglab.stats.selection import ChosenSplit, main_ratio
from medseglab.stats.summary import StatsOptions

from .conftest import table_from_values


def _model(rng, centre, n=12):
    return {"dice": np.clip(rng.normal(centre, 0.02, n), 0, 1)}


def demo_like_table() -> pd.DataFrame:
    """80:20 on splits 0 and 1 (split 1 better, LMI ~ TII), 20% and 10% only on split 0."""
    rng = np.random.default_rng(0)
    parts = []
    for split, ratio, centre in ((0, 80, 0.80), (1, 80, 0.92), (0, 20, 0.75), (0, 10, 0.70)):
        parts.append(table_from_values({"lmi": _model(rng, centre), "tii": _model(rng, centre + 0.01)},
                                       split=split, ratio=ratio))
    return pd.concat(parts, ignore_index=True)


def test_main_ratio_and_for_ratio():
    assert main_ratio([10, 80, 40]) == 80 and main_ratio([40, 10]) == 40
    with pytest.raises(ValueError):
        main_ratio([])
    chosen = ChosenSplit(1, 80, "Table S1")
    assert chosen.for_ratio(80, [0, 1]) == (1, None)
    split, note = chosen.for_ratio(20, [0])
    assert split == 0 and "the chosen split 1 has no finished LMI and TII trainings" in note
    with pytest.raises(ValueError, match="no split at ratio 60"):
        chosen.for_ratio(60, [])
    assert chosen.line("skin") == "skin: split 1 chosen (Table S1)"


def test_depletion_on_split_0_only_with_split_1_chosen(tmp_path):
    from medseglab.stats.report import write_report

    report = write_report(demo_like_table(), tmp_path, StatsOptions(bootstrap=0), dataset="skin", make_plots=False)
    assert report.chosen_split == 1 and report.ratio == 80
    record = json.loads((tmp_path / "selection.json").read_text())
    assert record["split"] == 1 and record["ratio"] == 80 and record["stage"] == "stats"
    assert [s["split"] for s in record["splits"] if s["chosen"]] == [1] and record["reason"].startswith("split 1")
    assert report.headline["stats.chosen_split"] == 1 and report.headline["stats.chosen_ratio"] == 80

    curve = pd.read_csv(tmp_path / "depletion.csv")
    assert sorted(curve["train_pct"].unique()) == [10, 20, 80]
    assert curve.set_index(["train_pct", "init"])["split"].to_dict() == {
        (10, "tii"): 0, (10, "lmi"): 0, (20, "tii"): 0, (20, "lmi"): 0, (80, "tii"): 1, (80, "lmi"): 1}
    assert not curve["dice_median"].isna().any()
    wide = pd.read_csv(tmp_path / "depletion_dice.csv")
    assert list(wide["train_pct"]) == [10, 20, 80] and not wide[["lmi", "tii"]].isna().any().any()
    depletion = report.metrics["depletion"]
    assert set(depletion) == {"10", "20", "80"}
    assert all(not math.isnan(v) for pct in depletion.values() for v in pct["dice_median"].values())

    table2 = (tmp_path / "tables" / "table2.md").read_text()
    assert "Training % 10, 20 were not run on the chosen split 1" in table2 and "n/a" not in table2
