"""Algorithm 1 without ground truth: run the LMI and TII models on new images, write the four
candidate masks, and queue each image for a human reviewer (SPEC 7).

Per image, in this order (so that a crash loses at most the image in flight):
1. the four masks are written into a temporary folder that is renamed onto
   ``<out>/<dataset>/<image_id>/`` (``{lmi,tii,union,intersection}.png``, 0/255, the source
   image's own size);
2. its queue row is committed in its own transaction.
A rerun skips every image already queued for the dataset, except pending ones whose masks are gone.

With a Dice estimator (``ensemble.estimator``: the champion pair's, or the study's
``ensemble/estimator.json``) every candidate's Dice is estimated without ground truth, ``suggested``
is the candidate with the highest estimate (Algorithm 1 without ground truth) and the queue lists
the worst estimates first.

Without one, the reviewer's proxy for false positives / negatives: the consensus of all
models (the mean class-1 probability over every LMI and TII repeat, thresholded) stands in for
the ground truth. ``fp_proxy`` = fraction of the image's pixels a candidate marks that the consensus does not;
``fn_proxy`` = fraction the consensus marks that the candidate misses. ``suggested`` is then the
candidate with the fewest of the chosen kind (``ensemble.review_fewest``), ties in CANDIDATES order.
The proxies are stored either way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from medseglab.data.errors import DataError
from medseglab.data.ids import check_image_ids
from medseglab.data.imaging import network_input
from medseglab.ensemble.algorithm import CANDIDATES, candidate_maps
from medseglab.ensemble.estimator import estimate
from medseglab.ensemble.queue import ReviewQueue
from medseglab.io import atomic_dir
from medseglab.names import DEFAULT_THRESHOLD, INITS
from medseglab.progress import bar
from medseglab.stats.combine import combine_repeats

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def list_images(folder: str | Path) -> list[tuple[str, Path]]:
    """``(image_id, path)`` of every png/jpg in ``folder`` (not recursive), sorted; image_id = file stem."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder of images; pass --images DIR with png/jpg files")
    found = [(path.stem, path) for path in sorted(folder.iterdir())
             if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES]
    if not found:
        raise DataError(f"{folder}: no .png/.jpg/.jpeg images in this folder")
    # The id names the image's output folder: '..png' (id '.') would replace predictions/<dataset>/.
    check_image_ids(found)
    return sorted(found)


def check_images(paths: Sequence[Path]) -> None:
    """Fail before any model runs if a file is not a readable image (cheap: header and data check)."""
    for path in bar(paths, desc="check images", unit="img"):
        try:
            with Image.open(path) as img:
                img.verify()
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise DataError(f"{path}: not a readable image ({exc}); replace or remove the file and rerun") from exc


def model_input_size(model, fallback_wh: Sequence[int] | None = None) -> tuple[int, int]:
    """The (W, H) a model takes: its fixed input shape, else ``fallback_wh`` (the study's image_size)."""
    shape = getattr(model, "input_shape", None)
    if isinstance(shape, list):
        shape = shape[0]
    if shape is not None and len(shape) == 4 and shape[1] and shape[2]:
        return int(shape[2]), int(shape[1])
    if fallback_wh is None:
        raise ValueError("the model has no fixed input size; give the study's image_size")
    return int(fallback_wh[0]), int(fallback_wh[1])


def predict_class1(model, images: np.ndarray, batch_size: int = 2) -> np.ndarray:
    """Class-1 probability (N, H, W) float32 of a model taking raw 0..255 float RGB, softmax (N, H, W, 2)."""
    images = images.astype(np.float32)
    # predict_on_batch: no per-call dataset/adapter set-up (model.predict costs ~0.3 s a call)
    parts = [np.asarray(model.predict_on_batch(images[i:i + batch_size])) for i in range(0, len(images), batch_size)]
    out = np.concatenate(parts) if parts else np.zeros((0, *images.shape[1:3], 2), np.float32)
    if out.ndim != 4 or out.shape[-1] != 2:
        raise ValueError(f"model output has shape {out.shape}; expected (N, H, W, 2) softmax")
    return out[..., 1].astype(np.float32)


def review_proxies(maps: dict[str, np.ndarray], consensus: np.ndarray, threshold: float) -> dict[str, np.ndarray]:
    """Per candidate: foreground fraction, fp_proxy and fn_proxy (each (N,), fractions of pixels)."""
    consensus = np.asarray(consensus, dtype=bool)
    n_pixels = consensus.shape[1] * consensus.shape[2]
    out: dict[str, np.ndarray] = {}
    for cand in CANDIDATES:
        mask = maps[cand] >= threshold
        out[f"{cand}_fg"] = mask.sum(axis=(1, 2)) / n_pixels
        out[f"{cand}_fp_proxy"] = (mask & ~consensus).sum(axis=(1, 2)) / n_pixels
        out[f"{cand}_fn_proxy"] = (~mask & consensus).sum(axis=(1, 2)) / n_pixels
    return out


def suggest(proxies: dict[str, np.ndarray], fewest: str) -> np.ndarray:
    """The candidate name with the fewest fp (or fn) proxy per image; ties -> CANDIDATES order."""
    if fewest not in ("fp", "fn"):
        raise ValueError(f"review_fewest must be 'fp' or 'fn', got {fewest!r} (params.yaml ensemble.review_fewest)")
    values = np.stack([proxies[f"{cand}_{fewest}_proxy"] for cand in CANDIDATES], axis=1)
    return np.asarray(CANDIDATES, dtype=object)[np.argmin(values, axis=1)]


def write_candidates(folder: Path, masks: dict[str, np.ndarray], size_wh: tuple[int, int]) -> dict[str, Path]:
    """The four masks as 0/255 PNGs at the source size, written as one atomic folder."""
    with atomic_dir(folder) as tmp:
        for cand in CANDIDATES:
            img = Image.fromarray(np.where(masks[cand], 255, 0).astype(np.uint8))
            if img.size != tuple(size_wh):
                img = img.resize(tuple(size_wh), Image.NEAREST)
            img.save(tmp / f"{cand}.png")
    return {cand: folder / f"{cand}.png" for cand in CANDIDATES}


def predict_folder(
    models: dict[str, Sequence[Any]],
    images_dir: str | Path,
    out_dir: str | Path,
    queue: ReviewQueue,
    *,
    dataset: str,
    image_size: Sequence[int] | None = None,
    combine: str = "intersection",
    threshold: float = DEFAULT_THRESHOLD,
    review_fewest: str = "fp",
    batch_size: int = 8,
    provenance: dict[str, Any] | None = None,
    on_queued: Callable[[str], None] | None = None,
    estimator=None,
) -> dict[str, int]:
    """Predict every new image in ``images_dir`` and queue it; returns counts (found, skipped, queued).

    ``models``: {"lmi": [repeat models], "tii": [repeat models]}, Keras models with input raw
    0..255 float RGB (N, H, W, 3) and output softmax (N, H, W, 2). ``provenance``: extra queue
    columns (study_run_id, split, ratio, model_run_ids). ``on_queued`` is called after each commit.
    ``estimator``: a ``DiceEstimator`` (fitted with this ``combine`` and ``threshold``), or None.
    """
    for init in INITS:
        if not models.get(init):
            raise ValueError(f"no {init.upper()} models given; predict needs every repeat of both inits")
    if review_fewest not in ("fp", "fn"):
        raise ValueError(f"review_fewest must be 'fp' or 'fn', got {review_fewest!r} (params.yaml ensemble.review_fewest)")
    size_wh = model_input_size(models["lmi"][0], image_size)
    for model in (*models["lmi"], *models["tii"]):
        if model_input_size(model, size_wh) != size_wh:
            raise ValueError(f"models disagree on the input size: {model_input_size(model, size_wh)} vs {size_wh}")

    found = list_images(images_dir)
    # Pending items whose masks were deleted are predicted again, so the reviewer has files to accept.
    redo = queue.missing_masks(dataset)
    queued = queue.queued_ids(dataset) - redo
    todo = [(image_id, path) for image_id, path in found if image_id not in queued]
    check_images([path for _, path in todo])
    out_dir = Path(out_dir) / dataset
    provenance = dict(provenance or {})
    if isinstance(provenance.get("model_run_ids"), (dict, list)):
        provenance["model_run_ids"] = json.dumps(provenance["model_run_ids"], sort_keys=True)

    progress = bar(total=len(todo), desc=f"predict {dataset}", unit="img")
    n_queued = 0
    try:
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            loaded = [network_input(path, size_wh) for _, path in batch]  # as prepare made the training data
            images = np.stack([arr for arr, _ in loaded])
            per_init = {
                init: np.stack([predict_class1(m, images, batch_size) for m in models[init]]) for init in INITS
            }
            combined = {init: combine_repeats(per_init[init], combine, threshold) for init in INITS}
            maps = candidate_maps(combined["lmi"], combined["tii"])
            consensus = np.concatenate([per_init["lmi"], per_init["tii"]]).mean(axis=0) >= threshold
            proxies = review_proxies(maps, consensus, threshold)
            suggested = suggest(proxies, review_fewest)
            estimates = None
            if estimator is not None:
                estimates, suggested = estimate(estimator, per_init["lmi"], per_init["tii"])
            for i, ((image_id, path), (_, original_wh)) in enumerate(zip(batch, loaded)):
                masks = {cand: maps[cand][i] >= threshold for cand in CANDIDATES}
                paths = write_candidates(out_dir / image_id, masks, original_wh)
                item = {
                    "dataset": dataset,
                    "image_id": image_id,
                    "source_path": str(path),
                    "combine": combine,
                    "proxy": review_fewest,
                    "suggested": str(suggested[i]),
                    **provenance,
                }
                for cand in CANDIDATES:
                    item[f"{cand}_path"] = str(paths[cand])
                    for field in ("fg", "fp_proxy", "fn_proxy"):
                        item[f"{cand}_{field}"] = float(proxies[f"{cand}_{field}"][i])
                if estimates is not None:
                    item.update({f"{cand}_est_dice": float(estimates[i, j]) for j, cand in enumerate(CANDIDATES)})
                    item["est_dice"] = float(estimates[i].max())
                if queue.enqueue(item, replace_pending=image_id in redo):
                    n_queued += 1
                if on_queued is not None:
                    on_queued(image_id)
                progress.update(1)
    finally:
        progress.close()
    return {"found": len(found), "skipped": len(found) - len(todo), "queued": n_queued}
