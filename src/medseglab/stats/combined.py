"""Combined outputs per model (SPEC 4): the repeats' probability maps combined per test image,
scored against the ground truth with the evaluation package's ``per_image_metrics``.

Input: the study's per-image table (to find each model's repeats and run ids), a loader of a
run's ``probabilities.npz`` and a loader of the ground-truth masks. Output: one row per model
(dataset, init, split, ratio) and test image, with the per-image table's columns (``repeat`` =
-1, ``run_id`` = the repeats' run ids joined by ``+``) plus ``n_repeats`` and ``combine``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from medseglab.names import DEFAULT_THRESHOLD
from medseglab.progress import bar
from medseglab.stats.combine import combine_repeats
from medseglab.tracking.repeats import find_prepared, stack_repeats

MODEL_KEYS = ["dataset", "init", "split", "ratio"]
COMBINED_REPEAT = -1
CHUNK_BYTES = 256 << 20  # bound the float32 stack of one chunk of images

ProbLoader = Callable[[str], tuple[np.ndarray, np.ndarray]]
MaskLoader = Callable[[str, np.ndarray], np.ndarray]


def combined_table(
    per_repeat: pd.DataFrame,
    load_probs: ProbLoader,
    load_masks: MaskLoader,
    *,
    method: str = "intersection",
    threshold: float = DEFAULT_THRESHOLD,
) -> pd.DataFrame:
    """Per-image metrics of every model's combined output (see the module docstring).

    ``load_probs(run_id) -> (image_ids, prob (N, H, W) uint8 or float)``;
    ``load_masks(dataset, image_ids) -> uint8 (N, H, W) {0, 1}`` in the given order.
    """
    from medseglab.data.errors import DataError
    from medseglab.evaluation.metrics import per_image_metrics

    if "run_id" not in per_repeat.columns:
        raise DataError("the per-image table has no run_id column: cannot find the repeats' probability maps")
    meta_cols = ["image_id", "group_id", "clinical_label"]
    models = per_repeat.groupby(MODEL_KEYS, sort=True, observed=True)
    parts = []
    for key, rows in bar(models, total=models.ngroups, desc="combine repeats", unit="model"):
        run_ids = list(dict.fromkeys(rows["run_id"].astype(str)))
        ids, stack = stack_repeats(run_ids, load_probs)
        gt = np.asarray(load_masks(str(key[0]), ids))
        if gt.shape != stack.shape[1:]:
            raise DataError(
                f"{key[0]}: ground-truth masks are {gt.shape[1:]} but the probability maps of run {run_ids[0]} are "
                f"{stack.shape[2:]}; the prepared dataset was built at another image size than the study. "
                "Prepare it with the study's profile (medseglab prepare) and rerun"
            )
        per_image = stack[0, 0].size * 4 * len(run_ids)
        step = max(1, CHUNK_BYTES // max(per_image, 1))
        scored = []
        for start in range(0, len(ids), step):
            sl = slice(start, start + step)
            combined = combine_repeats(stack[:, sl], method, threshold)
            scored.append(per_image_metrics(combined, gt[sl], threshold))
        metrics = pd.concat(scored, ignore_index=True)
        meta = rows.drop_duplicates("image_id").set_index("image_id")
        missing = [i for i in ids if i not in meta.index]
        if missing:
            raise DataError(
                f"run {run_ids[0]}: images {missing[:5]} have probabilities but no row in the per-image table; "
                "the table and the artifacts come from different evaluations"
            )
        out = pd.DataFrame({"image_id": ids})
        for col in meta_cols[1:]:
            out[col] = meta.loc[ids, col].to_numpy() if col in meta.columns else ""
        for name, value in zip(MODEL_KEYS, key):
            out[name] = value
        out["repeat"] = COMBINED_REPEAT
        out["run_id"] = "+".join(run_ids)
        out["n_repeats"] = len(run_ids)
        out["combine"] = method
        parts.append(pd.concat([out, metrics], axis=1))
    if not parts:
        raise DataError("the per-image table has no models to combine")
    return pd.concat(parts, ignore_index=True)


def probability_loader(uri: str | None = None) -> ProbLoader:
    """A loader of a training's ``evaluation/probabilities.npz`` from the store at ``uri`` (default the
    project's) as (ids, uint8 maps): 4x less memory than float."""
    from medseglab.tracking import tracking_uri

    uri = uri or tracking_uri()

    def load(run_id: str) -> tuple[np.ndarray, np.ndarray]:
        import tempfile

        import mlflow.artifacts

        from medseglab.data.errors import DataError

        with tempfile.TemporaryDirectory(prefix="medseglab-stats-") as tmp:
            try:
                path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="evaluation/probabilities.npz",
                                                           dst_path=tmp, tracking_uri=uri)
            except Exception as exc:  # noqa: BLE001 - MLflow raises several types for a missing artifact
                raise DataError(f"run {run_id}: cannot read evaluation/probabilities.npz ({exc})") from exc
            with np.load(path, allow_pickle=False) as archive:
                return archive["image_ids"].astype(str), archive["prob"]

    return load


def prepared_mask_loader(params: dict, profile: str | None = None, data_hash: str | None = None,
                         base: str = "data/prepared") -> MaskLoader:
    """Masks from the prepared dataset the study used (``tracking.repeats.find_prepared``)."""
    from medseglab.data.prepared import load_prepared

    cache: dict[str, object] = {}

    def load(dataset: str, ids: np.ndarray) -> np.ndarray:
        if dataset not in cache:
            cache[dataset] = load_prepared(find_prepared(dataset, params, profile, data_hash, base))
        return cache[dataset].load_masks(list(ids))

    return load
