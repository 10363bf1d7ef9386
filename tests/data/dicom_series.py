"""Write CT series as DICOM files with pydicom, for the dicom importer's tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

AXIAL = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]  # rows run toward patient left (+x LPS), columns toward posterior (+y)
SLOPE, INTERCEPT = 0.5, -4096.0  # stored = (HU + 4096) * 2: a wrong slope or intercept shows


def write_slice(path: Path, hu: np.ndarray, position, *, series_uid: str, patient_id: str = "P001",
                spacing=(3.0, 3.0), orientation=AXIAL, instance: int = 1) -> Path:
    """One CT slice (rows x columns HU) as uint16 stored values with RescaleSlope/Intercept."""
    stored = np.round((np.asarray(hu, np.float64) - INTERCEPT) / SLOPE)
    assert stored.min() >= 0 and stored.max() < 65536
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.PatientID = patient_id
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = series_uid
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = [float(v) for v in position]
    ds.ImageOrientationPatient = list(orientation)
    ds.PixelSpacing = [float(spacing[0]), float(spacing[1])]
    ds.SliceThickness = 3.0
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleSlope, ds.RescaleIntercept = SLOPE, INTERCEPT
    ds.PixelData = stored.astype(np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def volume_series(folder: Path, volume: np.ndarray, affine: np.ndarray, *, seed: int = 0, **kwargs) -> list[Path]:
    """An axial series from a RAS+ NIfTI volume (i -> right, j -> anterior, k -> superior): slice k is
    ``volume[::-1, ::-1, k].T`` (rows anterior -> posterior, columns right -> left), its first pixel
    is voxel (I-1, J-1, k). Files get shuffled random names, so only the positions give the order."""
    ni, nj, nk = volume.shape
    assert np.allclose(affine[:3, :3], np.diag(np.diag(affine[:3, :3]))) and (np.diag(affine)[:3] > 0).all()
    uid = generate_uid()
    names = np.random.default_rng(seed).permutation(nk)
    paths = []
    for k in range(nk):
        ras = affine @ np.array([ni - 1, nj - 1, k, 1.0])
        position = (-ras[0], -ras[1], ras[2])
        spacing = (abs(affine[1, 1]), abs(affine[0, 0]))  # between rows (A-P), between columns (R-L)
        paths.append(write_slice(folder / f"IM{names[k]:05d}.dcm", volume[::-1, ::-1, k].T, position,
                                 series_uid=uid, spacing=spacing, instance=k + 1, **kwargs))
    return paths


def small_series(folder: Path, n: int = 5, h: int = 6, w: int = 8, *, seed: int = 0, z0: float = 10.0,
                 step: float = 2.5, **kwargs) -> tuple[list[Path], np.ndarray]:
    """n axial slices h x w (HU ramp + noise), positions z0 + k * step, written in reverse name order."""
    rng = np.random.default_rng(seed)
    hu = rng.integers(-400, 600, (n, h, w)).astype(np.float64)
    uid = kwargs.pop("series_uid", None) or generate_uid()
    paths = [write_slice(folder / f"slice{n - 1 - k:03d}.dcm", hu[k], (-20.0, -30.0, z0 + k * step),
                         series_uid=uid, instance=k + 1, **kwargs) for k in range(n)]
    return paths, hu


def read(path: Path) -> Dataset:
    return pydicom.dcmread(path)
