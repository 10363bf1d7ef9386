"""The test set of a training: batched prediction, per-image metrics, the per-image table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from medseglab.names import DEFAULT_THRESHOLD
from medseglab.progress import bar

KEY_COLUMNS = ["image_id", "group_id", "clinical_label", "dataset", "init", "split", "ratio", "repeat", "run_id"]


def predict_probabilities(model, prepared, image_ids, batch_size: int = 8, desc: str = "predict") -> np.ndarray:
    """Class-1 probability float32 (N, H, W) of the images, predicted in batches (a bar counts images)."""
    image_ids = list(image_ids)
    if not image_ids:
        raise ValueError("no images to predict")
    out: list[np.ndarray] = []
    with bar(total=len(image_ids), desc=desc, unit="img", leave=False) as progress:
        for start in range(0, len(image_ids), batch_size):
            ids = image_ids[start:start + batch_size]
            images = np.asarray(prepared.load_images(ids), dtype=np.float32)
            probs = np.asarray(model.predict_on_batch(images))
            out.append(probs[..., 1].astype(np.float32))
            progress.update(len(ids))
    return np.concatenate(out, axis=0)


def per_image_table(prob: np.ndarray, gt: np.ndarray, image_ids, manifest: pd.DataFrame, key, run_id: str,
                    threshold: float = DEFAULT_THRESHOLD) -> pd.DataFrame:
    """The contract's per-image table: key columns + `per_image_metrics` columns, one row per image."""
    from medseglab.evaluation.metrics import per_image_metrics

    metrics = per_image_metrics(prob, gt, threshold=threshold).reset_index(drop=True)
    info = manifest.set_index("image_id").loc[list(image_ids)]
    keys = pd.DataFrame({
        "image_id": [str(i) for i in image_ids],
        "group_id": info["group_id"].astype(str).to_numpy(),
        "clinical_label": info["clinical_label"].astype(str).to_numpy(),
        "dataset": key.dataset,
        "init": key.init,
        "split": np.int64(key.split),
        "ratio": np.int64(key.ratio),
        "repeat": np.int64(key.repeat),
        "run_id": run_id,
    })
    return pd.concat([keys, metrics], axis=1)
