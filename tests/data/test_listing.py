"""Finding the files: links that cannot be followed and two files for one image id are named, not skipped."""

from __future__ import annotations

import os

import pytest

from medseglab.data import DataError, load_prepared, prepare_dataset
from medseglab.data.formats.isic2018 import IMAGES_DIR

from .helpers import assert_nothing_left, make_cfg, rgb, write_jpg
from .test_folder import make_folder
from .test_isic2018 import make_isic


def _fails(cfg, out):
    with pytest.raises(DataError) as info:
        prepare_dataset(cfg, out)
    assert_nothing_left(out)
    return str(info.value)


def test_symlink_loop_in_images_is_named_as_a_loop(tmp_path):
    src = make_folder(tmp_path / "src")
    loop = src / "images" / "img1.png"
    loop.unlink()
    os.symlink("img1.png", loop)  # points to itself
    message = _fails(make_cfg("folder", src), tmp_path / "prepared" / "ds")
    assert str(loop) in message and "symbolic link loop" in message and "mask without image" not in message


def test_broken_symlink_in_masks_is_named(tmp_path):
    src = make_folder(tmp_path / "src")
    link = src / "masks" / "img2.png"
    link.unlink()
    os.symlink(tmp_path / "gone.png", link)
    message = _fails(make_cfg("folder", src), tmp_path / "prepared" / "ds")
    assert str(link) in message and "broken symbolic link" in message and "gone.png" in message


def test_a_working_symlink_is_followed(tmp_path):
    src = make_folder(tmp_path / "src")
    real = tmp_path / "elsewhere.png"
    (src / "images" / "img0.png").rename(real)
    os.symlink(real, src / "images" / "img0.png")
    assert load_prepared(prepare_dataset(make_cfg("folder", src), tmp_path / "out")).ids == ["img0", "img1", "img2"]


@pytest.mark.parametrize("twin", ["ISIC_0000002.jpeg", "ISIC_0000002.JPG"])
def test_isic_two_jpegs_for_one_id_are_refused_naming_both(tmp_path, twin):
    src = make_isic(tmp_path / "isic")
    write_jpg(src / IMAGES_DIR / twin, rgb(12, 16, seed=9))  # different pixels, same id
    message = _fails(make_cfg("isic2018", src), tmp_path / "prepared" / "skin")
    assert "ISIC_0000002.jpg" in message and twin in message and "rename one" in message, message


def test_isic_symlink_loop_is_named(tmp_path):
    src = make_isic(tmp_path / "isic")
    loop = src / IMAGES_DIR / "ISIC_0000003.jpg"
    loop.unlink()
    os.symlink(loop.name, loop)
    message = _fails(make_cfg("isic2018", src), tmp_path / "prepared" / "skin")
    assert str(loop) in message and "symbolic link loop" in message

