"""`medseglab dashboard`: the Dash dashboard of a tracking store (README "Dashboard")."""

from __future__ import annotations

import argparse


def register(subparsers, common) -> None:
    p = subparsers.add_parser(
        "dashboard", parents=[common], help="serve the Dash dashboard of the studies in a tracking store",
        description="Serve the dashboard (studies, statistics, depletion, distributions, image drill-down, splits, "
                    "Grad-CAM, ensemble, UMAP, review queue, registry) of a tracking store, on 127.0.0.1 unless "
                    "told otherwise; another host needs MEDSEGLAB_DASHBOARD_TOKEN set.",
    )
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; a non-loopback one needs MEDSEGLAB_DASHBOARD_TOKEN)")
    p.add_argument("--port", type=int, default=8050, help="port (default 8050)")
    p.add_argument("--tracking-uri", default=None,
                   help="MLflow store, sqlite:///mlflow.db or http://host:5000 (default MLFLOW_TRACKING_URI, "
                        "else params tracking.uri)")
    p.add_argument("--mlflow-ui", default=None,
                   help="base URL of an MLflow UI for links to runs, e.g. http://127.0.0.1:5000 (default: the "
                        "tracking URI when it is http(s), else no links)")
    p.add_argument("--queue", default=None, help="review queue database (default review.db beside the store)")
    p.add_argument("--debug", action="store_true", help="Dash debug mode (never on a shared host)")
    p.set_defaults(func=run_dashboard)


def run_dashboard(args: argparse.Namespace) -> int:
    from medseglab.config import load_params
    from medseglab.dashboard.serve import serve
    from medseglab.tracking import tracking_uri

    uri = args.tracking_uri or tracking_uri(load_params(args.params, args.overrides))  # env, else params
    mlflow_ui = args.mlflow_ui or (uri if uri.startswith(("http://", "https://")) else None)
    serve(uri, host=args.host, port=args.port, mlflow_ui=mlflow_ui, queue_path=args.queue, debug=args.debug)
    return 0
