"""Per-image side tables (labels.csv, manifest.csv, ISIC metadata): image id -> label, group."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

import pandas as pd

from medseglab.data.errors import DataError

ID_COLUMNS = ("image_id", "isic_id", "name", "image", "id", "filename", "file")
LABEL_COLUMNS = ("clinical_label", "label", "benign_malignant", "diagnosis", "grade")
log = logging.getLogger(__name__)

GROUP_COLUMNS = ("group_id", "patient_id", "patient", "case_id", "case", "kits19_case", "lesion_id", "subject_id")


def read_csv(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot read this CSV ({exc}); fix or remove the file") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def pick_column(frame: pd.DataFrame, wanted: str | None, candidates: tuple[str, ...], path: Path,
                what: str, option: str, prefix: str | None = None) -> str | None:
    """The column to use: the option's value if given, else the first candidate present
    (case-insensitive), else the first column starting with ``prefix``; None if none."""
    lower = {c.lower(): c for c in frame.columns}
    if wanted:
        if wanted not in frame.columns and wanted.lower() not in lower:
            raise DataError(
                f"{path}: no column {wanted!r} (columns: {', '.join(frame.columns)}); "
                f"fix options.{option}"
            )
        return wanted if wanted in frame.columns else lower[wanted.lower()]
    for name in candidates:
        if name in lower:
            return lower[name]
    if prefix:
        for column in frame.columns:
            if column.lower().startswith(prefix):
                return column
    return None


def strip_suffix(value: str) -> str:
    """'ISIC_0000000.jpg' -> 'ISIC_0000000' (ids in CSVs may carry the file extension)."""
    path = Path(value.strip())
    return path.stem if path.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp") else value.strip()


def id_table(path: Path, *, id_column: str | None = None, label_column: str | None = None,
             group_column: str | None = None, label_prefix: str | None = "grade") -> tuple[dict, dict, dict]:
    """Read a per-image CSV -> ({id: label}, {id: group}, {"id": col, "label": col, "group": col}).

    Empty cells are left out (the image then gets "unknown" / its own id).
    """
    frame = read_csv(path)
    id_col = pick_column(frame, id_column, ID_COLUMNS, path, "id", "id_column")
    if id_col is None:
        raise DataError(
            f"{path}: no image id column (columns: {', '.join(frame.columns)}); name one of "
            f"{', '.join(ID_COLUMNS)} or set options.id_column"
        )
    label_col = pick_column(frame, label_column, LABEL_COLUMNS, path, "label", "label_column", label_prefix)
    group_col = pick_column(frame, group_column, GROUP_COLUMNS, path, "group", "group_column")
    ids = frame[id_col].map(strip_suffix)
    labels: dict[str, str] = {}
    groups: dict[str, str] = {}
    for i, image_id in enumerate(ids):
        if label_col is not None and frame[label_col].iat[i].strip():
            labels[image_id] = frame[label_col].iat[i].strip()
        if group_col is not None and frame[group_col].iat[i].strip():
            groups[image_id] = frame[group_col].iat[i].strip()
    return labels, groups, {"id": id_col, "label": label_col, "group": group_col}


def warn_unmatched(table: Path, listed: Iterable[str], found: Iterable[str], where: str) -> int:
    """Warn (not fail) about table ids that name no image: a typo or a removed image must not pass
    silently, but a table covering more images than this copy of the dataset is legitimate.
    Returns how many ids matched no image."""
    missing = sorted(set(listed) - set(found))
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        log.warning("warning: %s: %d id(s) name no image in %s (%s); those rows are ignored: fix the ids "
                    "or remove the rows", table, len(missing), where, shown)
    return len(missing)
