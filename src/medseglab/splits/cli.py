"""`medseglab split --dataset NAME`: prepared dataset -> data/splits/NAME (splits.parquet + report + plot)."""

from __future__ import annotations

import sys
from pathlib import Path

from medseglab.splits.settings import SPLIT_KEYS, split_settings  # noqa: F401  (SPLIT_KEYS: older imports)

TOLERANCE = 5.0  # percentage points between nominal and actual train share worth a warning


def register(subparsers, common) -> None:
    p = subparsers.add_parser(
        "split", parents=[common], help="build the 80:20 train:test sets and depletion chains of a prepared dataset",
        description="Build the group-aware 80:20 train:test sets and their depletion chains (60, 40, 20, 10 %% "
                    "train) of a prepared dataset, from params.yaml `split:`; writes data/splits/<dataset>/ "
                    "(splits.parquet, split_report.csv + .png, split_overlap.csv, splits.json).",
    )
    p.add_argument("--dataset", required=True, help="dataset name from params.yaml `datasets:`")
    p.add_argument("--prepared", default=None, help="prepared dataset folder (default data/prepared/<dataset>)")
    p.add_argument("--out", default=None, help="output folder (default data/splits/<dataset>)")
    p.add_argument("--no-plot", action="store_true", help="skip split_report.png")
    p.set_defaults(func=run_split)


def run_split(args) -> int:
    from medseglab.config import load_params, resolve
    from medseglab.data import load_prepared
    from medseglab.splits import check_split_params, make_splits, write_splits
    from medseglab.splits.report import overlap_summary, set_sizes

    params = load_params(args.params, args.overrides)
    cfg = resolve(params, args.dataset)
    settings = split_settings(cfg["split"])
    checked = check_split_params(**settings)  # fail on a bad value before reading any data
    prepared = Path(args.prepared or Path("data/prepared") / args.dataset)
    out = Path(args.out or Path("data/splits") / args.dataset)
    data = load_prepared(prepared)
    manifest, info = data.manifest, dict(data.info)
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
