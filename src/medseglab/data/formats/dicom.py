"""`dicom`: CT series as DICOM slice files (pydicom), one folder per series.

```
<source>/.../<series folder>/*.dcm           (or files without the suffix that carry the DICOM preamble)
<source>/.../<series folder>/segmentation.nii.gz      a label volume of the series, or
<source>/.../<series folder>/masks/<file>.png         one label PNG per slice, named like its DICOM file
```

Every folder under the source that directly holds DICOM files is one series (any depth, so
``patient/study/series`` exports work; folders named ``masks`` and hidden ones are skipped). A
series' slices are ordered by position: ``ImagePositionPatient`` projected on the slice normal
(the cross product of the two ``ImageOrientationPatient`` directions), so the file names and their
order on disk do not matter; image id ``<series>_<k:04d>``, ``<series>`` the folder's path below
the source with ``_`` for ``/``. Pixels go to HU by the modality LUT (``RescaleSlope`` and
``RescaleIntercept``), then through ``hu_window`` to 0..255 like ``kits19``; the slice is shown as
stored (rows and columns as in the file, the usual radiological view for axial CT).

Masks (option ``masks``: auto, nifti, png): a NIfTI label volume is matched to each slice by
geometry (each pixel's patient position, DICOM LPS, through the NIfTI affine's inverse, RAS), so
any orientation of the volume works as long as it lies on the series' voxel grid (an export of
these DICOM files: dcm2niix, an annotation tool); PNG masks are read with the mask policy of
docs/DATA.md. Target = label > 0. Group (option ``group``): ``patient`` (``PatientID``; the series
when it is empty) or ``series``. Clinical label ``<target>`` / ``no <target>`` from the prepared
mask (option ``target``, default ``target``).

Refused, naming the file and the fix: several series in one folder, a missing slice (a gap in the
positions; option ``allow_gaps``), two slices at one position, a file without pixel data,
compressed pixel data no installed decoder reads, multi-frame or colour files, slices of
different size or orientation.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from medseglab.config import ConfigError
from medseglab.data.errors import DataError
from medseglab.data.formats.kits19 import VolumeCache, hu_window, open_nifti, read_volume, window_to_uint8
from medseglab.data.records import Record, check_same_size, missing_pairs_error, read_label_map
from medseglab.data.registry import ImportContext, register_format

log = logging.getLogger(__name__)

MASK_VOLUMES = ("segmentation.nii.gz", "segmentation.nii")
MASK_FOLDER = "masks"
PREAMBLE = b"DICM"
GAP_FACTOR = 1.5  # a step this many times the series' usual spacing is a missing slice
GRID_TOLERANCE = 0.1  # voxels: how far a pixel may fall from a label voxel's centre
DECODER_FIX = ("install a decoder (pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg, or gdcm) or store the "
               "series uncompressed (gdcmconv --raw IN OUT, or dcmdjpeg IN OUT)")


@dataclass
class Slice:
    path: Path
    series_uid: str
    patient_id: str
    rows: int
    columns: int
    position: np.ndarray | None  # ImagePositionPatient (mm, LPS)
    orientation: np.ndarray | None  # ImageOrientationPatient: row direction, column direction
    spacing: tuple[float, float]  # PixelSpacing: between rows, between columns (mm)
    modality: str


def is_dicom(path: Path) -> bool:
    """A ``.dcm`` file, or any file with the DICOM preamble (``DICM`` at byte 128); not DICOMDIR."""
    if path.name.upper() == "DICOMDIR" or path.name.startswith("."):
        return False
    if path.suffix.lower() == ".dcm":
        return True
    try:
        with open(path, "rb") as handle:
            head = handle.read(132)
    except OSError:
        return False
    return head[128:132] == PREAMBLE


def series_folders(source: Path) -> dict[Path, list[Path]]:
    """{folder: its DICOM files, sorted}: every folder below ``source`` that directly holds DICOM files."""
    found: dict[Path, list[Path]] = {}
    for folder, dirs, files in os.walk(source, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != MASK_FOLDER)
        dicoms = sorted(Path(folder) / f for f in files if is_dicom(Path(folder) / f))
        if dicoms:
            found[Path(folder)] = dicoms
    return found


def _read(path: Path, *, pixels: bool):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        # defer_size: the header check reads the pixel data element's position, not its bytes
        return pydicom.dcmread(path, force=True, defer_size=None if pixels else "1 KB")
    except (InvalidDicomError, OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: cannot read this DICOM file ({exc}); the file is truncated or not DICOM: "
                        "re-export it or remove it from the series folder") from exc


def check_pixels(ds, path: Path) -> None:
    """The checks that need no neighbour: pixel data present, decodable, one grey frame."""
    if "SOPClassUID" not in ds and "Rows" not in ds:
        raise DataError(f"{path}: not a readable DICOM file (no SOP class, no image size: cut short, or not DICOM); "
                        "re-export it or remove it from the series folder")
    if "PixelData" not in ds:
        other = next((k for k in ("FloatPixelData", "DoubleFloatPixelData") if k in ds), None)
        what = f"only {other} (not CT stored values)" if other else "no pixel data"
        raise DataError(
            f"{path}: {what}; a header-only file (e.g. a structured report or a dose report) cannot be a slice: "
            "remove it from the series folder, or export the series again with its images"
        )
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is not None and syntax.is_compressed:
        from pydicom.pixels import get_decoder

        try:
            decoder = get_decoder(syntax)
        except NotImplementedError:
            decoder = None
        if decoder is None or not decoder.is_available:
            needs = "; ".join(decoder.missing_dependencies) if decoder is not None else "no pydicom decoder exists"
            raise DataError(f"{path}: pixel data compressed as {syntax.name} ({syntax}) and no installed decoder reads "
                            f"it ({needs}); {DECODER_FIX}")
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        raise DataError(f"{path}: a multi-frame (enhanced) DICOM file of {ds.NumberOfFrames} frames; this format reads "
                        "one slice per file: convert it to single-frame slices (e.g. dcmtk's emf2sf, or dcm2niix and "
                        "the kits19 format)")
    if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        raise DataError(f"{path}: a colour image ({ds.SamplesPerPixel} samples per pixel), not a CT slice; "
                        "remove it from the series folder")


def _floats(ds, key: str, n: int, path: Path) -> np.ndarray | None:
    value = ds.get(key)
    if value is None or value == "":
        return None
    try:
        out = np.array([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{path}: {key} {value!r} is not {n} numbers; fix or re-export the file") from exc
    if out.shape != (n,):
        raise DataError(f"{path}: {key} {value!r} is not {n} numbers; fix or re-export the file")
    return out


def read_header(path: Path) -> Slice:
    ds = _read(path, pixels=False)
    check_pixels(ds, path)
    uid = str(ds.get("SeriesInstanceUID", "") or "")
    if not uid:
        raise DataError(f"{path}: no SeriesInstanceUID, so its series cannot be checked; re-export the series "
                        "from the scanner or PACS (anonymisers keep this tag)")
    if "Rows" not in ds or "Columns" not in ds:
        raise DataError(f"{path}: no Rows / Columns, so its pixel data cannot be read; re-export the file")
    spacing = _floats(ds, "PixelSpacing", 2, path)
    return Slice(
        path=path, series_uid=uid, patient_id=str(ds.get("PatientID", "") or "").strip(),
        rows=int(ds.Rows), columns=int(ds.Columns),
        position=_floats(ds, "ImagePositionPatient", 3, path),
        orientation=_floats(ds, "ImageOrientationPatient", 6, path),
        spacing=(1.0, 1.0) if spacing is None else (float(spacing[0]), float(spacing[1])),
        modality=str(ds.get("Modality", "") or ""),
    )


def order_series(folder: Path, slices: list[Slice], allow_gaps: bool,
                 gap_option: str = "options.allow_gaps") -> tuple[list[Slice], float | None]:
    """The slices of one folder checked as one series and sorted along the slice normal -> (slices, spacing mm)."""
    first = slices[0]
    other = next((s for s in slices if s.series_uid != first.series_uid), None)
    if other is not None:
        n = len({s.series_uid for s in slices})
        raise DataError(
            f"{folder}: holds {n} series: {other.path.name} is series {other.series_uid} but {first.path.name} is "
            f"{first.series_uid}; one folder must hold one series: move each series' files into a folder of its own "
            "(grouped by SeriesInstanceUID)"
        )
    for s in slices[1:]:
        if (s.rows, s.columns) != (first.rows, first.columns):
            raise DataError(f"{s.path}: {s.columns}x{s.rows} pixels but {first.path.name} is {first.columns}x"
                            f"{first.rows}; a series' slices share one size: remove the odd file (a localizer?)")
    if len(slices) == 1:
        return slices, None
    missing = next((s for s in slices if s.position is None or s.orientation is None), None)
    if missing is not None:
        raise DataError(f"{missing.path}: no ImagePositionPatient / ImageOrientationPatient, so the slices cannot be "
                        "put in order; re-export the series with its geometry tags")
    for s in slices[1:]:
        if not np.allclose(s.orientation, first.orientation, atol=1e-4):
            raise DataError(f"{s.path}: orientation {s.orientation.tolist()} differs from {first.path.name}'s "
                            f"{first.orientation.tolist()}; remove the odd file (a localizer or a reformat)")
    normal = np.cross(first.orientation[:3], first.orientation[3:])
    depth = np.array([float(s.position @ normal) for s in slices])
    order = np.argsort(depth, kind="stable")
    slices, depth = [slices[i] for i in order], depth[order]
    steps = np.diff(depth)
    spacing = float(np.median(steps))
    same = int(np.argmin(steps))
    if steps[same] < 1e-3 * max(spacing, 1e-6) or spacing <= 0:
        a, b = slices[same], slices[same + 1]
        raise DataError(f"{a.path} and {b.path.name}: two slices at one position ({depth[same]:.2f} mm along the "
                        "slice normal); a series has one slice per position: remove the duplicate file")
    gaps = np.flatnonzero(steps > GAP_FACTOR * spacing)
    if gaps.size and not allow_gaps:
        k = int(gaps[0])
        a, b = slices[k], slices[k + 1]
        raise DataError(
            f"{folder}: slice missing between {a.path.name} ({depth[k]:.2f} mm) and {b.path.name} "
            f"({depth[k + 1]:.2f} mm): {steps[k]:.2f} mm apart where the series' slices are {spacing:.2f} mm apart "
            f"({gaps.size} gap(s)); add the missing file(s) (export the series again), or set "
            f"{gap_option}: true to import the series with its gap"
        )
    return slices, spacing


def mask_name(path: Path) -> str:
    """The PNG mask name of a DICOM file: its name without ``.dcm`` (``IM_0001.dcm`` -> ``IM_0001.png``)."""
    stem = path.name[:-4] if path.suffix.lower() == ".dcm" else path.name
    return f"{stem}.png"


def hounsfield(path: Path) -> np.ndarray:
    """The slice in HU: stored values through the modality LUT (RescaleSlope * value + RescaleIntercept)."""
    from pydicom.pixels import apply_modality_lut

    ds = _read(path, pixels=True)
    check_pixels(ds, path)
    try:
        stored = ds.pixel_array
    except (RuntimeError, ValueError, NotImplementedError, AttributeError) as exc:
        raise DataError(f"{path}: cannot decode the pixel data ({exc}); re-export the file, or {DECODER_FIX}") from exc
    return np.asarray(apply_modality_lut(stored, ds), dtype=np.float64)


def label_indices(s: Slice, affine: np.ndarray, shape: tuple[int, ...], volume: Path) -> tuple[np.ndarray, ...]:
    """Voxel indices (i, j, k) of ``volume`` under each pixel of slice ``s`` (arrays rows x columns)."""
    X, Y = s.orientation[:3], s.orientation[3:]
    r, c = np.mgrid[:s.rows, :s.columns]
    lps = s.position + (c[..., None] * s.spacing[1]) * X + (r[..., None] * s.spacing[0]) * Y
    ras = lps * np.array([-1.0, -1.0, 1.0])  # DICOM's patient axes are LPS, NIfTI's RAS
    inverse = np.linalg.inv(affine)
    ijk = ras @ inverse[:3, :3].T + inverse[:3, 3]
    index = np.round(ijk)
    off = float(np.abs(ijk - index).max())
    if off > GRID_TOLERANCE:
        raise DataError(
            f"{volume}: the label volume is not on the grid of {s.path} (its pixels fall up to {off:.2f} voxels "
            "between label voxels): the label volume must be exported from this series' DICOM files (same voxels; "
            "any orientation); re-export it, or give one PNG per slice in masks/"
        )
    index = index.astype(np.int64)
    outside = (index < 0).any(axis=-1) | (index >= np.array(shape[:3])).any(axis=-1)
    if outside.any():
        raise DataError(f"{volume}: the label volume {tuple(shape)} does not cover slice {s.path} (position "
                        f"{s.position.tolist()} mm); it belongs to another series or was cropped: re-export it")
    return index[..., 0], index[..., 1], index[..., 2]


def _choose_masks(folder: Path, want: str, option: str = "options.masks") -> tuple[str, Path]:
    volume = next((folder / n for n in MASK_VOLUMES if (folder / n).is_file()), None)
    pngs = folder / MASK_FOLDER
    if want == "nifti" or (want == "auto" and volume is not None and not pngs.is_dir()):
        if volume is None:
            raise missing_pairs_error("series without mask", [str(folder)], str(folder),
                                      f"add the label volume {MASK_VOLUMES[0]} to the series folder, or remove the series")
        return "nifti", volume
    if want == "png" or (want == "auto" and volume is None and pngs.is_dir()):
        if not pngs.is_dir():
            raise missing_pairs_error("series without mask", [str(folder)], str(folder),
                                      f"add {MASK_FOLDER}/ with one PNG per slice, or remove the series")
        return "png", pngs
    if volume is not None:
        raise DataError(f"{folder}: has both {volume.name} and {MASK_FOLDER}/; say which masks to use: set "
                        f"{option} to nifti or png")
    raise missing_pairs_error(
        "series without mask", [str(folder)], str(folder),
        f"put the label volume at {folder / MASK_VOLUMES[0]} or one PNG per slice in {pngs}/ (named like the "
        "DICOM files: IM_0001.dcm -> IM_0001.png), or remove the series")


def _png_masks(folder: Path, pngs: Path, slices: list[Slice]) -> list[Path]:
    wanted = [pngs / mask_name(s.path) for s in slices]
    missing = [str(s.path) for s, m in zip(slices, wanted) if not m.is_file()]
    if missing:
        raise missing_pairs_error("image without mask", missing, str(pngs),
                                  "add a PNG named like the DICOM file (IM_0001.dcm -> IM_0001.png), or remove the slice")
    extra = sorted(set(p.name for p in pngs.glob("*.png")) - {m.name for m in wanted})
    if extra:
        raise missing_pairs_error("mask without image", [str(pngs / e) for e in extra], str(folder),
                                  "add its DICOM slice, or remove the mask")
    return wanted


def _slice_loader(s: Slice, window, mask_kind: str, mask_path: Path, cache: VolumeCache, key: str):
    def labels():
        image = open_nifti(mask_path)
        volume = read_volume(mask_path)
        while volume.ndim > 3 and volume.shape[-1] == 1:
            volume = volume[..., 0]
        if volume.ndim != 3:
            raise DataError(f"{mask_path}: expected a 3-D label volume, got shape {volume.shape}; re-export it")
        return volume > 0, image.affine

    def load(size):
        gray = window_to_uint8(hounsfield(s.path), *window)
        if mask_kind == "nifti":
            if s.position is None or s.orientation is None:
                raise DataError(f"{s.path}: no ImagePositionPatient / ImageOrientationPatient, so the label volume "
                                f"{mask_path} cannot be matched to it; re-export the slice with its geometry tags, "
                                "or give its mask as a PNG in masks/")
            target, affine = cache.get(key, labels)
            mask = target[label_indices(s, affine, target.shape, mask_path)]
        else:
            mask = read_label_map(mask_path) > 0
            check_same_size((s.columns, s.rows), mask.shape, s.path, mask_path)
        if gray.shape != (s.rows, s.columns):
            raise DataError(f"{s.path}: pixel data is {gray.shape} but the header says {s.rows}x{s.columns}; re-export it")
        return Image.fromarray(gray, mode="L").convert("RGB"), mask.astype(np.uint8)

    return load


def _series_id(folder: Path, source: Path) -> str:
    rel = folder.relative_to(source)
    return "_".join(rel.parts) if rel.parts else source.resolve().name


@register_format(
    "dicom",
    options={"hu_window": [-200, 300], "group": "patient", "masks": "auto", "allow_gaps": False, "target": "target"},
    layout="<source>/<series folder>/*.dcm + segmentation.nii.gz or masks/<file>.png, one folder per series",
)
def import_dicom(ctx: ImportContext):
    from medseglab.progress import bar

    lo, hi = hu_window(ctx.options["hu_window"], ctx.option_key("hu_window"))
    group, want = ctx.options["group"], ctx.options["masks"]
    if group not in ("patient", "series"):
        raise ConfigError(f"{ctx.option_key('group')} = {group!r}: use patient or series")
    if want not in ("auto", "nifti", "png"):
        raise ConfigError(f"{ctx.option_key('masks')} = {want!r}: use auto, nifti or png")
    if not isinstance(ctx.options["allow_gaps"], bool):
        raise ConfigError(f"{ctx.option_key('allow_gaps')} = {ctx.options['allow_gaps']!r}: use true or false")
    target = str(ctx.options["target"] or "").strip()
    if not target:
        raise ConfigError(f"{ctx.option_key('target')}: name the target (e.g. kidney), it makes the clinical labels")
    folders = series_folders(ctx.source)
    if not folders:
        raise DataError(f"{ctx.source}: no DICOM files found (*.dcm, or files with the DICOM preamble); the dicom "
                        "format expects one folder per series")
    files = [f for fs in folders.values() for f in fs]
    headers = {f: read_header(f) for f in bar(files, total=len(files), desc="read DICOM headers", unit="file")}
    cache = VolumeCache()
    records, summary, fallback = [], {}, []
    for folder, paths in folders.items():
        sid = _series_id(folder, ctx.source)
        slices, spacing = order_series(folder, [headers[p] for p in paths], ctx.options["allow_gaps"],
                                       ctx.option_key("allow_gaps"))
        kind, where = _choose_masks(folder, want, ctx.option_key("masks"))
        masks = _png_masks(folder, where, slices) if kind == "png" else [where] * len(slices)
        patient = slices[0].patient_id
        if group == "patient" and not patient:
            fallback.append(sid)
        group_id = patient if group == "patient" and patient else sid
        for k, (s, mask) in enumerate(zip(slices, masks)):
            records.append(Record(
                image_id=f"{sid}_{k:04d}", group_id=group_id, clinical_label=None,
                label_from_mask=(target, f"no {target}"), source_image=str(s.path),
                source_mask=f"{mask}#slice={k}" if kind == "nifti" else str(mask),
                load=_slice_loader(s, (lo, hi), kind, mask, cache, sid),
            ))
        summary[sid] = {"folder": str(folder), "series_uid": slices[0].series_uid, "patient_id": patient,
                        "modality": slices[0].modality, "slices": len(slices), "spacing_mm": spacing, "masks": kind}
    if fallback:
        log.warning("warning: %d series have no PatientID, so each is its own group (%s): slices of one patient in "
                    "two series could straddle train and test; fill PatientID or set options.group: series",
                    len(fallback), ", ".join(fallback[:5]))
    ctx.details.update(layout="series", hu_window=[lo, hi], group=group, series=summary,
                       group_fallback_to_series=fallback)
    return records
