"""Combined outputs and statistics on real ISIC 2018 lesion masks (../shared/datasets)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medseglab.stats.combined import combined_table
from medseglab.stats.summary import StatsOptions, compute_statistics

ISIC = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "isic2018" / "ISIC2018_Task1_Training_GroundTruth"


@pytest.fixture(scope="module")
def masks(shared_dataset):
    shared_dataset(ISIC.name, root=ISIC.parent)
    from PIL import Image

    files = sorted(ISIC.glob("*_segmentation.png"))[:8]
    arrays = [(np.asarray(Image.open(f).convert("L").resize((64, 64), Image.NEAREST)) > 127).astype(np.uint8) for f in files]
    return [f.name.replace("_segmentation.png", "") for f in files], np.stack(arrays)


def _repeat_probs(gt, shift, noise, seed):
    """A plausible prediction: the lesion shifted by a few pixels, blurred into probabilities."""
    rng = np.random.default_rng(seed)
    prob = np.roll(gt.astype(np.float32), shift, axis=2) * 0.8 + 0.1
    return np.clip(prob + rng.normal(0, noise, gt.shape).astype(np.float32), 0, 1)


def test_combined_outputs_on_real_masks(masks):
    ids, gt = masks
    probs, rows = {}, []
    for init, shifts in (("tii", (1, 2)), ("lmi", (3, 5))):
        for rep, shift in enumerate(shifts):
            run = f"{init}{rep}"
            probs[run] = _repeat_probs(gt, shift, 0.05, seed=rep)
            rows += [{"image_id": i, "group_id": i, "clinical_label": "unknown", "dataset": "skin", "init": init,
                      "split": 0, "ratio": 80, "repeat": rep, "run_id": run} for i in ids]
    table = pd.DataFrame(rows)
    index = {i: k for k, i in enumerate(ids)}

    def load_masks(dataset, wanted):
        return gt[[index[i] for i in wanted]]

    combined = combined_table(table, lambda r: (np.array(ids), probs[r]), load_masks, method="intersection")
    union = combined_table(table, lambda r: (np.array(ids), probs[r]), load_masks, method="union")
    assert len(combined) == 2 * len(ids)
    # the intersection mask lies inside the union mask: fewer (or equal) TP and FP
    assert (combined["tp"].to_numpy() <= union["tp"].to_numpy()).all()
    assert (combined["fp"].to_numpy() <= union["fp"].to_numpy()).all()
    assert ((combined["tp"] + combined["fp"] + combined["fn"] + combined["tn"]) == 64 * 64).all()

    from medseglab.evaluation.metrics import per_image_metrics

    per_repeat = []
    for (init, rep), rows_ in table.groupby(["init", "repeat"]):
        m = per_image_metrics(probs[f"{init}{rep}"], gt)
        per_repeat.append(pd.concat([rows_.reset_index(drop=True), m], axis=1))
    per_repeat = pd.concat(per_repeat, ignore_index=True)
    stats = compute_statistics(per_repeat, StatsOptions(bootstrap=100), combined=combined, by_label=False)
    assert stats.level == "combined"
    dice = stats.compare.loc[stats.compare["metric"].astype(str) == "dice"].iloc[0]
    assert dice["better"] == "tii"  # smaller shifts overlap the lesion better
    assert dice["n_pairs"] == len(ids) and dice["pct_pos"] > 50
