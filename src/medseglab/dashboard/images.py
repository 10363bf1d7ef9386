"""Pictures for the image route: an artifact file, or a picture made from an artifact, as a PNG thumbnail.

Addressed by run id + artifact path (``/img/<run_id>/<path>?w=256``), with ``image=`` and ``view=``
for pictures made from an array artifact:

- ``evaluation/probabilities.npz`` of a training: ``view=mask`` (p >= threshold) or ``overlay``
  (TP green, TN black, FP red, FN yellow against the study's ground truth);
- ``explain/gradcam_<init>.npz`` of a study: ``view=cam0`` / ``cam1`` (Grad-CAM of class 0 / 1,
  repeat-averaged, over the grey input);
- ``/data/<study_id>/<image_id>?view=input|gt``: the input and ground truth from the prepared dataset.

Thumbnails are cached in memory (LRU) keyed on the run's stamp, so a reload costs nothing.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from medseglab.dashboard import figures, safety
from medseglab.dashboard.data import StudyStore, run_stamp, to_png
from medseglab.names import DEFAULT_THRESHOLD
from medseglab.tracking import conventions as C

PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg")
MAX_WIDTH = 1600
NPZ_VIEWS = ("mask", "overlay", "cam0", "cam1")


def clamp_width(value: str | None, default: int = 256) -> int:
    try:
        width = int(value) if value else default
    except ValueError:
        width = default
    return max(16, min(width, MAX_WIDTH))


def _index(ids: np.ndarray, image_id: str) -> int | None:
    hits = np.flatnonzero(np.asarray(ids).astype(str) == image_id)
    return int(hits[0]) if hits.size else None


def _study_of(store: StudyStore, run_id: str) -> str:
    run = store.run(run_id)
    return run.data.tags.get(C.PARENT) or run_id


def ground_truth(store: StudyStore, study_id: str, image_id: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(input RGB uint8, mask {0,1}) of one image of the study's prepared dataset, or None."""
    if image_id not in store.prepared_ids(study_id):
        return None
    data = store.prepared(study_id)
    return data.load_images([image_id])[0], data.load_masks([image_id])[0]


def threshold_of(store: StudyStore, run_id: str) -> float:
    value = store.run(run_id).data.params.get("train.threshold")
    try:
        return float(value) if value not in (None, "null") else DEFAULT_THRESHOLD
    except ValueError:
        return DEFAULT_THRESHOLD


def npz_picture(store: StudyStore, run_id: str, path: str, image_id: str, view: str) -> np.ndarray | None:
    """The picture ``view`` of one image from an array artifact, or None when it cannot be made."""
    arrays = store.npz(run_id, path)
    if arrays is None or "image_ids" not in arrays:
        return None
    index = _index(arrays["image_ids"], image_id)
    if index is None:
        return None
    study_id = _study_of(store, run_id)
    if view in ("mask", "overlay") and "prob" in arrays:
        prob = arrays["prob"][index]
        prob = prob.astype(np.float32) / 255.0 if prob.dtype == np.uint8 else prob.astype(np.float32)
        mask = prob >= threshold_of(store, run_id)
        if view == "mask":
            return figures.mask_picture(mask)
        truth = ground_truth(store, study_id, image_id)
        if truth is None or truth[1].shape != mask.shape:
            return None
        return figures.overlay(mask, truth[1])
    if view in ("cam0", "cam1") and "cam" in arrays:
        cam = arrays["cam"][index, int(view[-1])].astype(np.float32) / 255.0
        truth = ground_truth(store, study_id, image_id)
        image = truth[0] if truth is not None and truth[0].shape[:2] == cam.shape else None
        return figures.cam_picture(cam, image)
    return None


def file_picture(local: Path) -> np.ndarray | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(local) as img:
            return np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError):
        return None


class Pictures:
    """PNG bytes for the routes, cached per (address, run stamp)."""

    def __init__(self, store: StudyStore, maxsize: int = 1024):
        self.store = store
        self._render = functools.lru_cache(maxsize=maxsize)(self._render_uncached)

    def artifact(self, run_id: str, path: str, *, image: str | None, view: str | None, width: int) -> bytes | None:
        clean = safety.safe_artifact_path(path)
        if clean is None or not safety.valid_run_id(run_id):
            return None
        if image is not None and not safety.valid_image_id(image):
            return None
        try:
            stamp = run_stamp(self.store.run(run_id))
        except Exception:  # noqa: BLE001 - an unknown run id is a 404, whatever MLflow raises
            return None
        return self._render("artifact", run_id, clean, image, view or "file", width, stamp)

    def dataset(self, study_id: str, image_id: str, *, view: str, width: int) -> bytes | None:
        if not safety.valid_run_id(study_id) or not safety.valid_image_id(image_id) or view not in ("input", "gt"):
            return None
        try:
            stamp = run_stamp(self.store.run(study_id))
        except Exception:  # noqa: BLE001
            return None
        return self._render("dataset", study_id, "", image_id, view, width, stamp)

    def _render_uncached(self, kind, run_id, path, image, view, width, _stamp) -> bytes | None:
        if kind == "dataset":
            truth = ground_truth(self.store, run_id, image)
            if truth is None:
                return None
            picture = truth[0] if view == "input" else figures.mask_picture(truth[1])
        elif view == "file":
            if image is not None or Path(path).suffix.lower() not in PICTURE_SUFFIXES:
                return None
            local = self.store.local_file(run_id, path)
            picture = file_picture(local) if local is not None else None
        elif view in NPZ_VIEWS and path.endswith(".npz") and image is not None:
            picture = npz_picture(self.store, run_id, path, image, view)
        else:
            return None
        if picture is None:
            return None
        return to_png(figures.thumbnail(picture, width))

