"""`medseglab stats` (a study from MLflow or a parquet table -> tables, logged on the study's
parent run) and `medseglab report` (the DVC stage: results/<dataset>/ -> reports/<dataset>/)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

LEVELS = ("auto", "combined", "repeat_mean")


def register(subparsers, common) -> None:
    p = subparsers.add_parser(
        "stats", parents=[common],
        help="the paper's statistics and tables (Tables 1, 2, S1-S4) of a study; logged on its parent MLflow run",
    )
    p.add_argument("--dataset", required=True, help="dataset key of params.yaml (e.g. skin)")
    p.add_argument("--run-id", default=None, help="the study's parent run id (default: its latest finished study)")
    p.add_argument("--table", default=None, metavar="PATH",
                   help="read this per-image parquet instead of the study in MLflow (nothing is logged)")
    _shared(p)
    p.add_argument("--no-mlflow", action="store_true", help="do not log tables and metrics on the parent run")
    p.set_defaults(func=run_stats)

    r = subparsers.add_parser(
        "report", parents=[common],
        help="DVC stage: results/<dataset>/per_image.parquet + study.json -> reports/<dataset>/ "
             "(tables, metrics.json, depletion.csv, plots)",
    )
    r.add_argument("--dataset", required=True, help="dataset key of params.yaml (e.g. skin)")
    r.add_argument("--results", default="results", help="folder with <dataset>/per_image.parquet and study.json")
    _shared(r)
    r.add_argument("--mlflow", action="store_true", help="also log the tables and metrics on the study's parent run")
    r.set_defaults(func=run_report)


def _shared(p) -> None:
    p.add_argument("--out", default=None, help="report folder (default: reports/<dataset>)")
    p.add_argument(
        "--level", choices=LEVELS, default="auto",
        help="per-image value of a model: its repeats' combined output (needs the probability maps and the "
             "prepared masks), the mean over repeats, or auto (combined when possible)",
    )
    p.add_argument("--no-plots", action="store_true", help="skip the PNG figures")


def _note(message: str) -> None:
    print(f"medseglab: {message}", file=sys.stderr)


def _read_table(path: Path):
    import pandas as pd

    from medseglab.errors import UserError

    if not path.is_file():
        raise UserError(f"{path}: no such per-image table; run the study first (medseglab study) or pass --table PATH")
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable parquet table ({exc})") from exc


def _combined_or_none(table, level: str, params: dict, profile: str | None, options, parent_run_id: str | None = None):
    """The combined outputs' table when ``level`` asks for it (auto: when the inputs are there)."""
    from medseglab.errors import UserError
    from medseglab.data.errors import DataError
    from medseglab.stats.combined import combined_table, mlflow_probability_loader, prepared_mask_loader

    if level == "repeat_mean":
        return None
    import mlflow

    from medseglab.tracking import tracking_uri

    uri = tracking_uri(params)
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).is_file():
        message = f"the tracking database {uri} does not exist, so the repeats' probability maps cannot be read"
        if level == "combined":
            raise UserError(f"{message}; set MLFLOW_TRACKING_URI or tracking.uri to the study's")
        _note(f"{message}; using the mean of each image's metric over the repeats")
        return None
    mlflow.set_tracking_uri(uri)
    threshold = float((params.get("train") or {}).get("threshold", 0.5))
    try:
        data_hash = _study_tag(parent_run_id, "medseglab.data_hash")
        return combined_table(table, mlflow_probability_loader, prepared_mask_loader(params, profile, data_hash),
                              method=options.combine, threshold=threshold)
    except (DataError, UserError, OSError) as exc:
        if level == "combined":
            raise
        _note(f"cannot combine the repeats' outputs ({exc}); using the mean of each image's metric over the repeats")
        return None


def _study_tag(run_id: str | None, tag: str) -> str | None:
    """A tag of the study's parent run (None when there is no run to ask)."""
    if not run_id:
        return None
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        return MlflowClient().get_run(run_id).data.tags.get(tag)
    except MlflowException:
        return None


def _write(table, out: Path, options, combined, dataset: str, plots: bool):
    from medseglab.stats.report import write_report

    report = write_report(table, out, options, combined=combined, dataset=dataset, make_plots=plots)
    print(f"{dataset}: split {report.chosen_split} chosen; statistics on {report.level} values; "
          f"tables in {out / 'tables'}")
    print((out / "tables" / "table1.md").read_text())
    return report


def run_stats(args) -> int:
    from medseglab.config import load_params, resolve
    from medseglab.stats.summary import StatsOptions

    params = load_params(args.params, args.overrides)
    options = StatsOptions.from_params(params)
    # one "combine repeats" bar over the models instead of an MLflow download bar per artifact
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    out = Path(args.out or Path("reports") / args.dataset)
    if args.table:
        table = _read_table(Path(args.table))
        level = "repeat_mean" if args.level == "auto" else args.level
        combined = _combined_or_none(table, level, params, None, options) if level == "combined" else None
        report = _write(table, out, options, combined, args.dataset, not args.no_plots)
        if args.run_id and not args.no_mlflow:
            from medseglab import tracking
            from medseglab.stats.report import log_to_mlflow

            parent = tracking.find_study(args.dataset, args.run_id, params).info.run_id
            log_to_mlflow(report, parent)
            print(f"logged to run {parent}")
        return 0
    resolve(params, args.dataset)  # a clear error for an unknown dataset
    from medseglab import tracking

    run = tracking.find_study(args.dataset, args.run_id, params)
    parent = run.info.run_id
    table = tracking.study_table(parent)
    profile = run.data.tags.get("medseglab.profile")
    combined = _combined_or_none(table, args.level, params, profile, options, parent)
    report = _write(table, out, options, combined, args.dataset, not args.no_plots)
    if not args.no_mlflow:
        from medseglab.stats.report import log_to_mlflow

        log_to_mlflow(report, parent)
        print(f"logged to run {parent} (artifacts stats/, {len(report.headline)} metrics)")
    return 0


def run_report(args) -> int:
    from medseglab.errors import UserError
    from medseglab.config import load_params
    from medseglab.stats.summary import StatsOptions

    params = load_params(args.params, args.overrides)
    options = StatsOptions.from_params(params)
    # one "combine repeats" bar over the models instead of an MLflow download bar per artifact
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    results = Path(args.results) / args.dataset
    table = _read_table(results / "per_image.parquet")
    study_path = results / "study.json"
    study: dict = {}
    if study_path.is_file():
        try:
            study = json.loads(study_path.read_text())
        except ValueError as exc:
            raise UserError(f"{study_path}: not valid JSON ({exc}); rerun the study stage") from exc
    elif args.level == "combined":
        raise UserError(f"{study_path}: missing; --level combined needs the study's tracking URI and run")
    if study.get("tracking_uri") and not os.environ.get("MLFLOW_TRACKING_URI"):
        params = {**params, "tracking": {**(params.get("tracking") or {}), "uri": study["tracking_uri"]}}
    level = args.level if study else "repeat_mean"
    combined = _combined_or_none(table, level, params, study.get("profile"), options, study.get("parent_run_id"))
    out = Path(args.out or Path("reports") / args.dataset)
    report = _write(table, out, options, combined, args.dataset, not args.no_plots)
    if args.mlflow:
        from medseglab.stats.report import log_to_mlflow

        if not study.get("parent_run_id"):
            raise UserError(f"{study_path}: no parent_run_id; cannot log to the study's run")
        log_to_mlflow(report, study["parent_run_id"])
    return 0
