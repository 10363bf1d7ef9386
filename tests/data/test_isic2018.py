"""`isic2018`: the Task 1 layout, subsets of the real sample, and ISIC metadata labels."""

from __future__ import annotations

import numpy as np
import pytest

from medseglab.data import DataError, load_prepared, prepare_dataset
from medseglab.data.formats.isic2018 import IMAGES_DIR, MASKS_DIR, diagnosis_label

from .helpers import assert_nothing_left, make_cfg, rgb, square_mask, write_jpg, write_png


def make_isic(root, ids=("ISIC_0000001", "ISIC_0000002", "ISIC_0000003")):
    for i, image_id in enumerate(ids):
        write_jpg(root / IMAGES_DIR / f"{image_id}.jpg", rgb(12, 16, i))
        write_png(root / MASKS_DIR / f"{image_id}_segmentation.png", square_mask(12, 16, 255))
    (root / IMAGES_DIR / "LICENSE.txt").write_text("the official release ships text files here")
    return root


def test_real_sample_subset(shared, tmp_path):
    src = shared("isic2018")
    ids = sorted(p.stem for p in (src / IMAGES_DIR).glob("*.jpg"))
    ds = load_prepared(prepare_dataset(make_cfg("isic2018", src, image_size=(32, 24), max_images=12), tmp_path / "o"))
    assert len(ds) == 12 and ds.info["n_found"] == len(ids)
    assert ds.ids[0] == ids[0] and ds.ids[-1] == ids[-1]  # evenly spaced over the sorted ids
    masks = ds.load_masks()
    assert masks.shape == (12, 24, 32) and set(np.unique(masks)) == {0, 1}
    assert 0.02 < ds.manifest["target_fraction"].mean() < 0.9
    assert (ds.manifest["clinical_label"] == "unknown").all()
    assert (ds.manifest["group_id"] == ds.manifest["image_id"]).all()


def test_metadata_csv_in_source_gives_labels_and_patients(tmp_path):
    src = make_isic(tmp_path / "isic")
    (src / "ISIC_metadata_2018.csv").write_text(
        "isic_id,benign_malignant,patient_id\nISIC_0000001,malignant,IP_1\nISIC_0000002,benign,IP_1\n"
    )
    m = load_prepared(prepare_dataset(make_cfg("isic2018", src), tmp_path / "o")).manifest.set_index("image_id")
    assert m["clinical_label"].tolist() == ["malignant", "benign", "unknown"]
    assert m["group_id"].tolist() == ["IP_1", "IP_1", "ISIC_0000003"]


def test_metadata_option_with_diagnosis_and_lesion_ids(tmp_path):
    src = make_isic(tmp_path / "isic")
    (tmp_path / "meta.csv").write_text(
        "image_id,diagnosis,lesion_id\nISIC_0000001,melanoma,L1\nISIC_0000002,nevus,L2\n"
        "ISIC_0000003,actinic keratosis,L1\n"
    )
    cfg = make_cfg("isic2018", src, options={"metadata": str(tmp_path / "meta.csv")})
    ds = load_prepared(prepare_dataset(cfg, tmp_path / "o"))
    assert ds.manifest["clinical_label"].tolist() == ["malignant", "benign", "intermediate"]
    assert ds.manifest["group_id"].tolist() == ["L1", "L2", "L1"]
    assert ds.info["importer"]["label_column"] == "diagnosis"


def test_task3_one_hot_ground_truth(tmp_path):
    src = make_isic(tmp_path / "isic")
    (src / "task3_metadata.csv").write_text(
        "image,MEL,NV,BCC,AKIEC,BKL,DF,VASC\nISIC_0000001,0.0,1.0,0,0,0,0,0\nISIC_0000002,0,0,1.0,0,0,0,0\n"
    )
    ds = load_prepared(prepare_dataset(make_cfg("isic2018", src), tmp_path / "o"))
    assert ds.manifest["clinical_label"].tolist() == ["benign", "malignant", "unknown"]


def test_diagnosis_mapping_keeps_unknown_names():
    assert diagnosis_label(" Melanoma ") == "malignant"
    assert diagnosis_label("seborrheic keratosis") == "benign"
    assert diagnosis_label("other") == "other"


def _no_mask(src):
    (src / MASKS_DIR / "ISIC_0000002_segmentation.png").unlink()
    return "ISIC_0000002.jpg", "image without mask"


def _no_image(src):
    (src / IMAGES_DIR / "ISIC_0000003.jpg").unlink()
    return "ISIC_0000003_segmentation.png", "mask without image"


def _truncated_jpeg(src):
    path = src / IMAGES_DIR / "ISIC_0000001.jpg"
    path.write_bytes(path.read_bytes()[:-200])
    return "ISIC_0000001.jpg", "truncated"


def _grey_mask(src):
    write_png(src / MASKS_DIR / "ISIC_0000001_segmentation.png", np.full((12, 16), 128, np.uint8))
    return "ISIC_0000001_segmentation.png", "not binary"


def _wrong_layout(src):
    (src / MASKS_DIR).rename(src / "masks")
    return MASKS_DIR, "format: folder"


def _no_images(src):
    for p in (src / IMAGES_DIR).glob("*.jpg"):
        p.unlink()
    for p in (src / MASKS_DIR).glob("*.png"):
        p.unlink()
    return IMAGES_DIR, "no .jpg images"


@pytest.mark.parametrize("breaker", [_no_mask, _no_image, _truncated_jpeg, _grey_mask, _wrong_layout, _no_images])
def test_malformed_isic_fails_cleanly(tmp_path, breaker):
    src = make_isic(tmp_path / "isic")
    name, fix = breaker(src)
    out = tmp_path / "prepared" / "skin"
    with pytest.raises(DataError) as info:
        prepare_dataset(make_cfg("isic2018", src), out)
    assert name in str(info.value) and fix in str(info.value), str(info.value)
    assert_nothing_left(out)
