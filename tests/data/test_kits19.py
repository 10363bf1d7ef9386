"""`kits19`: NIfTI volumes -> axial slices (axis from the affine, HU window) and the slice-folder layout."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from medseglab.config import ConfigError
from medseglab.data import DataError, load_prepared, prepare_dataset
from medseglab.data.formats.kits19 import window_to_uint8

from .helpers import assert_nothing_left, make_cfg, square_mask, write_png

# KiTS19's own affine: voxel axes (I, P, L), 0.74 mm in-plane, 2.5 mm slices.
KITS_AFFINE = np.array([[0, 0, -0.74, 0], [0, -0.74, 0, 0], [-2.5, 0, 0, 0], [0, 0, 0, 1.0]])


def kits_case(root, case="case_00001", n=4, h=6, w=5, affine=KITS_AFFINE, seg_shape=None):
    """A (slices, H, W) volume; slice k has HU ramp + k, kidney only in slices 1..2."""
    rng = np.random.default_rng(0)
    hu = rng.integers(-400, 500, (n, h, w)).astype(np.int16)
    seg = np.zeros(seg_shape or (n, h, w), np.uint8)
    seg[1, 1:3, 1:3] = 1
    seg[2, 2:4, 2:4] = 2  # tumour counts as target
    folder = root / case
    folder.mkdir(parents=True)
    nib.save(nib.Nifti1Image(hu, affine), folder / "imaging.nii.gz")
    nib.save(nib.Nifti1Image(seg, affine), folder / "segmentation.nii.gz")
    return hu, seg


def test_kits_layout_slices_along_axis_0(tmp_path):
    hu, seg = kits_case(tmp_path / "k")
    out = prepare_dataset(make_cfg("kits19", tmp_path / "k", image_size=(5, 6), options={"hu_window": [-100, 200]}),
                          tmp_path / "o")
    ds = load_prepared(out)
    assert ds.ids == [f"case_00001_{k:04d}" for k in range(4)]
    assert set(ds.manifest["group_id"]) == {"case_00001"}
    images, masks = ds.load_images(), ds.load_masks()
    for k in range(4):  # (I, P, L) is already anterior-up, patient-right-left: untouched
        np.testing.assert_array_equal(images[k][..., 0], window_to_uint8(hu[k], -100, 200))
        np.testing.assert_array_equal(images[k][..., 1], images[k][..., 2])
        np.testing.assert_array_equal(masks[k], (seg[k] > 0).astype(np.uint8))
    assert ds.manifest["clinical_label"].tolist() == ["no kidney", "kidney", "kidney", "no kidney"]
    assert ds.info["importer"]["cases"]["case_00001"] == {"axis": 0, "axcodes": "IPL", "slices": 4}
    assert ds.manifest["source_image"].iloc[2].endswith("imaging.nii.gz#slice=2")


def test_ras_volume_is_cut_along_its_last_axis_and_reoriented(tmp_path):
    vol = np.zeros((3, 4, 5), np.int16)  # axes (R, A, S): each index grows toward right, anterior, superior
    vol[0, 3, :] = 300  # the most anterior voxels on the patient's far left
    seg = np.zeros_like(vol, dtype=np.uint8)
    seg[0, 3, 2] = 1
    folder = tmp_path / "v" / "case_00000"
    folder.mkdir(parents=True)
    nib.save(nib.Nifti1Image(vol, np.diag([3.0, 3.0, 3.0, 1.0])), folder / "imaging.nii.gz")
    nib.save(nib.Nifti1Image(seg, np.diag([3.0, 3.0, 3.0, 1.0])), folder / "segmentation.nii.gz")
    cfg = make_cfg("kits19", tmp_path / "v", image_size=(3, 4), options={"hu_window": [0, 300]})
    ds = load_prepared(prepare_dataset(cfg, tmp_path / "o"))
    assert len(ds) == 5 and ds.info["importer"]["cases"]["case_00000"]["axis"] == 2
    image = ds.load_images([ds.ids[2]])[0][..., 0]
    # rows anterior -> posterior, columns patient right -> left: the bright voxel is top-right
    assert image.shape == (4, 3) and image[0, 2] == 255 and image.sum() == 255
    assert ds.load_masks([ds.ids[2]])[0][0, 2] == 1 and ds.load_masks([ds.ids[1]])[0].sum() == 0
    raw = load_prepared(prepare_dataset({**cfg, "image_size": [4, 3], "options": {"hu_window": [0, 300], "reorient": False}},
                                        tmp_path / "raw"))
    assert raw.load_images([raw.ids[2]])[0][0, 3, 0] == 255  # array order kept: (R index, A index)


def test_axis_option_overrides_the_affine(tmp_path):
    kits_case(tmp_path / "k", n=4, h=6, w=5, affine=np.eye(4))  # a wrong (identity) affine says S = axis 2
    cfg = make_cfg("kits19", tmp_path / "k", image_size=(4, 6), options={"axis": 0})
    assert len(load_prepared(prepare_dataset(cfg, tmp_path / "o"))) == 4
    auto = load_prepared(prepare_dataset({**cfg, "options": {}}, tmp_path / "auto"))
    assert len(auto) == 5


def test_hu_window_maps_lo_to_0_and_hi_to_255():
    out = window_to_uint8(np.array([-1000, -200, 50, 300, 3000]), -200, 300)
    assert out.tolist() == [0, 0, 128, 255, 255]


@pytest.mark.parametrize("options", [{"hu_window": [300, -200]}, {"hu_window": "wide"}, {"axis": 3}, {"layout": "3d"}])
def test_bad_kits_options_are_config_errors(tmp_path, options):
    kits_case(tmp_path / "k")
    with pytest.raises(ConfigError):
        prepare_dataset(make_cfg("kits19", tmp_path / "k", options=options), tmp_path / "o")


def test_ct_volume_sample(shared, tmp_path):
    src = shared("ct_volume_sample")
    ds = load_prepared(prepare_dataset(make_cfg("kits19", src, image_size=(32, 32)), tmp_path / "o"))
    assert len(ds) == 30 and ds.ids[0] == "case_00000_0000" and ds.ids[-1] == "case_00000_0029"
    assert ds.info["importer"]["cases"]["case_00000"]["axis"] == 2
    masks = ds.load_masks()
    has_kidney = masks.reshape(30, -1).any(axis=1)
    assert has_kidney.any() and not has_kidney.all()
    assert (ds.manifest["clinical_label"] == np.where(has_kidney, "kidney", "no kidney")).all()
    assert ds.load_images().std() > 10  # a real CT picture, not a flat window


def test_kits_slice_folders(shared, tmp_path):
    src = shared("kits19") / "slices"
    ds = load_prepared(prepare_dataset(make_cfg("kits19", src, image_size=(32, 32)), tmp_path / "o"))
    truth = pd.read_csv(src / "manifest.csv", dtype=str).set_index("name")
    assert len(ds) == len(truth)
    m = ds.manifest.set_index("image_id")
    assert (m["group_id"] == truth.loc[m.index, "kits19_case"]).all()
    assert m["group_id"].nunique() == truth["kits19_case"].nunique()
    assert set(np.unique(ds.load_masks())) == {0, 1}  # labels 1 and 2 both -> 1
    assert (m["clinical_label"] == "kidney").all()
    # the kits19 root with slices/ inside is found too
    assert len(load_prepared(prepare_dataset(make_cfg("kits19", shared("kits19"), image_size=(8, 8)), tmp_path / "r"))) == len(truth)


def test_slice_folders_without_manifest_group_by_name_prefix(tmp_path):
    for name in ("100_1", "100_2", "101_7"):
        write_png(tmp_path / "s" / "images" / f"{name}.png", np.full((6, 6), 80, np.uint8))
        write_png(tmp_path / "s" / "labels" / f"{name}.png", square_mask(6, 6, 2))
    ds = load_prepared(prepare_dataset(make_cfg("kits19", tmp_path / "s", image_size=(6, 6)), tmp_path / "o"))
    assert ds.manifest["group_id"].tolist() == ["100", "100", "101"]


def _shape_mismatch(root):
    kits_case(root, seg_shape=(4, 6, 4))
    return "segmentation.nii.gz", "shape"


def _no_segmentation(root):
    kits_case(root)
    (root / "case_00001" / "segmentation.nii.gz").unlink()
    return "imaging.nii.gz", "image without mask"


def _no_imaging(root):
    kits_case(root)
    (root / "case_00001" / "imaging.nii.gz").unlink()
    return "segmentation.nii.gz", "mask without image"


def _truncated_volume(root):
    kits_case(root)
    path = root / "case_00001" / "imaging.nii.gz"
    path.write_bytes(path.read_bytes()[:200])
    return "imaging.nii.gz", "re-download"


def _empty(root):
    root.mkdir()
    return str(root.name), "case_XXXXX"


@pytest.mark.parametrize("breaker", [_shape_mismatch, _no_segmentation, _no_imaging, _truncated_volume, _empty])
def test_malformed_volumes_fail_cleanly(tmp_path, breaker):
    name, fix = breaker(tmp_path / "kits")
    out = tmp_path / "prepared" / "kidney"
    with pytest.raises(DataError) as info:
        prepare_dataset(make_cfg("kits19", tmp_path / "kits"), out)
    assert name in str(info.value) and fix in str(info.value), str(info.value)
    assert_nothing_left(out)


def test_each_volume_is_decoded_once(tmp_path, monkeypatch):
    from medseglab.data.formats import kits19

    kits_case(tmp_path / "k", case="case_00001", n=6)
    kits_case(tmp_path / "k", case="case_00002", n=6)
    opened = []
    real = kits19.open_nifti
    monkeypatch.setattr(kits19, "open_nifti", lambda path: opened.append(path) or real(path))
    monkeypatch.setenv("MEDSEGLAB_WORKERS", "4")
    ds = load_prepared(prepare_dataset(make_cfg("kits19", tmp_path / "k", image_size=(5, 6)), tmp_path / "o"))
    assert len(ds) == 12
    assert len(opened) == 8  # per case: 2 header reads while listing, 2 decodes for all 6 slices
