"""`folder`: any dataset as ``images/`` + ``masks/`` with matching file stems.

Masks are binary ({0,1} or {0,255}); a mask may also be named ``<stem>_mask`` or
``<stem>_segmentation``. An optional ``labels.csv`` or ``manifest.csv`` beside the two folders
(or the file in option ``labels``) gives each image a clinical label and a group (patient).
A mask with transparency is refused unless option ``mask_channel`` says where the target is:
``alpha`` (drawn in the alpha channel) or ``colour`` (alpha ignored); see docs/DATA.md, "Masks".
"""

from __future__ import annotations

from pathlib import Path

from medseglab.data.errors import DataError
from medseglab.config import ConfigError
from medseglab.data.records import (MASK_CHANNELS, Record, file_pair_loader, list_images, missing_pairs_error,
                                     stems_unique)
from medseglab.data.registry import ImportContext, register_format
from medseglab.data.tables import id_table, warn_unmatched

MASK_SUFFIXES = ("_mask", "_segmentation")
TABLE_NAMES = ("labels.csv", "manifest.csv")


def resolve_side_file(ctx: ImportContext, value: str | None, key: str) -> Path | None:
    """An options path: relative to the source folder first, then to the project root."""
    if not value:
        return None
    for candidate in (ctx.source / value, Path(value)):
        if candidate.is_file():
            return candidate
    raise DataError(
        f"{ctx.option_key(key)} = {value!r}: no such file in {ctx.source} or the project root; "
        "fix the path or remove the option"
    )


def mask_channel_option(ctx: ImportContext) -> str:
    """options.mask_channel, checked: which band of a transparent mask holds the target."""
    value = ctx.options["mask_channel"]
    if value not in MASK_CHANNELS:
        raise ConfigError(
            f"{ctx.option_key('mask_channel')} = {value!r}: use auto (refuse masks with transparency), "
            "alpha (the target is drawn in the alpha channel) or colour (ignore the alpha channel)"
        )
    return value


def _mask_stem(stem: str) -> str:
    for suffix in MASK_SUFFIXES:
        if stem.endswith(suffix) and len(stem) > len(suffix):
            return stem[: -len(suffix)]
    return stem


def pair_folders(images_dir: Path, masks_dir: Path, fmt: str = "folder") -> list[tuple[str, Path, Path]]:
    """(stem, image, mask) for every image; refuses orphans on either side."""
    for folder in (images_dir, masks_dir):
        if not folder.is_dir():
            raise DataError(
                f"{folder}: folder not found; the {fmt} format expects <source>/{images_dir.name}/ and "
                f"<source>/{masks_dir.name}/ with one mask per image (same file name stem)"
            )
    images = stems_unique(list_images(images_dir), "image")
    if not images:
        raise DataError(f"{images_dir}: no images (png, jpg, jpeg, tif, bmp) found; put the images there or fix the source path")
    mask_files = list_images(masks_dir)
    masks: dict[str, Path] = {}
    exact = stems_unique(mask_files, "mask")
    for stem, path in exact.items():
        key = stem if stem in images else _mask_stem(stem)
        if key in masks:
            raise DataError(f"{masks[key]} and {path}: two masks for image {key!r}; remove one of them")
        masks[key] = path
    no_mask = sorted(str(images[s]) for s in images if s not in masks)
    if no_mask:
        raise missing_pairs_error(
            "image without mask", no_mask, str(masks_dir),
            f"add a mask with the same name stem to {masks_dir.name}/ (e.g. {masks_dir.name}/<stem>.png) or remove the image",
        )
    no_image = sorted(str(masks[s]) for s in masks if s not in images)
    if no_image:
        raise missing_pairs_error(
            "mask without image", no_image, str(images_dir),
            f"add its image to {images_dir.name}/ (same name stem) or remove the mask",
        )
    return [(stem, images[stem], masks[stem]) for stem in sorted(images)]


@register_format(
    "folder",
    options={"labels": None, "id_column": None, "label_column": None, "group_column": None, "mask_channel": "auto"},
    layout="<source>/images/*.png|jpg|jpeg|tif|bmp + <source>/masks/<same stem>.png, optional labels.csv or manifest.csv",
)
def import_folder(ctx: ImportContext):
    opts = ctx.options
    channel = mask_channel_option(ctx)
    table = resolve_side_file(ctx, opts["labels"], "labels")
    if table is None:
        table = next((ctx.source / n for n in TABLE_NAMES if (ctx.source / n).is_file()), None)
    labels: dict[str, str] = {}
    groups: dict[str, str] = {}
    if table is not None:
        labels, groups, used = id_table(
            table, id_column=opts["id_column"], label_column=opts["label_column"], group_column=opts["group_column"]
        )
        ctx.details.update(labels_file=str(table), columns=used)
    pairs = pair_folders(ctx.source / "images", ctx.source / "masks")
    if table is not None:
        ctx.details["table_ids_without_image"] = warn_unmatched(
            table, set(labels) | set(groups), (stem for stem, _, _ in pairs), str(ctx.source / "images"))
    for stem, image, mask in pairs:
        yield Record(
            image_id=stem,
            group_id=groups.get(stem, stem),
            clinical_label=labels.get(stem, "unknown"),
            source_image=str(image),
            source_mask=str(mask),
            load=file_pair_loader(image, mask, mask_channel=channel),
        )
