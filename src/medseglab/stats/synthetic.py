"""Synthetic study tables with the per-image table's columns, for tests and benchmarks.

Metrics are computed from simulated pixel counts with the SPEC 5 formulas, so the NaN pattern
(empty ground truth, empty prediction) and the ties (perfect masks: Dice = 1) look like a real
study's. TII gets a better mean sensitivity than LMI (``effect``), so tests can find it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from medseglab.names import LMI, TII

LABELS = ("benign", "malignant", "intermediate")


def synthetic_study(
    *,
    datasets: Sequence[str] = ("skin",),
    ratios: Sequence[int] = (80,),
    splits: Sequence[int] = (0, 1),
    repeats: Sequence[int] = (0, 1, 2),
    inits: Sequence[str] = (TII, LMI),
    n_images: int = 40,
    pixels: int = 64 * 64,
    empty_fraction: float = 0.1,
    perfect_fraction: float = 0.1,
    effect: float = 0.08,
    labels: Sequence[str] = LABELS,
    depletion_grows_test: bool = True,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per (dataset, init, split, ratio, repeat, test image); ~1 s per 2M rows.

    ``n_images`` is the 80:20 test-set size; with ``depletion_grows_test`` the test set of a
    depletion ratio r grows like the real one ((100 - r) / 20 times), else it stays n_images."""
    rng = np.random.default_rng(seed)
    models = [
        (d, i, s, r, k) for d in datasets for r in ratios for s in splits for i in inits for k in repeats
    ]
    n_models = len(models)
    # The test set of a regime: image ids drawn from a pool so that splits overlap partly.
    pool = n_images * 2
    blocks = []
    test_sets: dict[tuple, np.ndarray] = {}
    for d in datasets:
        for s in splits:
            for r in ratios:
                size = int(round(n_images * (100 - r) / 20)) if r < 80 and depletion_grows_test else n_images
                start = (s * n_images // 2) % pool
                test_sets[(d, s, r)] = (start + np.arange(size)) % (pool + size)
    for m, (d, i, s, r, k) in enumerate(models):
        ids = test_sets[(d, s, r)]
        blocks.append((m, ids))
    model_index = np.concatenate([np.full(ids.size, m, dtype=np.int64) for m, ids in blocks])
    image_num = np.concatenate([ids for _, ids in blocks])
    n = model_index.size
    meta = pd.DataFrame(models, columns=["dataset", "init", "split", "ratio", "repeat"])
    frame = meta.iloc[model_index].reset_index(drop=True)

    # Image properties depend only on (dataset, image): same truth for every model.
    dataset_code = pd.Categorical(frame["dataset"], categories=list(datasets)).codes.astype(np.int64)
    key = dataset_code * 1_000_003 + image_num
    img_rng = np.random.default_rng(seed + 1)
    uniq, inverse = np.unique(key, return_inverse=True)
    frac = img_rng.uniform(0.05, 0.5, size=uniq.size)
    empty = img_rng.random(uniq.size) < empty_fraction
    label = img_rng.integers(0, len(labels), size=uniq.size)
    gt = np.where(empty, 0, np.round(frac * pixels)).astype(np.int64)[inverse]

    tii = (frame["init"] == "tii").to_numpy()
    sens = np.clip(rng.beta(6, 2, size=n) + np.where(tii, effect, 0.0), 0, 1)
    fpr = rng.beta(1, 60, size=n)
    perfect = rng.random(n) < perfect_fraction
    sens[perfect], fpr[perfect] = 1.0, 0.0
    tp = rng.binomial(gt, sens)
    fp = rng.binomial(pixels - gt, fpr)
    fn = gt - tp
    tn = pixels - gt - fp
    with np.errstate(divide="ignore", invalid="ignore"):
        dice = np.where(gt > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
        sensitivity = np.where(gt > 0, tp / gt, np.nan)
        specificity = tn / (tn + fp)
        precision = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
        fpr_v = fp / (fp + tn)
    auroc_mask = np.where(gt > 0, (1 + sensitivity - fpr_v) / 2, np.nan)
    auroc_prob = np.where(gt > 0, np.clip(auroc_mask + rng.normal(0.02, 0.02, size=n), 0, 1), np.nan)

    frame["image_id"] = np.char.add("img", image_num.astype(str))
    frame["group_id"] = frame["image_id"]
    frame["clinical_label"] = np.asarray(labels, dtype=object)[label[inverse]]
    frame["run_id"] = np.char.add("run", model_index.astype(str))
    frame["tp"], frame["fp"], frame["fn"], frame["tn"] = tp, fp, fn, tn
    frame["gt_empty"] = gt == 0
    frame["pred_empty"] = (tp + fp) == 0
    frame["dice"], frame["sensitivity"], frame["specificity"] = dice, sensitivity, specificity
    frame["precision"], frame["fpr"] = precision, fpr_v
    frame["auroc_mask"], frame["auroc_prob"] = auroc_mask, auroc_prob
    cols = ["image_id", "group_id", "clinical_label", "dataset", "init", "split", "ratio", "repeat", "run_id",
            "tp", "fp", "fn", "tn", "gt_empty", "pred_empty", "dice", "sensitivity", "specificity",
            "precision", "fpr", "auroc_mask", "auroc_prob"]
    return frame[cols]
