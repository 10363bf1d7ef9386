"""The stats stage as functions: a study (from MLflow), a per-image table or the DVC results folder
-> the report folder, logged on the study's parent run. ``medseglab stats`` / ``report`` and
``medseglab study --analyze`` call these; they only parse arguments and print.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

LEVELS = ("auto", "combined", "repeat_mean")


def _note(message: str) -> None:
    print(f"medseglab: {message}", file=sys.stderr)


def _quiet_downloads() -> None:
    # one "combine repeats" bar over the models instead of an MLflow download bar per artifact
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def read_table(path: Path):
    """A per-image parquet table; UserError naming the file when it is missing or unreadable."""
    import pandas as pd

    from medseglab.errors import UserError

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such per-image table; run the study first (medseglab study) or pass --table PATH")
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable parquet table ({exc})") from exc


def combined_or_none(table, level: str, params: dict, profile: str | None, options, parent_run_id: str | None = None):
    """The combined outputs' table when ``level`` asks for it (auto: when the inputs are there)."""
    from medseglab.data.errors import DataError
    from medseglab.errors import UserError
    from medseglab.names import mask_threshold
    from medseglab.stats.combined import combined_table, probability_loader, prepared_mask_loader
    from medseglab.tracking import tracking_uri
    from medseglab.tracking.store import sqlite_path

    if level == "repeat_mean":
        return None
    uri = tracking_uri(params)
    db = sqlite_path(uri)
    if db is not None and not db.is_file():
        message = f"the tracking database {uri} does not exist, so the repeats' probability maps cannot be read"
        if level == "combined":
            raise UserError(f"{message}; set MLFLOW_TRACKING_URI or tracking.uri to the study's")
        _note(f"{message}; using the mean of each image's metric over the repeats")
        return None
    try:
        data_hash = _study_tag(parent_run_id, "medseglab.data_hash", uri)
        return combined_table(table, probability_loader(uri), prepared_mask_loader(params, profile, data_hash),
                              method=options.combine, threshold=mask_threshold(params))
    except (DataError, UserError, OSError) as exc:
        if level == "combined":
            raise
        _note(f"cannot combine the repeats' outputs ({exc}); using the mean of each image's metric over the repeats")
        return None


def _study_tag(run_id: str | None, tag: str, uri: str) -> str | None:
    """A tag of the study's parent run (None when there is no run to ask)."""
    if not run_id:
        return None
    from mlflow.exceptions import MlflowException

    from medseglab.tracking.runs import get_run

    try:
        return get_run(run_id, uri=uri).data.tags.get(tag)
    except MlflowException:
        return None


def _write(table, out: Path, options, combined, dataset: str, plots: bool, provenance=None, *, stage: str = "stats",
           run_id: str | None = None, params: dict | None = None, split_report=None):
    from medseglab.stats.learning_study import CurveOptions, train_sizes_from_split_report
    from medseglab.stats.provenance import UNKNOWN
    from medseglab.stats.report import write_report

    sizes = train_sizes_from_split_report(split_report) if split_report is not None else None
    return write_report(table, out, options, combined=combined, dataset=dataset, make_plots=plots,
                        provenance=provenance or UNKNOWN, stage=stage, run_id=run_id,
                        curve_options=CurveOptions.from_params(params or {}), train_sizes=sizes)


def _run_split_report(run_id: str | None, uri: str):
    """The study's ``splits/split_report.csv`` (train set sizes for the learning curves); None when the
    run has none (an older study: the sizes are then estimated from the test sets)."""
    if not run_id:
        return None
    import pandas as pd
    from mlflow.exceptions import MlflowException

    from medseglab.tracking.runs import read_artifact

    try:
        return read_artifact(run_id, "splits/split_report.csv", pd.read_csv, uri=uri)
    except (MlflowException, OSError):
        return None


def _folder_split_report(folder):
    """``<splits_dir>/split_report.csv`` of a DVC study (None when absent)."""
    import pandas as pd

    path = Path(folder or "") / "split_report.csv"
    return pd.read_csv(path) if folder and path.is_file() else None


def describe(report) -> str:
    """What the CLI prints about a report: the chosen split and where it is recorded, the level, Table 1."""
    from medseglab.stats.learning_report import lines

    learning = "\n".join(lines(report.learning)) + "\n" if report.learning is not None else ""
    return (f"{report.chosen_line()}; statistics on {report.level} values; "
            f"tables in {report.out_dir / 'tables'}\n" + (report.out_dir / "tables" / "table1.md").read_text()
            + learning)


def _log(report, parent: str, params: dict) -> None:
    from medseglab.stats.report import log_to_mlflow
    from medseglab.tracking import tracking_uri

    log_to_mlflow(report, parent, uri=tracking_uri(params))


def study_stats(params: dict, dataset: str, run_id: str | None = None, *, out: str | Path | None = None,
                level: str = "auto", plots: bool = True, log: bool = True):
    """Statistics of a study in MLflow (``run_id``, default the newest finished study of ``dataset``)
    written to ``out`` (default ``reports/<dataset>``) and, with ``log``, logged on its parent run.
    Returns (``stats.report.Report``, the parent run id it was logged on, None when not logged)."""
    from medseglab import tracking
    from medseglab.config import resolve
    from medseglab.stats.learning_study import CurveOptions
    from medseglab.stats.provenance import study_provenance
    from medseglab.stats.summary import StatsOptions

    options = StatsOptions.from_params(params)
    CurveOptions.from_params(params)  # a config error before any work
    _quiet_downloads()
    resolve(params, dataset)  # a clear error for an unknown dataset
    uri = tracking.tracking_uri(params)
    run = tracking.find_study(dataset, run_id, params)
    parent = run.info.run_id
    table = tracking.study_table(parent, uri=uri)
    combined = combined_or_none(table, level, params, run.data.tags.get("medseglab.profile"), options, parent)
    provenance = study_provenance(run, params, uri=uri)
    report = _write(table, Path(out or Path("reports") / dataset), options, combined, dataset, plots, provenance,
                    stage="stats", run_id=parent, params=params, split_report=_run_split_report(parent, uri))
    if log:
        _log(report, parent, params)
    return report, parent if log else None


def table_stats(params: dict, dataset: str, table_path: str | Path, run_id: str | None = None, *,
                out: str | Path | None = None, level: str = "auto", plots: bool = True, log: bool = True):
    """Statistics of a per-image parquet table; logged on study ``run_id`` when given and ``log``.
    Returns (report, parent run id or None) as :func:`study_stats`."""
    from medseglab import tracking
    from medseglab.stats.provenance import report_provenance
    from medseglab.stats.summary import StatsOptions

    options = StatsOptions.from_params(params)
    _quiet_downloads()
    table = read_table(Path(table_path))
    level = "repeat_mean" if level == "auto" else level
    combined = combined_or_none(table, level, params, None, options) if level == "combined" else None
    # a bare table has no known provenance (no label); one tied to a study run has the study's
    provenance = report_provenance(dataset, params, run_id, tracking.tracking_uri(params)) if run_id else None
    sizes = _run_split_report(run_id, tracking.tracking_uri(params)) if run_id else None
    report = _write(table, Path(out or Path("reports") / dataset), options, combined, dataset, plots, provenance,
                    stage="stats", run_id=run_id, params=params, split_report=sizes)
    if not (run_id and log):
        return report, None
    parent = tracking.find_study(dataset, run_id, params).info.run_id
    _log(report, parent, params)
    return report, parent


def results_report(params: dict, dataset: str, results: str | Path = "results", *, out: str | Path | None = None,
                   level: str = "auto", plots: bool = True, log: bool | None = None):
    """The DVC stage: ``<results>/<dataset>/per_image.parquet`` + ``study.json`` -> the report folder,
    logged on the study's parent run named in study.json like ``medseglab stats`` logs it (tables,
    metrics, the chosen split ``stats/selection.json``), so ensemble and explain read the same choice.
    ``log``: None = when study.json names a run in a tracking store that exists (else a note), True =
    always (UserError when it cannot), False = never. Returns (report, run id or None)."""
    from medseglab.errors import UserError
    from medseglab.stats.provenance import report_provenance
    from medseglab.stats.summary import StatsOptions
    from medseglab.tracking import tracking_uri
    from medseglab.tracking.store import sqlite_path

    options = StatsOptions.from_params(params)
    _quiet_downloads()
    folder = Path(results) / dataset
    table = read_table(folder / "per_image.parquet")
    study_path = folder / "study.json"
    study: dict = {}
    if study_path.is_file():
        try:
            study = json.loads(study_path.read_text())
        except ValueError as exc:
            raise UserError(f"{study_path}: not valid JSON ({exc}); rerun the study stage") from exc
    elif level == "combined":
        raise UserError(f"{study_path}: missing; --level combined needs the study's tracking URI and run")
    if study.get("tracking_uri") and not os.environ.get("MLFLOW_TRACKING_URI"):
        params = {**params, "tracking": {**(params.get("tracking") or {}), "uri": study["tracking_uri"]}}
    level = level if study else "repeat_mean"
    parent = study.get("parent_run_id")
    uri = tracking_uri(params)
    db = sqlite_path(uri)
    reachable = bool(parent) and (db is None or db.is_file()) and _study_tag(parent, "medseglab.kind", uri) == "study"
    if log and not parent:
        raise UserError(f"{study_path}: no parent_run_id; cannot log to the study's run")
    if log is None and parent and not reachable:
        _note(f"study run {parent} is not in the tracking store {uri}: the report is not logged there, so its "
              "chosen split is not recorded (ensemble and explain compute it again the same way)")
    combined = combined_or_none(table, level, params, study.get("profile"), options, parent)
    provenance = report_provenance(dataset, params, parent if reachable else None, uri)
    report = _write(table, Path(out or Path("reports") / dataset), options, combined, dataset, plots, provenance,
                    stage="report", run_id=parent, params=params, split_report=_folder_split_report(study.get("splits_dir")))
    if log is False or (log is None and not reachable):
        return report, None
    _log(report, parent, params)
    return report, parent
