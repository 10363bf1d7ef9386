"""`kits19`: kidney CT, as NIfTI volumes or as 2-D slice files.

(a) volumes: ``<source>/case_XXXXX/imaging.nii.gz`` + ``segmentation.nii.gz`` (0 background,
    1 kidney, 2 tumour). Each volume is cut into 2-D axial slices, image id
    ``<case>_<slice:04d>`` (the slice's index along the volume's axial axis), group = case.
    The axial axis is read from the NIfTI affine: the voxel axis whose direction is S or I
    (``nibabel.aff2axcodes``). KiTS19's own volumes are (slices, H, W) with codes (I, P, L),
    so the axial axis is 0; the TotalSegmentator sample is (R, A, S), axis 2. Option ``axis``
    (0, 1, 2) overrides this for files with a wrong affine. With ``reorient`` (default true)
    every slice is shown the radiological way: rows anterior -> posterior, columns patient
    right -> left (KiTS19 slices are already so and stay untouched).
    HU are clipped to ``hu_window: [lo, hi]`` and scaled to 0..255.
(b) slices: ``<source>/images/*.png|*.jpg`` (8-bit grayscale) + ``<source>/labels/<stem>.png``
    (0/1/2), optional ``manifest.csv`` (``name`` -> ``kits19_case``) for the group; without it
    the group is the name before its last ``_`` (``10036_103`` -> ``10036``). Also found in
    ``<source>/slices/``.

Target = label > 0 (kidney incl. tumour); clinical label ``kidney`` / ``no kidney`` from the
prepared mask. Grayscale is repeated to 3 channels.
"""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict
from pathlib import Path

import nibabel as nib
import numpy as np
from PIL import Image

from medseglab.config import ConfigError
from medseglab.data.errors import DataError
from medseglab.data.formats.folder import pair_folders
from medseglab.data.records import Record, check_same_size, missing_pairs_error, read_label_map, read_rgb
from medseglab.data.registry import ImportContext, register_format
from medseglab.data.tables import id_table, warn_unmatched

IMAGING = "imaging.nii.gz"
SEGMENTATION = "segmentation.nii.gz"
LABELS = ("kidney", "no kidney")
NIFTI_ERRORS = (OSError, EOFError, zlib.error, ValueError, nib.filebasedimages.ImageFileError)


def hu_window(value, key: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        lo = hi = None
    if lo is None or not lo < hi:
        raise ConfigError(f"{key} = {value!r}: give [lo, hi] in HU with lo < hi, e.g. [-200, 300]")
    return lo, hi


def window_to_uint8(hu: np.ndarray, lo: float, hi: float) -> np.ndarray:
    scaled = (np.clip(hu.astype(np.float32), lo, hi) - lo) * (255.0 / (hi - lo))
    return np.round(scaled).astype(np.uint8)


def axial_axis(codes: tuple[str, ...], path: Path) -> int:
    axes = [i for i, c in enumerate(codes) if c in ("S", "I")]
    if len(axes) != 1:
        raise DataError(
            f"{path}: cannot tell the axial axis from the affine (axis codes {codes}); "
            "set options.axis to 0, 1 or 2"
        )
    return axes[0]


def slice_plan(codes: tuple[str, ...], axis: int, reorient: bool) -> tuple[bool, bool, bool]:
    """(transpose, flip rows, flip cols) that puts anterior at the top, patient right on the left."""
    inplane = [c for i, c in enumerate(codes) if i != axis]
    if not reorient or None in inplane or sorted(c in "AP" for c in inplane) != [False, True]:
        return False, False, False  # in-plane axes are not A/P + R/L: keep the array order
    transpose = inplane[0] in "RL"
    rows, cols = (inplane[1], inplane[0]) if transpose else (inplane[0], inplane[1])
    return transpose, rows == "A", cols == "R"


def take_slice(volume: np.ndarray, axis: int, index: int, plan: tuple[bool, bool, bool]) -> np.ndarray:
    plane = np.take(volume, index, axis=axis)
    transpose, flip_rows, flip_cols = plan
    if transpose:
        plane = plane.T
    if flip_rows:
        plane = plane[::-1]
    if flip_cols:
        plane = plane[:, ::-1]
    return np.ascontiguousarray(plane)


def open_nifti(path: Path):
    try:
        return nib.load(str(path))
    except FileNotFoundError as exc:
        raise DataError(f"{path}: file not found") from exc
    except NIFTI_ERRORS as exc:
        raise DataError(f"{path}: cannot read this NIfTI file ({exc}); re-download or remove the case") from exc


def read_volume(path: Path) -> np.ndarray:
    """The voxels of one NIfTI file; a file whose header reads but whose data is cut short is named."""
    image = open_nifti(path)
    try:
        return np.asanyarray(image.dataobj)
    except NIFTI_ERRORS as exc:
        raise DataError(
            f"{path}: cannot decode this NIfTI volume ({exc}); the file is truncated or corrupt: "
            "re-download it or remove the case"
        ) from exc


class VolumeCache:
    """Decoded volumes of the last few cases (or DICOM series), shared by the slice loaders of the
    thread pool: ``get(key, build)`` calls ``build()`` once per key while the key stays cached.

    Records are sorted by image id, so one case's slices arrive together: a small cache means
    each volume is decompressed once. kits19 keeps the windowed 8-bit image and the binary target
    (2 bytes a voxel, ~300 MB for a 600-slice KiTS19 case), not the raw HU.
    """

    def __init__(self, size: int = 2):
        self.size = size
        self.lock = threading.Lock()
        self.key_locks: dict[str, threading.Lock] = {}
        self.volumes: OrderedDict[str, object] = OrderedDict()

    def get(self, key: str, build):
        with self.lock:
            key_lock = self.key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self.lock:
                if key in self.volumes:
                    self.volumes.move_to_end(key)
                    return self.volumes[key]
            value = build()
            with self.lock:
                self.volumes[key] = value
                while len(self.volumes) > self.size:
                    self.volumes.popitem(last=False)
            return value


def _volume_cases(ctx: ImportContext) -> list[Record]:
    lo, hi = hu_window(ctx.options["hu_window"], ctx.option_key("hu_window"))
    forced = ctx.options["axis"]
    if forced not in (None, "auto", 0, 1, 2):
        raise ConfigError(f"{ctx.option_key('axis')} = {forced!r}: use auto, 0, 1 or 2")
    cases = sorted(p for p in ctx.source.iterdir() if p.is_dir() and p.name.startswith("case_"))
    no_seg = [str(c / IMAGING) for c in cases if (c / IMAGING).is_file() and not (c / SEGMENTATION).is_file()]
    if no_seg:
        raise missing_pairs_error("image without mask", no_seg, "the case folders",
                                  f"add the case's {SEGMENTATION} or remove the case (KiTS19 test cases have none)")
    no_img = [str(c / SEGMENTATION) for c in cases if (c / SEGMENTATION).is_file() and not (c / IMAGING).is_file()]
    if no_img:
        raise missing_pairs_error("mask without image", no_img, "the case folders",
                                  f"add the case's {IMAGING} or remove the case")
    cache = VolumeCache()
    records, axes = [], {}
    for case_dir in cases:
        imaging, segmentation = case_dir / IMAGING, case_dir / SEGMENTATION
        if not imaging.is_file():
            continue
        img, seg = open_nifti(imaging), open_nifti(segmentation)
        if img.shape != seg.shape:
            raise DataError(
                f"{segmentation}: label volume is {seg.shape} but {imaging} is {img.shape}; "
                "the segmentation must have the imaging volume's shape: re-export it or remove the case"
            )
        if len(img.shape) != 3:
            raise DataError(f"{imaging}: expected a 3-D volume, got shape {img.shape}; remove the case")
        codes = nib.aff2axcodes(img.affine)
        axis = axial_axis(codes, imaging) if forced in (None, "auto") else int(forced)
        plan = slice_plan(codes, axis, bool(ctx.options["reorient"]))
        axes[case_dir.name] = {"axis": axis, "axcodes": "".join(codes), "slices": int(img.shape[axis])}
        for index in range(img.shape[axis]):
            records.append(Record(
                image_id=f"{case_dir.name}_{index:04d}",
                group_id=case_dir.name,
                clinical_label=None,
                label_from_mask=LABELS,
                source_image=f"{imaging}#slice={index}",
                source_mask=f"{segmentation}#slice={index}",
                load=_slice_loader(cache, case_dir.name, imaging, segmentation, (lo, hi), axis, index, plan),
            ))
    if not records:
        raise DataError(
            f"{ctx.source}: no case_XXXXX/{IMAGING} found; the kits19 format expects case folders "
            "with imaging.nii.gz + segmentation.nii.gz, or images/ + labels/ slice folders"
        )
    ctx.details.update(layout="volumes", hu_window=[lo, hi], cases=axes, reoriented=bool(ctx.options["reorient"]))
    return records


def _slice_loader(cache, case, imaging, segmentation, window, axis, index, plan):
    def decode():
        return window_to_uint8(read_volume(imaging), *window), (read_volume(segmentation) > 0).astype(np.uint8)

    def load(size):
        gray_volume, target_volume = cache.get(case, decode)
        gray = take_slice(gray_volume, axis, index, plan)
        mask = take_slice(target_volume, axis, index, plan)
        return Image.fromarray(gray, mode="L").convert("RGB"), mask

    return load


def _label_loader(image_path: Path, label_path: Path):
    def load(size):
        image, on_disk = read_rgb(image_path, draft_size=size)
        labels = read_label_map(label_path)
        check_same_size(on_disk, labels.shape, image_path, label_path)
        return image, (labels > 0).astype(np.uint8)

    return load


def _slice_files(ctx: ImportContext, root: Path) -> list[Record]:
    groups: dict[str, str] = {}
    manifest = root / "manifest.csv"
    if manifest.is_file():
        _, groups, used = id_table(manifest)  # picks kits19_case (or patient_id, case_id, ...)
        ctx.details.update(manifest=str(manifest), group_column=used["group"])
    ctx.details.update(layout="slices")
    pairs = pair_folders(root / "images", root / "labels", fmt="kits19")
    if manifest.is_file():
        ctx.details["table_ids_without_image"] = warn_unmatched(
            manifest, groups, (stem for stem, _, _ in pairs), str(root / "images"))
    records = []
    for stem, image, label in pairs:
        records.append(Record(
            image_id=stem,
            group_id=groups.get(stem, stem.rsplit("_", 1)[0]),
            clinical_label=None,
            label_from_mask=LABELS,
            source_image=str(image),
            source_mask=str(label),
            load=_label_loader(image, label),
        ))
    return records


@register_format(
    "kits19",
    options={"hu_window": [-200, 300], "axis": "auto", "reorient": True, "layout": "auto"},
    layout="<source>/case_XXXXX/imaging.nii.gz + segmentation.nii.gz, or <source>/images/ + labels/ (+ manifest.csv)",
)
def import_kits19(ctx: ImportContext):
    layout = ctx.options["layout"]
    if layout not in ("auto", "volumes", "slices"):
        raise ConfigError(f"{ctx.option_key('layout')} = {layout!r}: use auto, volumes or slices")
    slice_root = next((r for r in (ctx.source, ctx.source / "slices") if (r / "images").is_dir()), None)
    has_cases = any(p.is_dir() and p.name.startswith("case_") for p in ctx.source.iterdir())
    if layout == "slices" or (layout == "auto" and slice_root is not None and not has_cases):
        if slice_root is None:
            raise DataError(f"{ctx.source}: no images/ + labels/ slice folders found; fix the source path")
        return _slice_files(ctx, slice_root)
    return _volume_cases(ctx)
