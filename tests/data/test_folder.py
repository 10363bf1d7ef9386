"""`folder` format: images/ + masks/ pairing, label tables, and every malformed case."""

from __future__ import annotations

import numpy as np
import pytest

from medseglab.data import DataError, load_prepared, prepare_dataset

from .helpers import assert_nothing_left, make_cfg, rgb, square_mask, write_jpg, write_png


def make_folder(root, n=3, h=12, w=16, mask_value=1):
    for i in range(n):
        write_png(root / "images" / f"img{i}.png", rgb(h, w, i))
        write_png(root / "masks" / f"img{i}.png", square_mask(h, w, mask_value))
    return root


@pytest.mark.parametrize("mask_value", [1, 255])
def test_binary_masks_become_0_1(tmp_path, mask_value):
    src = make_folder(tmp_path / "src", mask_value=mask_value)
    out = prepare_dataset(make_cfg("folder", src, image_size=(16, 12)), tmp_path / "out")
    ds = load_prepared(out)
    masks = ds.load_masks()
    assert masks.shape == (3, 12, 16)
    np.testing.assert_array_equal(masks[0], square_mask(12, 16, 1))
    assert ds.manifest["clinical_label"].eq("unknown").all()
    assert ds.manifest["group_id"].tolist() == ds.manifest["image_id"].tolist()
    assert ds.info["synthetic"] is False and not ds.manifest["synthetic"].any()


def test_mixed_extensions_and_mask_suffix(tmp_path):
    src = tmp_path / "src"
    write_jpg(src / "images" / "a.JPG", rgb(12, 16))
    write_png(src / "images" / "b.bmp", rgb(12, 16, 1))
    write_png(src / "masks" / "a_mask.png", square_mask(12, 16))
    write_png(src / "masks" / "b_segmentation.png", square_mask(12, 16, 255))
    ds = load_prepared(prepare_dataset(make_cfg("folder", src), tmp_path / "out"))
    assert ds.ids == ["a", "b"]
    assert ds.manifest["source_mask"].str.endswith("a_mask.png").iloc[0]


def test_labels_csv_gives_labels_and_groups(tmp_path):
    src = make_folder(tmp_path / "src")
    (src / "labels.csv").write_text("image_id,grade,patient_id\nimg0.png,malignant,7\nimg1,benign,7\n")
    ds = load_prepared(prepare_dataset(make_cfg("folder", src), tmp_path / "out"))
    m = ds.manifest.set_index("image_id")
    assert m.loc["img0", "clinical_label"] == "malignant"
    assert m.loc["img1", "clinical_label"] == "benign"
    assert m.loc["img2", "clinical_label"] == "unknown"  # not in the table
    assert m.loc["img0", "group_id"] == m.loc["img1", "group_id"] == "7"
    assert m.loc["img2", "group_id"] == "img2"


def test_labels_option_with_named_columns(tmp_path):
    src = make_folder(tmp_path / "src")
    (tmp_path / "side.csv").write_text("file,dx,subject\nimg0.png,nevus,s1\n")
    cfg = make_cfg("folder", src, options={"labels": str(tmp_path / "side.csv"), "id_column": "file",
                                           "label_column": "dx", "group_column": "subject"})
    m = load_prepared(prepare_dataset(cfg, tmp_path / "out")).manifest.set_index("image_id")
    assert (m.loc["img0", "clinical_label"], m.loc["img0", "group_id"]) == ("nevus", "s1")


def test_labels_table_without_id_column_is_refused(tmp_path):
    src = make_folder(tmp_path / "src")
    (src / "labels.csv").write_text("foo,bar\n1,2\n")
    with pytest.raises(DataError, match=r"labels\.csv.*id_column"):
        prepare_dataset(make_cfg("folder", src), tmp_path / "out")
    assert_nothing_left(tmp_path / "out")


def test_glas_imports_with_grades_and_patients(shared, tmp_path):
    import pandas as pd

    src = shared("glas")
    ds = load_prepared(prepare_dataset(make_cfg("folder", src, image_size=(48, 32)), tmp_path / "glas"))
    truth = pd.read_csv(src / "manifest.csv", dtype=str).set_index("name")
    assert len(ds) == len(truth)
    m = ds.manifest.set_index("image_id")
    assert set(m["clinical_label"]) == {"benign", "malignant"}
    assert (m["clinical_label"] == truth.loc[m.index, "grade_glas"]).all()
    assert (m["group_id"] == truth.loc[m.index, "patient_id"]).all()
    assert ds.load_images(ds.ids[:2]).shape == (2, 32, 48, 3)
    masks = ds.load_masks()
    assert set(np.unique(masks)) == {0, 1}
    np.testing.assert_allclose(m["target_fraction"], masks.reshape(len(ds), -1).mean(axis=1))


# --- malformed inputs: each must name the file and the fix, and leave nothing behind ---------

def _truncated(src):
    data = (src / "images" / "img1.png").read_bytes()
    (src / "images" / "img1.png").write_bytes(data[: len(data) // 2])
    return "img1.png", "re-download"


def _garbage(src):
    (src / "images" / "img1.png").write_bytes(b"not an image at all")
    return "img1.png", "not an image"


def _no_mask(src):
    (src / "masks" / "img2.png").unlink()
    return "img2.png", "image without mask"


def _no_image(src):
    write_png(src / "masks" / "extra.png", square_mask(12, 16))
    return "extra.png", "mask without image"


def _size_mismatch(src):
    write_png(src / "masks" / "img0.png", square_mask(10, 16))
    return "img0.png", "must have its image's size"


def _not_binary(src):
    mask = square_mask(12, 16)
    mask[0, 0] = 2
    write_png(src / "masks" / "img1.png", mask)
    return "img1.png", "not binary"


def _colour_mask(src):
    mask = np.zeros((12, 16, 3), np.uint8)
    mask[..., 0] = 255
    write_png(src / "masks" / "img0.png", mask)
    return "img0.png", "single-channel"


def _duplicate_stem(src):
    write_jpg(src / "images" / "img0.jpg", rgb(12, 16))
    return "img0.jpg", "rename one"


def _empty_images(src):
    for p in (src / "images").iterdir():
        p.unlink()
    return "images", "no images"


def _no_masks_folder(src):
    for p in (src / "masks").iterdir():
        p.unlink()
    (src / "masks").rmdir()
    return "masks", "expects"


@pytest.mark.parametrize("breaker", [_truncated, _garbage, _no_mask, _no_image, _size_mismatch, _not_binary,
                                     _colour_mask, _duplicate_stem, _empty_images, _no_masks_folder])
def test_malformed_folder_fails_cleanly(tmp_path, breaker):
    src = make_folder(tmp_path / "src")
    name, fix = breaker(src)
    out = tmp_path / "prepared" / "ds"
    with pytest.raises(DataError) as info:
        prepare_dataset(make_cfg("folder", src), out)
    message = str(info.value)
    assert name in message and fix in message, message
    assert_nothing_left(out)
