"""`medseglab stats` (a study from MLflow or a parquet table -> tables, logged on the study's
parent run) and `medseglab report` (the DVC stage: results/<dataset>/ -> reports/<dataset>/; with
``--html`` the study's HTML report from its parent run, ``medseglab.report``)."""

from __future__ import annotations

from medseglab.stats.stage import LEVELS


def register(subparsers, common) -> None:
    p = subparsers.add_parser(
        "stats", parents=[common],
        help="the paper's statistics and tables (Tables 1, 2, S1-S4) of a study; logged on its parent MLflow run",
        description="Compute the study's statistics (docs/STATISTICS.md): Tables 1, 2 and S1-S4, Wilcoxon tests, "
                    "bootstrap CIs and Holm correction, from the study in MLflow (or --table); writes "
                    "reports/<dataset>/tables/ and logs them on the study's parent run.",
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
        description="The DVC `report` stage: the same statistics as `medseglab stats`, read from "
                    "results/<dataset>/per_image.parquet and study.json (no MLflow needed); writes "
                    "reports/<dataset>/ (tables, metrics.json, depletion.csv, plots). With --html: the "
                    "study's self-contained HTML report, read from its parent MLflow run.",
    )
    r.add_argument("--dataset", required=True, help="dataset key of params.yaml (e.g. skin)")
    r.add_argument("--results", default="results", help="folder with <dataset>/per_image.parquet and study.json")
    _shared(r)
    r.add_argument("--mlflow", action="store_true", help="also log the tables and metrics on the study's parent run")
    r.add_argument("--no-mlflow", action="store_true",
                   help="do not log on the study's parent run (by default the report and its chosen split are "
                        "logged there when study.json names a run in an existing tracking store)")
    r.add_argument("--html", action="store_true",
                   help="instead of the DVC stage: write the study's self-contained HTML report (tables, plots, "
                        "galleries, Algorithm 1, UMAP, splits, provenance) from its parent MLflow run to "
                        "<out>/study_report-<run id>.html and log it there as report/study_report.html "
                        "(--no-mlflow: not logged); docs/REPORT.md")
    r.add_argument("--run-id", default=None,
                   help="with --html: the study's parent run id (default: the newest finished study of --dataset)")
    r.set_defaults(func=run_report)


def _shared(p) -> None:
    p.add_argument("--out", default=None, help="report folder (default: reports/<dataset>)")
    p.add_argument(
        "--level", choices=LEVELS, default="auto",
        help="per-image value of a model: its repeats' combined output (needs the probability maps and the "
             "prepared masks), the mean over repeats, or auto (combined when possible)",
    )
    p.add_argument("--no-plots", action="store_true", help="skip the PNG figures")


def run_stats(args) -> int:
    from medseglab.config import load_params
    from medseglab.stats.stage import describe, study_stats, table_stats

    params = load_params(args.params, args.overrides)
    if args.table:
        report, parent = table_stats(params, args.dataset, args.table, args.run_id, out=args.out, level=args.level,
                                     plots=not args.no_plots, log=not args.no_mlflow)
        print(describe(report))
        if parent:
            print(f"logged to run {parent}")
        return 0
    report, parent = study_stats(params, args.dataset, args.run_id, out=args.out, level=args.level,
                                 plots=not args.no_plots, log=not args.no_mlflow)
    print(describe(report))
    if parent:
        print(f"logged to run {parent} (artifacts stats/, {len(report.headline)} metrics)")
    return 0


def run_report(args) -> int:
    from medseglab.config import load_params
    from medseglab.stats.stage import describe, results_report

    params = load_params(args.params, args.overrides)
    if args.html:
        from medseglab.report.stage import ARTIFACT, study_report

        path, logged = study_report(params, args.dataset, args.run_id, out=args.out, log=not args.no_mlflow)
        print(f"study report: {path}" + (f" (logged on run {logged} as {ARTIFACT})" if logged else ""))
        return 0
    if args.run_id:
        from medseglab.errors import UserError

        raise UserError("--run-id goes with --html; the DVC stage reads its run from results/<dataset>/study.json")
    report, _ = results_report(params, args.dataset, args.results, out=args.out, level=args.level,
                               plots=not args.no_plots, log=True if args.mlflow else False if args.no_mlflow else None)
    print(describe(report))
    return 0
