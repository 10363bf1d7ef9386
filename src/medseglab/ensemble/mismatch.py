"""Do new images look like the data a study's models were trained on? One warning line if not.

`medseglab predict` on real photographs with models trained on the synthetic phantoms runs without
error and writes masks that mean nothing; this says so before the models run. What is compared:
the training run's params (``format``, ``image_size``) and data tag (``medseglab.data_hash``)
against the images folder: a prepared dataset's ``images/`` (its ``dataset.json`` beside it says
format, synthetic, size and content hash), else a plain folder (only the images' pixel size is known).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Sequence

from PIL import Image

from medseglab.tracking.conventions import DATA_HASH

SIZE_SAMPLE = 200  # image headers read to tell the folder's usual size


def _size(value) -> tuple[int, int] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return int(value[0]), int(value[1])
    return None


def trained_on(params: dict, tags: dict) -> dict:
    """What a training run records of its data (MLflow params and tags, strings)."""
    fmt = params.get("format") or None
    return {"format": fmt, "synthetic": fmt == "synthetic", "image_size": _size(params.get("image_size")),
            "data_hash": tags.get(DATA_HASH)}


def images_of(paths: Sequence[Path]) -> dict:
    """What can be told of a folder of new images: a prepared dataset's record if it is one, and
    the most common pixel size (W, H) among the first SIZE_SAMPLE images (headers only)."""
    sizes = Counter()
    for path in paths[:SIZE_SAMPLE]:
        try:
            with Image.open(path) as img:
                sizes[img.size] += 1
        except OSError:
            continue  # an unreadable file is reported by check_images
    found = {"format": None, "synthetic": None, "image_size": sizes.most_common(1)[0][0] if sizes else None,
             "data_hash": None, "n": len(paths)}
    info_path = Path(paths[0]).parent.parent / "dataset.json" if paths else None
    if info_path is not None and Path(paths[0]).parent.name == "images" and info_path.is_file():
        try:
            info = json.loads(info_path.read_text())
        except (OSError, ValueError):
            return found
        found.update(format=info.get("format"), synthetic=bool(info.get("synthetic")),
                     image_size=_size(info.get("image_size")) or found["image_size"], data_hash=info.get("content_hash"))
    return found


def _wh(size) -> str:
    return f"{size[0]}x{size[1]}" if size else "?"


def mismatch(trained: dict, found: dict, folder: str | Path) -> str | None:
    """One line naming how the images differ from the training data and what to do, else None."""
    if trained.get("data_hash") and trained["data_hash"] == found.get("data_hash"):
        return None  # the very prepared data the models were trained on
    differences = []
    if found.get("format") is not None:  # a prepared dataset: its record says what it is
        if trained.get("format") and found["format"] != trained["format"]:
            differences.append(f"format {found['format']} vs {trained['format']}")
        if trained.get("image_size") and found.get("image_size") and found["image_size"] != trained["image_size"]:
            differences.append(f"size {_wh(found['image_size'])} vs {_wh(trained['image_size'])}")
    elif trained.get("synthetic"):  # a plain folder is not the synthetic generator's output
        differences.append(f"format {trained['format']}: the models saw only synthetic phantoms")
        if trained.get("image_size") and found.get("image_size") and found["image_size"] != trained["image_size"]:
            differences.append(f"these are {_wh(found['image_size'])}, the phantoms {_wh(trained['image_size'])}")
    if not differences:
        return None
    what = "synthetic " if trained.get("synthetic") else ""
    return (f"warning: the models were trained on {what}{trained.get('format') or 'other'} data "
            f"({_wh(trained.get('image_size'))}) unlike the images in {folder} ({'; '.join(differences)}): their "
            "masks will mean little; train a study on data like these images (--source DIR --format NAME) "
            "or pass images like the training data")
