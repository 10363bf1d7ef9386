"""The splits folder (docs/ARCHITECTURE.md "Splits"): write it whole or not at all, read it back."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from medseglab.data.errors import DataError
from medseglab.io import atomic_dir, write_csv, write_json, write_parquet
from medseglab.splits.build import COLUMNS, sort_splits
from medseglab.splits.report import overlap_summary, set_sizes, split_overlap, split_report

SPLITS_FILE = "splits.parquet"
REPORT_FILE = "split_report.csv"
OVERLAP_FILE = "split_overlap.csv"
INFO_FILE = "splits.json"
PLOT_FILE = "split_report.png"


def splits_hash(splits: pd.DataFrame) -> str:
    """sha256 of the table's content in canonical order (independent of Parquet writer versions)."""
    canonical = sort_splits(splits).to_csv(index=False, lineterminator="\n")
    return hashlib.sha256(canonical.encode()).hexdigest()


def write_splits(
    out_dir: str | Path,
    splits: pd.DataFrame,
    manifest: pd.DataFrame,
    params: dict | None = None,
    dataset_info: dict | None = None,
    *,
    plot: bool = True,
) -> Path:
    """Write splits.parquet, split_report.csv, split_overlap.csv, splits.json (+ split_report.png).

    ``params`` are the split parameters used (recorded as given); ``dataset_info`` is the prepared
    dataset's dataset.json (its `name` and `content_hash` are recorded). The folder is replaced atomically.
    """
    out_dir = Path(out_dir)
    splits = sort_splits(splits)
    dataset_info = dataset_info or {}
    sizes = set_sizes(splits)
    info = {
        "dataset": dataset_info.get("name"),
        "dataset_content_hash": dataset_info.get("content_hash"),
        "content_hash": splits_hash(splits),
        "params": params or {},
        "n_images": int(splits["image_id"].nunique()),
        "n_groups": int(manifest["group_id"].nunique()),
        "overlap": overlap_summary(splits),
        "sets": sizes.to_dict(orient="records"),
    }
    with atomic_dir(out_dir) as tmp:
        write_parquet(tmp / SPLITS_FILE, splits)
        write_csv(tmp / REPORT_FILE, split_report(splits, manifest))
        write_csv(tmp / OVERLAP_FILE, split_overlap(splits))
        write_json(tmp / INFO_FILE, info)
        if plot:
            from medseglab.splits.plot import plot_splits

            plot_splits(splits, manifest, tmp / PLOT_FILE, title=dataset_info.get("name"))
    return out_dir


def load_splits(path: str | Path) -> pd.DataFrame:
    """The split table from a splits folder (or its splits.parquet), checked against the contract."""
    path = Path(path)
    file = path / SPLITS_FILE if path.is_dir() or not path.suffix else path
    if not file.is_file():
        raise DataError(f"{file}: no split table; run `medseglab split --dataset <name>` first")
    try:
        table = pd.read_parquet(file)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise DataError(f"{file}: unreadable ({exc}); delete it and run `medseglab split` again") from exc
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"{file}: missing column(s) {missing}; it predates this version: run `medseglab split` again")
    bad = set(table["subset"].unique()) - {"train", "test"}
    if bad:
        raise DataError(f"{file}: unknown subset value(s) {sorted(bad)}; expected train/test: run `medseglab split` again")
    return table.astype({"split": "int64", "ratio": "int64", "image_id": str, "subset": str})


def train_test_ids(splits: pd.DataFrame, split: int, ratio: int) -> tuple[list[str], list[str]]:
    """Sorted (train_ids, test_ids) of one split at one train ratio (80, 60, 40, 20, 10)."""
    rows = splits[(splits["split"] == int(split)) & (splits["ratio"] == int(ratio))]
    if rows.empty:
        have = splits.groupby("split")["ratio"].unique()
        if int(split) not in have.index:
            raise DataError(
                f"no split {split} in the split table (it has splits {sorted(have.index.tolist())}); "
                "raise split.n_splits and run `medseglab split` again, or pick another split"
            )
        raise DataError(
            f"split {split} has no {ratio}:{100 - int(ratio)} set (it has train ratios "
            f"{sorted(have[int(split)].tolist(), reverse=True)}); set split.depletion_from=all (or {split}) "
            "and list the ratio in split.depletion, then run `medseglab split` again"
        )
    train = sorted(rows.loc[rows["subset"] == "train", "image_id"])
    test = sorted(rows.loc[rows["subset"] == "test", "image_id"])
    return train, test
