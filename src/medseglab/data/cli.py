"""`medseglab prepare --dataset NAME [--out DIR] [--source PATH --format NAME]`."""

from __future__ import annotations

import argparse


def register(subparsers, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "prepare", parents=[common],
        help="import a dataset (ISIC 2018, Gleason2019, KiTS19, images/+masks/ folder, synthetic) into data/prepared/<NAME>",
        description="Import a dataset into the prepared format (docs/DATA.md). The dataset's params.yaml "
                    "section gives the format, source and options; --source/--format override them.",
    )
    p.add_argument("--dataset", required=True, help="dataset name (a key under `datasets:` in params.yaml)")
    p.add_argument("--out", default=None, help="output folder (default: data/prepared/<NAME>)")
    p.add_argument("--source", default=None, help="the dataset's folder (overrides datasets.<NAME>.source)")
    p.add_argument("--format", default=None, help="isic2018 | gleason2019 | kits19 | dicom | folder | synthetic (overrides datasets.<NAME>.format)")
    p.add_argument("--profile", default=None, help="profile whose image_size / max_images apply (default: params.yaml `profile`)")
    p.set_defaults(func=run_prepare)


def effective_config(args) -> dict:
    from medseglab.config import ConfigError, load_params, resolve

    params = load_params(args.params, args.overrides)
    datasets = params.setdefault("datasets", {}) or {}
    params["datasets"] = datasets
    if args.dataset not in datasets and args.format:
        # A one-off dataset named on the command line (e.g. --dataset glas --format folder --source ...).
        datasets[args.dataset] = {"format": args.format, "source": args.source, "options": {}}
    if args.format:
        datasets[args.dataset]["format"] = args.format
    if args.source:
        datasets[args.dataset]["source"] = args.source
    cfg = resolve(params, args.dataset, args.profile)
    if cfg.get("image_size") is None:
        raise ConfigError(
            f"datasets.{args.dataset}.image_size is not set; add it to params.yaml or pass "
            f"--set datasets.{args.dataset}.image_size=[W,H]"
        )
    if args.source and cfg.get("format") == "synthetic":
        raise ConfigError(f"--source {args.source}: dataset {args.dataset!r} has format synthetic, which reads no folder; pass --format too")
    from medseglab.data.prepare import check_source_flag

    check_source_flag(args.source, cfg.get("format"))
    return cfg


def run_prepare(args) -> int:
    from pathlib import Path

    from medseglab.data import load_prepared, prepare_dataset

    cfg = effective_config(args)
    out = Path(args.out) if args.out else Path("data/prepared") / args.dataset
    prepare_dataset(cfg, out)
    ds = load_prepared(out)
    info = ds.info
    labels = ", ".join(f"{k} {v}" for k, v in info["label_counts"].items())
    kind = "synthetic " if info["synthetic"] else ""
    print(
        f"prepared {info['n_images']} {kind}images of {args.dataset} ({info['format']}, "
        f"{info['image_size'][0]}x{info['image_size'][1]}, {info['n_groups']} groups; {labels}) -> {out}\n"
        f"content_hash {info['content_hash']}"
    )
    return 0
