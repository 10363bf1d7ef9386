"""`medseglab split --dataset NAME`: prepared dataset -> data/splits/NAME (splits.parquet + report + plot)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

SPLIT_KEYS = ("n_splits", "test_fraction", "depletion", "depletion_from", "seed", "overlap")
TOLERANCE = 5.0  # percentage points between nominal and actual train share worth a warning


def register(subparsers, common) -> None:
    p = subparsers.add_parser(
        "split", parents=[common], help="build the 80:20 train:test sets and depletion chains of a prepared dataset"
    )
    p.add_argument("--dataset", required=True, help="dataset name from params.yaml `datasets:`")
    p.add_argument("--prepared", default=None, help="prepared dataset folder (default data/prepared/<dataset>)")
    p.add_argument("--out", default=None, help="output folder (default data/splits/<dataset>)")
    p.add_argument("--no-plot", action="store_true", help="skip split_report.png")
    p.set_defaults(func=run_split)


def read_prepared(folder: Path):
    """(manifest, dataset.json dict) of a prepared dataset folder, by the file contract."""
    import pandas as pd

    from medseglab.data.errors import DataError

    manifest_file, info_file = folder / "manifest.parquet", folder / "dataset.json"
    for file in (manifest_file, info_file):
        if not file.is_file():
            raise DataError(
                f"{file}: not found; run `medseglab prepare --dataset <name>` first, or pass --prepared DIR"
            )
    try:
        manifest = pd.read_parquet(manifest_file)
        info = json.loads(info_file.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{folder}: unreadable prepared dataset ({exc}); run `medseglab prepare` again") from exc
    return manifest, info


def split_settings(section: dict) -> dict:
    """The `split` section's keys as `make_splits` arguments; unknown keys are a ConfigError (typos)."""
    from medseglab.config import ConfigError
    from medseglab.splits.build import DEFAULT_OVERLAP

    unknown = sorted(set(section) - set(SPLIT_KEYS))
    if unknown:
        raise ConfigError(f"split: unknown key(s) {unknown}; known keys are {list(SPLIT_KEYS)}")
    missing = [k for k in ("n_splits", "test_fraction", "seed") if section.get(k) is None]
    if missing:
        raise ConfigError(f"split: missing {missing} in params.yaml (e.g. n_splits: 5, test_fraction: 0.2, seed: 2021)")
    return {
        "n_splits": section["n_splits"],
        "test_fraction": section["test_fraction"],
        "depletion": section.get("depletion") or [],
        "seed": section["seed"],
        "overlap": section.get("overlap", DEFAULT_OVERLAP),
        "depletion_from": section.get("depletion_from", "all"),
    }


def run_split(args) -> int:
    from medseglab.config import load_params, resolve
    from medseglab.splits import check_split_params, make_splits, write_splits
    from medseglab.splits.report import overlap_summary, set_sizes

    params = load_params(args.params, args.overrides)
    cfg = resolve(params, args.dataset)
    settings = split_settings(cfg["split"])
    checked = check_split_params(**settings)  # fail on a bad value before reading any data
    prepared = Path(args.prepared or Path("data/prepared") / args.dataset)
    out = Path(args.out or Path("data/splits") / args.dataset)
    manifest, info = read_prepared(prepared)
    info.setdefault("name", args.dataset)

    splits = make_splits(manifest, **settings)
    recorded = {k: checked[k] for k in SPLIT_KEYS}
    write_splits(out, splits, manifest, params=recorded, dataset_info=info, plot=not args.no_plot)

    summary = overlap_summary(splits)
    sizes = set_sizes(splits)
    print(f"{args.dataset}: {summary['n_images']} images, {manifest['group_id'].nunique()} groups -> {out}")
    for row in sizes.itertuples():
        print(f"  set {row.split} {row.ratio}:{100 - row.ratio}  train {row.n_train:6d}  test {row.n_test:6d}  "
              f"(train {row.train_percent:.1f}%)")
    print(
        f"  test-set overlap: {100 * summary['in_two_or_more_tests_fraction']:.1f}% of images in two or more "
        f"test sets, {summary['in_all_tests']} in all {summary['n_sets']}, "
        f"{100 * summary['in_no_test_fraction']:.1f}% in none"
    )
    off = sizes[(sizes["train_percent"] - sizes["ratio"]).abs() > TOLERANCE]
    for row in off.itertuples():
        print(
            f"  warning: set {row.split} at {row.ratio}:{100 - row.ratio} trains on {row.train_percent:.1f}% of the "
            "images: groups are too few or too uneven to hit the ratio", file=sys.stderr,
        )
    return 0
