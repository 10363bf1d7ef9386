"""`medseglab train ...` (one training) and `medseglab study ...` (the grid of a profile)."""

from __future__ import annotations

import argparse
import sys


def _whole(text: str) -> int:
    """An integer argument that also takes MLflow's float form ("80.0")."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return int(value)


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, help="dataset name (a key under `datasets:` in params.yaml)")
    p.add_argument("--profile", default=None, help="demo | paper | ... (default: params.yaml `profile`)")
    p.add_argument("--source", default=None, help="the dataset's folder (overrides datasets.<NAME>.source)")
    p.add_argument("--format", default=None,
                   help="isic2018 | gleason2019 | kits19 | folder | synthetic (overrides datasets.<NAME>.format)")


def register(subparsers, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "train", parents=[common], help="one training (dataset, init, split, ratio, repeat) as an MLflow run",
        description="Train one VGG-UNet of the study, evaluate its test set and record everything in MLflow "
                    "(docs/TRACKING.md). A finished training of the same config is skipped; a killed one resumes.",
    )
    _data_args(p)
    p.add_argument("--init", required=True, help="tii (natural-image encoder) or lmi (random init)")
    p.add_argument("--split", type=_whole, default=0, help="80:20 set index (default 0)")
    p.add_argument("--ratio", type=_whole, default=80, help="train %% of the set: 80, 60, 40, 20, 10 (default 80)")
    p.add_argument("--repeat", type=_whole, default=0, help="repeat (seed) index (default 0)")
    p.set_defaults(func=run_train)

    s = subparsers.add_parser(
        "study", parents=[common], help="every training of a profile's grid as child runs of one study run",
        description="Run the study of one dataset: inits x splits x ratios x repeats of the profile, as nested "
                    "MLflow runs under one parent; writes results/<dataset>/per_image.parquet and study.json.",
    )
    _data_args(s)
    s.add_argument("--analyze", action="store_true",
                   help="then run `stats`, `ensemble` and `explain` on this study (what `mlflow run .` does)")
    s.add_argument("--executor", choices=("local", "ray"), default=None,
                   help="local: the trainings one after another in this process; ray: one Ray task each "
                        "(default: params.yaml `executor`; docs/SCALING.md)")
    s.add_argument("--address", default=None,
                   help="with --executor ray: the Ray cluster to join, e.g. HEAD:6379 (default: params ray.address, "
                        "else RAY_ADDRESS, else a `ray start` cluster of this machine, else a new local Ray)")
    s.add_argument("--gpus-per-training", type=float, default=None,
                   help="with --executor ray: GPUs each training task reserves (default: params ray.gpus_per_training)")
    s.set_defaults(func=run_study_cli)


def run_train(args) -> int:
    from medseglab.config import load_params
    from medseglab.data.prepare import check_source_flag
    from medseglab.study.inputs import blank, ensure_prepared_dataset, ensure_splits, study_config
    from medseglab.study.launcher import link, take_launcher
    from medseglab.tracking.conventions import TrainingKey
    from medseglab.names import INITS
    from medseglab.tracking.session import Tracking
    from medseglab.training.train import train_one

    params = load_params(args.params, args.overrides)
    cfg = study_config(params, args.dataset, args.profile, args.source, args.format)
    check_source_flag(blank(args.source), cfg.get("format"))
    key = TrainingKey.make(args.dataset, blank(args.init) or "", args.split, args.ratio, args.repeat)
    if key.init not in INITS:
        from medseglab.errors import UserError

        raise UserError(f"--init {args.init!r}: use {' or '.join(INITS)}")
    prepared = ensure_prepared_dataset(cfg)
    splits, _ = ensure_splits(cfg, prepared)
    tracking = Tracking.open(params, args.dataset, profile=cfg["profile"])
    launcher = take_launcher(tracking.client)
    if launcher is not None and launcher.same_experiment(tracking.experiment_id):
        tracking.parent_run_id = launcher.run_id
    result = train_one(cfg, key, prepared, splits, tracking=tracking)
    link(tracking.client, launcher, result.run_id, "training")
    line = f"{key.name}: {result.status} (run {result.run_id}, experiment {tracking.experiment_id})"
    if result.table is not None:
        dice = result.table["dice"].dropna()
        if len(dice):
            line += f"; test Dice median {dice.median():.4f} over {len(dice)} images"
    print(line)
    return 0


def run_study_cli(args) -> int:
    from medseglab.config import load_params
    from medseglab.data.prepare import check_source_flag
    from medseglab.study.inputs import blank
    from medseglab.study.launcher import take_launcher
    from medseglab.study.study import run_study
    from medseglab.tracking.runs import open_client

    params = executor_params(load_params(args.params, args.overrides), args)
    entry = (params.get("datasets") or {}).get(args.dataset) or {}
    check_source_flag(blank(args.source), blank(args.format) or entry.get("format"))
    launcher = take_launcher(open_client(params))
    result = run_study(params, args.dataset, args.profile, args.source, args.format, launcher=launcher)
    counts = result.runs["status"].value_counts().to_dict()
    print(f"study {args.dataset}: parent run {result.parent_run_id} (experiment {result.experiment_id}); "
          f"trainings {counts}; results in {result.results_dir}")
    for key, value in sorted(result.summary.items()):
        if key.startswith("dice_"):
            print(f"  {key} = {value:.4f}")
    sys.stdout.flush()
    if args.analyze:
        return analyze(args, result.parent_run_id)
    return 0


def executor_params(params: dict, args) -> dict:
    """params with the study's --executor / --address / --gpus-per-training applied."""
    ray = dict(params.get("ray") or {})
    if args.address is not None:
        ray["address"] = args.address
    if args.gpus_per_training is not None:
        ray["gpus_per_training"] = args.gpus_per_training
    params = {**params, "ray": ray}
    if args.executor is not None:
        params["executor"] = args.executor
    if (args.address is not None or args.gpus_per_training is not None) and params.get("executor", "local") != "ray":
        from medseglab.errors import ConfigError

        raise ConfigError("--address and --gpus-per-training are for the Ray executor: add --executor ray "
                          "(or set executor: ray in params.yaml)")
    return params


ANALYSES = ("stats", "ensemble", "explain")  # each reads the finished study and logs to its parent run


def analyze(args, parent_run_id: str) -> int:
    """The study's statistics, Algorithm 1 and explanations, in this process (no new TensorFlow import):
    the same library functions `medseglab stats`, `ensemble` and `explain` call, on this very study."""
    from medseglab.config import load_params
    from medseglab.errors import UserError
    from medseglab.ensemble.stage import study_ensemble
    from medseglab.explain.stage import study_explain
    from medseglab.stats.stage import describe, study_stats

    params = load_params(args.params, args.overrides)
    stages = {
        "stats": lambda: describe(study_stats(params, args.dataset, parent_run_id)[0]),
        "ensemble": lambda: study_ensemble(params, args.dataset, parent_run_id).describe(),
        "explain": lambda: study_explain(params, args.dataset, parent_run_id).describe(),
    }
    for stage in ANALYSES:
        print(f"--- medseglab {stage} --dataset {args.dataset} --run-id {parent_run_id}", flush=True)
        try:
            print(stages[stage](), flush=True)
        except UserError as exc:
            print(f"medseglab {stage}: error: {exc}", file=sys.stderr)
            print(f"medseglab {stage} failed; the study itself is finished and recorded", file=sys.stderr)
            return 2
    return 0
