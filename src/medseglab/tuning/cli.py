"""`medseglab tune ...`: tune training settings with Optuna on the validation part of a train set."""

from __future__ import annotations

import argparse
import re


def _count(text: str) -> int | None:
    """A whole number, also in MLflow's float form ("4.0"); "" (MLproject's "not given") is None."""
    text = text.strip()
    if not text:
        return None
    number = re.fullmatch(r"(\d+)(?:\.0*)?", text)
    if number is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return int(number.group(1))


def register(subparsers, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "tune", parents=[common], help="Optuna search over tune.space, scored on validation images (never test)",
        description="Tune training settings (the `tune.space` of params.yaml) with Optuna: each trial trains on the "
                    "fit part of one train set and is scored by the median per-image Dice of its validation part; "
                    "test images are never used. Trials are nested MLflow runs of one tuning run; launching the "
                    "same tuning again continues it. The best values go to tune.best_params (docs/TUNING.md).",
    )
    p.add_argument("--dataset", required=True, help="dataset name (a key under `datasets:` in params.yaml)")
    p.add_argument("--init", required=True, help="tii (natural-image encoder) or lmi (random init)")
    p.add_argument("--profile", default=None, help="demo | paper | ... (default: params.yaml `profile`)")
    p.add_argument("--source", default=None, help="the dataset's folder (overrides datasets.<NAME>.source)")
    p.add_argument("--format", default=None,
                   help="isic2018 | gleason2019 | kits19 | folder | synthetic (overrides datasets.<NAME>.format)")
    p.add_argument("--trials", type=_count, default=None,
                   help="complete or pruned trials the study should end with (default: tune.n_trials)")
    p.add_argument("--storage", default=None,
                   help="Optuna RDB URL (default: tune.storage, sqlite:///optuna.db); several workers need "
                        "PostgreSQL, e.g. postgresql+psycopg2://user@host:5432/optuna")
    p.add_argument("--study-name", default=None,
                   help="Optuna study name (default: derived from dataset, init, profile and the tuning config)")
    p.add_argument("--executor", default="local", choices=("local", "ray"),
                   help="local: one worker in this process; ray: --workers Ray tasks on one study")
    p.add_argument("--workers", type=_count, default=1, help="parallel workers (more than 1 needs --executor ray)")
    p.add_argument("--ray-address", default=None,
                   help="Ray cluster to use (default: RAY_ADDRESS, else a local Ray started for the run)")
    p.set_defaults(func=run_tune)


def run_tune(args) -> int:
    from medseglab.config import load_params
    from medseglab.data.prepare import check_source_flag
    from medseglab.study.inputs import blank
    from medseglab.study.launcher import link, take_launcher
    from medseglab.tracking.store import open_client
    from medseglab.tuning.tune import tune

    params = load_params(args.params, args.overrides)
    entry = (params.get("datasets") or {}).get(args.dataset) or {}
    check_source_flag(blank(args.source), blank(args.format) or entry.get("format"))
    launcher = take_launcher(open_client(params))
    result = tune(params, args.dataset, blank(args.init) or "", profile=blank(args.profile), source=blank(args.source),
                  format=blank(args.format), n_trials=args.trials, storage=blank(args.storage),
                  name=blank(args.study_name), executor=args.executor, workers=args.workers or 1,
                  ray_address=blank(args.ray_address), launcher=launcher)
    link(open_client(params), launcher, result.run_id, "tuning")
    print(result.describe())
    return 0
