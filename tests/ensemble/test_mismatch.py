"""mismatch: new images vs the data a study's models were trained on (format, synthetic, size, hash)."""

import json

import numpy as np
import pytest
from PIL import Image

from medseglab.ensemble.mismatch import images_of, mismatch, trained_on
from medseglab.tracking.conventions import DATA_HASH

SYNTHETIC = trained_on({"format": "synthetic", "image_size": "[64, 64]"}, {DATA_HASH: "h1"})
ISIC = trained_on({"format": "isic2018", "image_size": "[64, 64]"}, {DATA_HASH: "h2"})


def _folder(root, size=(60, 45), info=None):
    images = root / "images"
    images.mkdir(parents=True)
    Image.fromarray(np.zeros((size[1], size[0], 3), np.uint8)).save(images / "a.png")
    if info is not None:
        (root / "dataset.json").write_text(json.dumps(info))
    return [images / "a.png"]


def test_trained_on_reads_the_logged_params():
    assert SYNTHETIC == {"format": "synthetic", "synthetic": True, "image_size": (64, 64), "data_hash": "h1"}
    assert trained_on({}, {})["synthetic"] is False


def test_plain_folder_after_synthetic_training_warns_with_both_sizes(tmp_path):
    line = mismatch(SYNTHETIC, images_of(_folder(tmp_path)), tmp_path / "images")
    assert line and "synthetic" in line and "60x45" in line and "64x64" in line and "\n" not in line


def test_plain_folder_after_real_training_is_not_judged_by_its_raw_size(tmp_path):
    assert mismatch(ISIC, images_of(_folder(tmp_path)), tmp_path) is None  # prepare resizes real images anyway


@pytest.mark.parametrize("info, warns", [
    ({"format": "synthetic", "synthetic": True, "image_size": [64, 64], "content_hash": "h1"}, False),  # its own data
    ({"format": "synthetic", "synthetic": True, "image_size": [64, 64], "content_hash": "other"}, False),  # same kind
    ({"format": "isic2018", "synthetic": False, "image_size": [64, 64], "content_hash": "h3"}, True),
    ({"format": "synthetic", "synthetic": True, "image_size": [32, 32], "content_hash": "h4"}, True),
])
def test_prepared_folder_is_compared_by_its_record(tmp_path, info, warns):
    line = mismatch(SYNTHETIC, images_of(_folder(tmp_path, (64, 64), info)), tmp_path / "images")
    assert bool(line) is warns
