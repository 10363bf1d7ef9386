"""`isic2018`: ISIC 2018 Task 1 dermoscopy JPEGs + ``<id>_segmentation.png`` lesion masks.

Clinical labels come from an ISIC metadata CSV when one is given (option ``metadata``) or lies
in the source folder (``*metadata*.csv``): ``benign_malignant`` if present, else ``diagnosis``
mapped to benign / malignant / intermediate (unmapped diagnoses are kept as written), else the
ISIC 2018 Task 3 one-hot columns (MEL, NV, BCC, AKIEC, BKL, DF, VASC). Groups: ``patient_id``,
else ``lesion_id``, else the image id.
"""

from __future__ import annotations

from pathlib import Path

from medseglab.data.errors import DataError
from medseglab.data.formats.folder import mask_channel_option, resolve_side_file
from medseglab.data.records import Record, file_pair_loader, list_images, missing_pairs_error, stems_unique
from medseglab.data.registry import ImportContext, register_format
from medseglab.data.tables import ID_COLUMNS, pick_column, read_csv, strip_suffix

IMAGES_DIR = "ISIC2018_Task1-2_Training_Input"
MASKS_DIR = "ISIC2018_Task1_Training_GroundTruth"
MASK_SUFFIX = "_segmentation"

MALIGNANT = {"melanoma", "basal cell carcinoma", "squamous cell carcinoma", "mel", "bcc", "scc"}
BENIGN = {"nevus", "seborrheic keratosis", "pigmented benign keratosis", "dermatofibroma", "vascular lesion",
          "solar lentigo", "lentigo nos", "lichenoid keratosis", "angioma", "nv", "bkl", "df", "vasc"}
# Actinic keratosis / intraepithelial carcinoma is pre-malignant: the paper's "intermediate".
INTERMEDIATE = {"actinic keratosis", "akiec", "atypical melanocytic proliferation"}
ONE_HOT = {"MEL": "malignant", "BCC": "malignant", "AKIEC": "intermediate", "NV": "benign",
           "BKL": "benign", "DF": "benign", "VASC": "benign"}


def diagnosis_label(value: str) -> str:
    key = value.strip().lower()
    if key in MALIGNANT:
        return "malignant"
    if key in BENIGN:
        return "benign"
    if key in INTERMEDIATE:
        return "intermediate"
    return key


def read_metadata(path: Path) -> tuple[dict[str, str], dict[str, str], dict]:
    frame = read_csv(path)
    id_col = pick_column(frame, None, ("isic_id",) + ID_COLUMNS, path, "id", "metadata")
    if id_col is None:
        raise DataError(
            f"{path}: no image id column (columns: {', '.join(frame.columns)}); an ISIC metadata CSV "
            "needs isic_id or image_id"
        )
    ids = frame[id_col].map(strip_suffix)
    lower = {c.lower(): c for c in frame.columns}
    labels: dict[str, str] = {}
    if "benign_malignant" in lower:
        source = lower["benign_malignant"]
        values = frame[source].str.strip().str.lower()
    elif "diagnosis" in lower:
        source = lower["diagnosis"]
        values = frame[source].map(diagnosis_label)
    elif all(c in frame.columns for c in ONE_HOT):
        source = "one-hot " + "/".join(ONE_HOT)
        hot = frame[list(ONE_HOT)].astype(float)
        values = hot.idxmax(axis=1).map(ONE_HOT).where(hot.max(axis=1) > 0, "")
    else:
        source, values = None, None
    if values is not None:
        labels = {i: v for i, v in zip(ids, values) if v}
    group_col = next((lower[c] for c in ("patient_id", "lesion_id") if c in lower), None)
    groups = {}
    if group_col is not None:
        groups = {i: g.strip() for i, g in zip(ids, frame[group_col]) if g.strip()}
    return labels, groups, {"metadata": str(path), "label_column": source, "group_column": group_col}


@register_format(
    "isic2018",
    options={"metadata": None, "mask_channel": "auto"},
    layout=f"<source>/{IMAGES_DIR}/ISIC_<id>.jpg + <source>/{MASKS_DIR}/ISIC_<id>{MASK_SUFFIX}.png",
)
def import_isic2018(ctx: ImportContext):
    images_dir, masks_dir = ctx.source / IMAGES_DIR, ctx.source / MASKS_DIR
    channel = mask_channel_option(ctx)
    for folder in (images_dir, masks_dir):
        if not folder.is_dir():
            raise DataError(
                f"{folder}: folder not found; the isic2018 format expects {IMAGES_DIR}/ and {MASKS_DIR}/ "
                "in the source folder as in the official ISIC 2018 Task 1 release (or use format: folder)"
            )
    # ISIC_x.jpg beside ISIC_x.jpeg or ISIC_x.JPG: two pictures for one id, refused (not one kept at random).
    images = stems_unique([p for p in list_images(images_dir) if p.suffix.lower() in (".jpg", ".jpeg")], "image")
    if not images:
        raise DataError(f"{images_dir}: no .jpg images found; put the ISIC_<id>.jpg files there or fix the source path")
    masks = {p.stem[: -len(MASK_SUFFIX)]: p for p in sorted(masks_dir.glob(f"*{MASK_SUFFIX}.png"))}
    no_mask = sorted(str(images[i]) for i in images if i not in masks)
    if no_mask:
        raise missing_pairs_error("image without mask", no_mask, str(masks_dir),
                                  f"add <id>{MASK_SUFFIX}.png for it or remove the image")
    no_image = sorted(str(masks[i]) for i in masks if i not in images)
    if no_image:
        raise missing_pairs_error("mask without image", no_image, str(images_dir),
                                  "add its <id>.jpg or remove the mask")

    metadata = resolve_side_file(ctx, ctx.options["metadata"], "metadata")
    if metadata is None:
        found = sorted(ctx.source.glob("*metadata*.csv"))
        metadata = found[0] if found else None
    labels: dict[str, str] = {}
    groups: dict[str, str] = {}
    if metadata is not None:
        labels, groups, used = read_metadata(metadata)
        ctx.details.update(used)
    for image_id in sorted(images):
        yield Record(
            image_id=image_id,
            group_id=groups.get(image_id, image_id),
            clinical_label=labels.get(image_id, "unknown"),
            source_image=str(images[image_id]),
            source_mask=str(masks[image_id]),
            load=file_pair_loader(images[image_id], masks[image_id], mask_channel=channel),
        )
