"""What an importer yields (a `Record`) and the image/mask reading every importer shares.

An importer only finds files and says how to read one pair; `prepare.py` resizes, writes and
hashes. Reading is lazy (`Record.load`) so `max_images` can pick a subset before any pixel is
decoded, and a thread pool can decode many pairs at once.
"""

from __future__ import annotations

import errno
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from medseglab.data.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
# What PIL raises on a truncated, corrupt or foreign file (it has no single exception type).
READ_ERRORS = (OSError, SyntaxError, ValueError, EOFError, zlib.error, Image.DecompressionBombError)

Loader = Callable[[tuple[int, int]], "tuple[Image.Image, np.ndarray]"]


@dataclass(frozen=True)
class Record:
    """One image/mask pair as found on disk; `load(size)` reads it.

    ``load(size)`` returns ``(rgb PIL image, mask uint8 H x W in {0, 1})`` at the source
    resolution (the image may already be decoded at a reduced JPEG scale not below ``size``).
    ``clinical_label=None`` means "decide from the prepared mask": ``label_from_mask`` =
    (label when any class-1 pixel survives, label when none does).
    """

    image_id: str
    group_id: str
    source_image: str
    source_mask: str
    load: Loader
    clinical_label: str | None = "unknown"
    label_from_mask: tuple[str, str] | None = None
    synthetic: bool = False


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder`` (any of IMAGE_SUFFIXES, any case), sorted by name."""
    found = []
    for path in folder.iterdir():
        if path.suffix.lower() in IMAGE_SUFFIXES:
            check_link(path)
            if path.is_file():
                found.append(path)
    return sorted(found)


def check_link(path: Path) -> None:
    """Refuse a symbolic link that cannot be followed: skipped silently, its image would make its
    mask look like an orphan ("mask without image") and hide the real problem."""
    if not path.is_symlink():
        return
    try:
        os.stat(path)
    except OSError as exc:
        points_to = os.readlink(path)
        if exc.errno == errno.ELOOP:
            raise DataError(
                f"{path}: symbolic link loop (it points to {points_to}, which leads back to itself); "
                "replace the link with the file it should point to, or remove it"
            ) from exc
        raise DataError(
            f"{path}: broken symbolic link to {points_to} ({exc.strerror}); "
            "point it at an existing file or remove it"
        ) from exc


def stems_unique(files: list[Path], what: str) -> dict[str, Path]:
    """{stem: path}; two files with one stem (a.png + a.jpg) are ambiguous."""
    by_stem: dict[str, Path] = {}
    for path in files:
        if path.stem in by_stem:
            raise DataError(
                f"{by_stem[path.stem]} and {path}: two {what} files share the name {path.stem!r}; "
                "remove or rename one of them"
            )
        by_stem[path.stem] = path
    return by_stem


def _open(path: Path, what: str, draft_size: tuple[int, int] | None = None) -> tuple[Image.Image, tuple[int, int]]:
    """Open and fully decode ``path``; returns (image, size on disk)."""
    try:
        image = Image.open(path)
        size = image.size
        if draft_size is not None and image.format == "JPEG":
            # Decode large JPEGs at a reduced DCT scale that stays >= the target size: same
            # result after the bilinear resize, far less work for 5120x5120 Gleason cores.
            image.draft("RGB", draft_size)
        image.load()
    except FileNotFoundError as exc:
        raise DataError(f"{path}: {what} file not found; check the dataset folder") from exc
    except READ_ERRORS as exc:
        raise DataError(
            f"{path}: cannot read this {what} ({exc}); the file is truncated or not an image: "
            "re-download it or remove it (and its partner image/mask) from the dataset"
        ) from exc
    return image, size


def read_rgb(path: Path, draft_size: tuple[int, int] | None = None) -> tuple[Image.Image, tuple[int, int]]:
    """An image file as RGB; returns (image, size on disk [W, H]). Grayscale is repeated to 3 channels."""
    image, size = _open(path, "image", draft_size)
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        # 16-bit / float grayscale: stretch its own range to 0..255 (no global scale is known).
        arr = np.asarray(image, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = np.zeros_like(arr) if hi <= lo else (arr - lo) / (hi - lo) * 255.0
        image = Image.fromarray(np.round(scaled).astype(np.uint8), mode="L")
    if image.mode != "RGB":
        image = image.convert("RGB")
    return image, size


# options.mask_channel of the folder and isic2018 formats: which band of a transparent mask holds it.
MASK_CHANNELS = ("auto", "alpha", "colour")


def read_label_map(path: Path, channel: str = "auto") -> np.ndarray:
    """A mask / label-map file as a 2-D integer array (values untouched): the mask policy of docs/DATA.md.

    - palette ("P") masks give their palette *indices*, never the colours (label PNGs store the
      class as the index; a palette's transparency belongs to an index and is ignored);
    - 16-bit ("I;16") and 32-bit masks give their integer values as stored (no rescaling);
    - an alpha channel must be fully opaque (``channel="auto"``): a lesion drawn only in alpha
      would otherwise become an empty mask, so a transparent mask is refused with how to flatten
      it. ``channel="alpha"`` reads the alpha band as the mask, ``"colour"`` ignores it.
    """
    image, _ = _open(path, "mask")
    has_alpha = "A" in image.getbands()  # LA, PA, RGBA: alpha is the last band
    if channel == "alpha":
        if not has_alpha:
            raise DataError(
                f"{path}: options.mask_channel is alpha but this mask has no alpha channel (mode {image.mode}); "
                "set mask_channel to auto, or give every mask its target in the alpha channel"
            )
        return np.asarray(image)[..., -1]
    if image.mode == "1":
        return np.asarray(image, dtype=np.uint8)
    arr = np.asarray(image)
    if has_alpha:
        if channel != "colour":
            _require_opaque(arr[..., -1], path)
        arr = arr[..., :-1] if arr.shape[2] > 2 else arr[..., 0]
    if arr.ndim == 3:
        channels = arr[..., :3] if arr.shape[2] >= 3 else arr[..., :1]
        if not (channels == channels[..., :1]).all():
            raise DataError(
                f"{path}: the mask is a colour image; save it as a single-channel (grayscale) PNG "
                "with 0 = background and 1 or 255 = target"
            )
        arr = channels[..., 0]
    return arr


def _require_opaque(alpha: np.ndarray, path: Path) -> None:
    """Refuse a mask whose alpha channel is not 255 everywhere: colours or alpha, which is the mask?"""
    clear = int((alpha != 255).sum())
    if clear:
        raise DataError(
            f"{path}: the mask has a transparency (alpha) channel that is not opaque ({clear} of {alpha.size} "
            "pixels), so it is ambiguous whether the target is in the colours or in the alpha channel; "
            "flatten it to a single-channel PNG: target drawn in alpha -> "
            f"python -c \"from PIL import Image; Image.open('{path}').getchannel('A').save('{path}')\"; "
            f"target in the colours -> magick '{path}' -alpha off -colorspace gray '{path}' "
            "(folder and isic2018 formats: or set options.mask_channel to alpha or colour)"
        )


def binary_mask(arr: np.ndarray, path: Path | str) -> np.ndarray:
    """{0,1} or {0,255} -> uint8 {0,1}; anything else is refused with the values found.

    Only these two encodings are unambiguous; any other (16-bit 0/65535, JPEG noise, several
    classes) needs the user's threshold, so it is refused rather than guessed.
    """
    values = np.unique(arr)
    if set(values.tolist()) <= {0, 1}:
        return arr.astype(np.uint8)
    if set(values.tolist()) <= {0, 255}:
        return (arr == 255).astype(np.uint8)
    shown = ", ".join(str(v) for v in values[:8]) + (", ..." if len(values) > 8 else "")
    raise DataError(
        f"{path}: the mask is not binary (values {shown}); a binary mask has only 0 and 1, or 0 and 255: "
        "threshold it, or save it as PNG (JPEG compression adds in-between values)"
    )


def check_same_size(image_size: tuple[int, int], mask_shape: tuple[int, ...], image_path, mask_path) -> None:
    """The mask must cover the image pixel for pixel (sizes compared on disk, W x H)."""
    mask_size = (mask_shape[1], mask_shape[0])
    if tuple(image_size) != mask_size:
        raise DataError(
            f"{mask_path}: mask is {mask_size[0]}x{mask_size[1]} but its image {image_path} is "
            f"{image_size[0]}x{image_size[1]} (W x H); a mask must have its image's size: "
            "fix or re-export the mask"
        )


def file_pair_loader(image_path: Path, mask_path: Path, to_binary: Callable[[np.ndarray, Path], np.ndarray] = binary_mask,
                     mask_channel: str = "auto") -> Loader:
    """The loader of an image file + a mask file of the same size."""

    def load(size: tuple[int, int]):
        image, on_disk = read_rgb(image_path, draft_size=size)
        mask = to_binary(read_label_map(mask_path, mask_channel), mask_path)
        check_same_size(on_disk, mask.shape, image_path, mask_path)
        return image, mask

    return load


def missing_pairs_error(kind: str, missing: list[str], where: str, fix: str) -> DataError:
    """One message for `image without mask` / `mask without image`, naming the first few files."""
    shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    return DataError(f"{kind}: {shown} (looked in {where}); {fix}")
