"""`dicom`: CT series of DICOM slices -> ordered slices, HU window, NIfTI or PNG masks, groups; malformed series."""

from __future__ import annotations

import shutil

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from medseglab.config import ConfigError
from medseglab.data import DataError, load_prepared, prepare_dataset
from medseglab.data.formats.kits19 import window_to_uint8

from .dicom_series import SLOPE, INTERCEPT, read, small_series, volume_series
from .helpers import assert_nothing_left, make_cfg, square_mask, write_png


def prepare(source, out, **kwargs):
    kwargs.setdefault("image_size", (8, 6))
    return load_prepared(prepare_dataset(make_cfg("dicom", source, **kwargs), out))


def test_pydicom_ct_file(tmp_path):
    """The real CT slice pydicom ships: HU from its slope (1) and intercept (-1024), its PatientID as group."""
    src = tmp_path / "src" / "series1"
    src.mkdir(parents=True)
    shutil.copy(get_testdata_file("CT_small.dcm"), src / "CT_small.dcm")
    write_png(src / "masks" / "CT_small.png", square_mask(128, 128, 255))
    ds = prepare(tmp_path / "src", tmp_path / "o", image_size=(128, 128), options={"hu_window": [-1000, 400]})
    truth = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    hu = truth.pixel_array.astype(np.float64) * float(truth.RescaleSlope) + float(truth.RescaleIntercept)
    assert float(truth.RescaleIntercept) == -1024 and hu.min() < -800  # real HU, not stored values
    assert ds.ids == ["series1_0000"]
    image = ds.load_images()[0]
    np.testing.assert_array_equal(image[..., 0], window_to_uint8(hu, -1000, 400))
    np.testing.assert_array_equal(image[..., 0], image[..., 2])
    np.testing.assert_array_equal(ds.load_masks()[0], square_mask(128, 128))
    row = ds.manifest.iloc[0]
    assert row["group_id"] == "1CT1" and row["clinical_label"] == "target"
    assert row["source_image"].endswith("CT_small.dcm") and row["source_mask"].endswith("CT_small.png")
    info = ds.info["importer"]["series"]["series1"]
    assert info["patient_id"] == "1CT1" and info["modality"] == "CT" and info["masks"] == "png"


@pytest.fixture
def ct_sample(shared):
    folder = shared("ct_volume_sample") / "case_00000"
    image = nib.load(folder / "imaging.nii.gz")
    return folder, np.asarray(image.dataobj), image.affine


def test_series_from_the_ct_volume_sample_matches_the_kits19_import(ct_sample, tmp_path):
    """A series written from the real CT volume (shuffled file names, slope 0.5, intercept -4096), masks
    from its NIfTI label volume: the same slices, HU and masks as the kits19 import of the volume."""
    folder, volume, affine = ct_sample
    series = tmp_path / "dicom" / "patient7" / "ct"
    volume_series(series, volume, affine, patient_id="patient7")
    shutil.copy(folder / "segmentation.nii.gz", series / "segmentation.nii.gz")
    assert {float(read(p).RescaleSlope) for p in series.glob("*.dcm")} == {SLOPE} and INTERCEPT == -4096
    size, window = (122, 101), {"hu_window": [-160, 240]}
    got = prepare(tmp_path / "dicom", tmp_path / "o", image_size=size, options={**window, "target": "kidney"})
    ref = load_prepared(prepare_dataset(make_cfg("kits19", folder.parent, image_size=size, options=window),
                                        tmp_path / "ref"))
    assert got.ids == [f"patient7_ct_{k:04d}" for k in range(30)] and len(ref) == 30
    np.testing.assert_array_equal(got.load_images(), ref.load_images())  # order, orientation and HU
    masks = got.load_masks()
    np.testing.assert_array_equal(masks, ref.load_masks())
    assert masks.any() and not masks.reshape(30, -1).any(axis=1).all()
    assert (got.manifest["clinical_label"] == np.where(masks.reshape(30, -1).any(axis=1), "kidney", "no kidney")).all()
    assert set(got.manifest["group_id"]) == {"patient7"}
    info = got.info["importer"]["series"]["patient7_ct"]
    assert info["slices"] == 30 and info["spacing_mm"] == pytest.approx(3.0) and info["masks"] == "nifti"
    assert got.manifest["source_mask"].iloc[4].endswith("segmentation.nii.gz#slice=4")

    # the label volume in KiTS19's own axis order (I, P, L): matched by geometry, not by array order
    seg_image = nib.load(folder / "segmentation.nii.gz")
    turn = nib.orientations.ornt_transform(nib.orientations.io_orientation(seg_image.affine),
                                           nib.orientations.axcodes2ornt(("I", "P", "L")))
    turned = seg_image.as_reoriented(turn)
    assert nib.aff2axcodes(turned.affine) == ("I", "P", "L") and turned.shape == (30, 101, 122)
    nib.save(turned, series / "segmentation.nii.gz")
    ipl = prepare(tmp_path / "dicom", tmp_path / "ipl", image_size=size, options=window)
    np.testing.assert_array_equal(ipl.load_masks(), masks)

    # the same masks as one PNG per slice, named like the DICOM files; slices in position order
    (series / "segmentation.nii.gz").unlink()
    seg = np.asarray(nib.load(folder / "segmentation.nii.gz").dataobj)
    ordered = sorted(series.glob("*.dcm"), key=lambda p: float(read(p).ImagePositionPatient[2]))
    for k, path in enumerate(ordered):
        write_png(series / "masks" / f"{path.stem}.png", (seg[::-1, ::-1, k].T > 0) * 255)
    png = prepare(tmp_path / "dicom", tmp_path / "png", image_size=size, options={**window, "group": "series"})
    np.testing.assert_array_equal(png.load_masks(), masks)
    assert set(png.manifest["group_id"]) == {"patient7_ct"}


def test_series_are_groups_by_patient_or_series(tmp_path):
    for name, patient in (("a", "P1"), ("b", "P1"), ("c", "P2")):
        small_series(tmp_path / "src" / name, n=3, patient_id=patient)
        write_png(tmp_path / "src" / name / "masks" / "slice000.png", square_mask(6, 8))
        for k in (1, 2):
            write_png(tmp_path / "src" / name / "masks" / f"slice{k:03d}.png", np.zeros((6, 8)))
    ds = prepare(tmp_path / "src", tmp_path / "o")
    assert ds.manifest.groupby("group_id").size().to_dict() == {"P1": 6, "P2": 3}
    by_series = prepare(tmp_path / "src", tmp_path / "s", options={"group": "series"})
    assert set(by_series.manifest["group_id"]) == {"a", "b", "c"}
    # slice000.png belongs to the file with the highest position: the last slice after ordering
    assert ds.manifest.set_index("image_id").loc["a_0002", "clinical_label"] == "target"
    assert ds.manifest.set_index("image_id").loc["a_0000", "clinical_label"] == "no target"


def test_slices_are_ordered_by_position_not_by_name(tmp_path):
    paths, hu = small_series(tmp_path / "src" / "s", n=4)
    for p in paths:
        write_png(tmp_path / "src" / "s" / "masks" / f"{p.stem}.png", np.zeros((6, 8)))
    ds = prepare(tmp_path / "src", tmp_path / "o", options={"hu_window": [-400, 600]})
    for k in range(4):
        np.testing.assert_array_equal(ds.load_images([f"s_{k:04d}"])[0][..., 0], window_to_uint8(hu[k], -400, 600))


# --- malformed series: each fails naming the file and the fix, leaving nothing behind ---------------------


def _series(root, n=5):
    paths, _ = small_series(root / "s", n=n)
    write_png(root / "s" / "segmentation_unused.png", np.zeros((6, 8)))  # stray files are ignored
    for p in paths:
        write_png(root / "s" / "masks" / f"{p.stem}.png", np.zeros((6, 8)))
    return paths


def _mixed_series(root):
    _series(root)
    small_series(root / "s", n=1, z0=50.0, series_uid="1.2.826.0.1.3680043.8.498.99")  # another series' file
    return "slice000.dcm", "one folder must hold one series"


def _missing_slice(root):
    paths = _series(root)
    paths[2].unlink()
    (root / "s" / "masks" / f"{paths[2].stem}.png").unlink()
    return "slice missing between", "add the missing file(s) (export the series again), or set datasets.ds.options.allow_gaps"


def _without(path, keyword: str):
    """Rewrite a DICOM file without one of its elements."""
    ds = read(path)
    delattr(ds, keyword)
    ds.save_as(path, enforce_file_format=True)
    return path.name


def _no_pixel_data(root):
    return _without(_series(root)[1], "PixelData"), "no pixel data"


def _compressed_without_decoder(root):
    from pydicom.encaps import encapsulate
    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEG2000Lossless, JPEGLosslessSV1, JPEGLSLossless

    syntax = next((u for u in (JPEGLosslessSV1, JPEGLSLossless, JPEG2000Lossless) if not get_decoder(u).is_available), None)
    if syntax is None:
        pytest.skip("every candidate compressed transfer syntax has a decoder installed here")
    paths = _series(root)
    ds = read(paths[3])
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xd9"])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = syntax
    ds.save_as(paths[3], enforce_file_format=True)
    return paths[3].name, "install a decoder"


def _no_masks(root):
    small_series(root / "s", n=3)
    return "series without mask", "segmentation.nii.gz"


def _mask_missing_for_a_slice(root):
    paths = _series(root)
    (root / "s" / "masks" / f"{paths[0].stem}.png").unlink()
    return paths[0].name, "add a PNG named like the DICOM file"


def _duplicate_position(root):
    paths = _series(root)
    shutil.copy(paths[0], root / "s" / "copy.dcm")
    write_png(root / "s" / "masks" / "copy.png", np.zeros((6, 8)))
    return "copy.dcm", "remove the duplicate"


def _no_position(root):
    return _without(_series(root)[0], "ImagePositionPatient"), "re-export the series with its geometry"


def _not_dicom(root):
    _series(root)
    (root / "s" / "notes.dcm").write_text("not a DICOM file")
    return "notes.dcm", "not a readable DICOM file"


def _both_kinds_of_masks(root):
    _series(root)
    nib.save(nib.Nifti1Image(np.zeros((8, 6, 5), np.uint8), np.eye(4)), root / "s" / "segmentation.nii.gz")
    return "segmentation.nii.gz and masks/", "datasets.ds.options.masks to nifti or png"


def _label_volume_of_another_grid(root):
    _series(root)
    shutil.rmtree(root / "s" / "masks")
    nib.save(nib.Nifti1Image(np.zeros((8, 6, 5), np.uint8), np.diag([1.7, 1.7, 2.5, 1.0])), root / "s" / "segmentation.nii.gz")
    return "segmentation.nii.gz", "re-export it"


@pytest.mark.parametrize("breaker", [_mixed_series, _missing_slice, _no_pixel_data, _compressed_without_decoder, _no_masks,
                                     _mask_missing_for_a_slice, _duplicate_position, _no_position, _not_dicom,
                                     _both_kinds_of_masks, _label_volume_of_another_grid])
def test_malformed_series_fail_cleanly(tmp_path, breaker):
    name, fix = breaker(tmp_path / "src")
    out = tmp_path / "prepared" / "ct"
    with pytest.raises(DataError) as info:
        prepare_dataset(make_cfg("dicom", tmp_path / "src", image_size=(8, 6)), out)
    assert name in str(info.value) and fix in str(info.value), str(info.value)
    assert_nothing_left(out)


def test_allow_gaps_imports_a_series_with_a_missing_slice(tmp_path):
    _missing_slice(tmp_path / "src")
    assert len(prepare(tmp_path / "src", tmp_path / "o", options={"allow_gaps": True})) == 4


def test_no_dicom_files_at_all(tmp_path):
    (tmp_path / "src").mkdir()
    with pytest.raises(DataError, match="no DICOM files found"):
        prepare(tmp_path / "src", tmp_path / "o")


@pytest.mark.parametrize("options", [{"hu_window": [300, -200]}, {"group": "study"}, {"masks": "jpeg"},
                                     {"allow_gaps": "yes"}, {"target": " "}])
def test_bad_dicom_options_are_config_errors(tmp_path, options):
    _series(tmp_path / "src")
    with pytest.raises(ConfigError):
        prepare(tmp_path / "src", tmp_path / "o", options=options)


def test_series_without_patient_id_is_its_own_group_with_a_warning(tmp_path, caplog):
    _series(tmp_path / "src")
    for path in (tmp_path / "src" / "s").glob("*.dcm"):
        _without(path, "PatientID")
    with caplog.at_level("WARNING"):
        ds = prepare(tmp_path / "src", tmp_path / "o")
    assert set(ds.manifest["group_id"]) == {"s"} and ds.info["importer"]["group_fallback_to_series"] == ["s"]
    assert "no PatientID" in caplog.text and "options.group: series" in caplog.text


def test_prepare_command_imports_a_dicom_series_and_names_a_bad_file(tmp_path, capsys):
    from medseglab.cli import main

    from .test_cli import PARAMS

    _series(tmp_path / "src")
    argv = ["prepare", "--dataset", "ct", "--format", "dicom", "--source", str(tmp_path / "src"), "--params", str(PARAMS),
            "--set", "datasets.ct.image_size=[8,6]"]
    assert main(argv + ["--out", str(tmp_path / "ok"), "--profile", "paper"]) == 0
    assert len(load_prepared(tmp_path / "ok")) == 5 and "of ct (dicom" in capsys.readouterr().out
    _without(tmp_path / "src" / "s" / "slice002.dcm", "PixelData")
    assert main(argv + ["--out", str(tmp_path / "bad"), "--profile", "paper"]) == 2
    assert "slice002.dcm: no pixel data" in capsys.readouterr().err
    assert_nothing_left(tmp_path / "bad")
