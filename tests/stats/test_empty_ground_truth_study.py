"""The empty-ground-truth policy end to end (docs/METRICS.md): a tiny kidney-like study in which most
test slices have no kidney, through `medseglab study` then `medseglab stats` (the public CLI).

Dice, sensitivity and both AUROCs are NaN on an all-zero mask, specificity stays defined, and
Table 1's notes say how many images each metric dropped as undefined.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TINY = ["profiles.demo.image_size=[32,32]", "profiles.demo.epochs=1", "profiles.demo.splits=[0]",
        "profiles.demo.repeats=[0]", "profiles.demo.inits=[tii,lmi]", "datasets.kidney.n_images=30",
        "train.val_fraction=0", "stats.bootstrap=200", "profiles.demo.depletion=null"]
UNDEFINED_ON_EMPTY = ("dice", "sensitivity", "auroc_mask", "auroc_prob")


@pytest.fixture(scope="module")
def study(tmp_path_factory, mlflow_db_template):
    from medseglab.cli import main

    project = tmp_path_factory.mktemp("kidney") / "project"
    project.mkdir()
    shutil.copy(ROOT / "params.yaml", project / "params.yaml")
    shutil.copy(mlflow_db_template, project / "mlflow.db")
    overrides = [arg for item in TINY for arg in ("--set", item)]
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(project)
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{project / 'mlflow.db'}")
        mp.setenv("MEDSEGLAB_NO_PROGRESS", "1")
        mp.setenv("MEDSEGLAB_OFFLINE", "1")
        assert main(["study", "--dataset", "kidney", *overrides]) == 0
        assert main(["stats", "--dataset", "kidney", "--no-plots", *overrides]) == 0
    return project


@pytest.fixture(scope="module")
def per_image(study):
    return pd.read_parquet(study / "results" / "kidney" / "per_image.parquet")


def _dropped_note(study: Path) -> dict[str, dict[str, int]]:
    """{metric display name: {init display name: images dropped}} from Table 1's notes."""
    text = (study / "reports" / "kidney" / "tables" / "table1.md").read_text()
    (line,) = [ln for ln in text.splitlines() if "dropped as undefined, per metric" in ln]
    counts = {}
    for part in line.split(":", 1)[1].rstrip(".").split(";"):
        metric, _, values = part.strip().rpartition(": ")
        counts[metric] = {init: int(n) for init, n in re.findall(r"(\w+) (\d+)", values)}
    return counts


def test_the_test_set_has_empty_and_non_empty_masks(per_image):
    for _, table in per_image.groupby("init"):
        assert 0 < table["gt_empty"].sum() < len(table), table[["image_id", "gt_empty"]]


def test_metrics_on_empty_masks_are_nan_except_specificity(per_image):
    empty, present = per_image[per_image["gt_empty"]], per_image[~per_image["gt_empty"]]
    for metric in UNDEFINED_ON_EMPTY:
        assert empty[metric].isna().all(), metric
        assert present[metric].notna().all(), metric
    assert per_image["specificity"].notna().all()
    assert np.all((empty["specificity"] >= 0) & (empty["specificity"] <= 1))


def test_table1_notes_the_undefined_images_per_metric(study, per_image):
    n_empty = per_image.groupby("init")["gt_empty"].sum().astype(int).to_dict()
    assert n_empty["tii"] == n_empty["lmi"] > 0
    dropped = _dropped_note(study)
    for metric in ("Dice", "Sens", "AUROC"):
        assert dropped[metric] == {"LMI": n_empty["lmi"], "TII": n_empty["tii"]}, (metric, dropped)
    assert dropped["Spec"] == {"LMI": 0, "TII": 0}, dropped


def test_table1_statistics_count_the_values_used(study, per_image):
    """n + n dropped = the test set, per metric and init (what the note summarises)."""
    stats = pd.read_csv(study / "reports" / "kidney" / "tables" / "statistics_describe.csv")
    main = stats[(stats["clinical_label"] == "all") & (stats["ratio"] == 80) & (stats["split"] == 0)]
    assert set(main["metric"]) >= {*UNDEFINED_ON_EMPTY, "specificity"}
    n_test = per_image.groupby("init")["image_id"].nunique().to_dict()
    n_empty = per_image.groupby("init")["gt_empty"].sum().astype(int).to_dict()
    for _, row in main.iterrows():
        init, metric = row["init"], row["metric"]
        if metric in UNDEFINED_ON_EMPTY:
            assert row["n_dropped"] == n_empty[init], (metric, init)
        elif metric == "specificity":
            assert row["n_dropped"] == 0
        assert row["n"] + row["n_dropped"] == n_test[init], (metric, init)
