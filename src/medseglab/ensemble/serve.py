"""The deployable pair as a pure function: image files -> Algorithm 1's four candidate masks.

What the registered pair model (``tracking.pair_model``) and ``medseglab predict`` both run: each
file goes through :func:`medseglab.data.imaging.network_input` (the decode and resize that made the
training data), every LMI and TII repeat predicts it, each init's repeats are combined as the study
combines them (``stats.combine.combine_repeats``: intersection = pixel-wise min, Equation 2), and
the four candidates are thresholded and resized back to the file's own size. No MLflow here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from medseglab.data.imaging import network_input
from medseglab.ensemble.algorithm import candidate_maps
from medseglab.ensemble.estimator import estimate
from medseglab.ensemble.predict import model_input_size, predict_class1
from medseglab.names import CANDIDATES, DEFAULT_THRESHOLD, INITS, INTERSECTION
from medseglab.stats.combine import combine_repeats


def _at_size(mask: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    img = Image.fromarray(mask.astype(np.uint8))
    if img.size != tuple(size_wh):
        img = img.resize(tuple(size_wh), Image.NEAREST)
    return np.asarray(img, dtype=np.uint8)


def segment_files(models: dict[str, Sequence[Any]], paths: Sequence[str | Path], *, combine: str = INTERSECTION,
                  threshold: float = DEFAULT_THRESHOLD, batch_size: int = 8, estimator=None) -> list[dict]:
    """One dict per file: ``path``, ``width``, ``height`` and the four candidate masks (``lmi``, ``tii``,
    ``union``, ``intersection``), each uint8 0/1 of shape (height, width), the file's own size. With an
    ``estimator`` (``ensemble.estimator.DiceEstimator``) also ``est_dice_<candidate>`` (float) and
    ``estimated_choice`` (Algorithm 1 without ground truth).

    ``models``: {"lmi": [repeat models], "tii": [repeat models]}, Keras models taking raw 0..255
    float RGB (N, H, W, 3) and giving softmax (N, H, W, 2), all of one input size.
    """
    for init in INITS:
        if not models.get(init):
            raise ValueError(f"no {init.upper()} models given; the pair needs both inits")
    size_wh = model_input_size(models[INITS[0]][0])
    out: list[dict] = []
    for start in range(0, len(paths), batch_size):
        batch = [Path(p) for p in paths[start:start + batch_size]]
        loaded = [network_input(path, size_wh) for path in batch]
        images = np.stack([arr for arr, _ in loaded])
        repeats = {init: np.stack([predict_class1(m, images, batch_size) for m in models[init]]) for init in INITS}
        combined = {init: combine_repeats(repeats[init], combine, threshold) for init in INITS}
        maps = candidate_maps(combined[INITS[0]], combined[INITS[1]])
        estimates = estimate(estimator, repeats["lmi"], repeats["tii"]) if estimator is not None else None
        for i, (path, (_, original_wh)) in enumerate(zip(batch, loaded)):
            row = {"path": str(path), "width": int(original_wh[0]), "height": int(original_wh[1])}
            for cand in CANDIDATES:
                row[cand] = _at_size(maps[cand][i] >= threshold, original_wh)
            if estimates is not None:
                row.update({f"est_dice_{cand}": float(estimates[0][i, j]) for j, cand in enumerate(CANDIDATES)})
                row["estimated_choice"] = str(estimates[1][i])
            out.append(row)
    return out
