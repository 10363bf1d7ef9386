"""The training's per-image table carries every evaluation column, the ISIC 2018 Jaccard included."""

import numpy as np
import pandas as pd

from medseglab.evaluation import COLUMNS
from medseglab.tracking.conventions import TrainingKey
from medseglab.training.evaluate import KEY_COLUMNS, per_image_table


def test_per_image_table_has_the_jaccard_columns():
    rng = np.random.default_rng(0)
    gt = rng.random((3, 16, 16)) < 0.4
    prob = np.where(rng.random((3, 16, 16)) < 0.8, gt, ~gt).astype(np.float32)
    manifest = pd.DataFrame({"image_id": ["a", "b", "c"], "group_id": ["g", "g", "h"], "clinical_label": "benign"})
    table = per_image_table(prob, gt, ["a", "b", "c"], manifest, TrainingKey.make("skin", "tii", 0, 80, 0), "run")
    assert list(table.columns) == KEY_COLUMNS + list(COLUMNS)
    union = table["tp"] + table["fp"] + table["fn"]
    np.testing.assert_allclose(table["jaccard"], table["tp"] / union)
    np.testing.assert_allclose(table["jaccard_isic"], np.where(table["tp"] / union < 0.65, 0, table["tp"] / union))
