"""Build the dashboard app for a tracking store and serve it (``medseglab dashboard``)."""

from __future__ import annotations

from pathlib import Path

from medseglab.dashboard import safety
from medseglab.errors import UserError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8050


def build_app(uri: str, *, mlflow_ui: str | None = None, queue_path: str | Path | None = None,
              token: str | None = None):
    """The Dash app (``dashboards.app.create_app``) of the store at ``uri``."""
    try:
        from dashboards.app import create_app
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "dashboards":
            raise UserError("the dashboard app (package `dashboards`) is not installed: run "
                            "`pip install -e .` in the medseglab project (make setup does)") from None
        raise
    return create_app(uri, mlflow_ui=mlflow_ui, token=token, queue_path=queue_path)


def serve(uri: str, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, mlflow_ui: str | None = None,
          queue_path: str | Path | None = None, debug: bool = False) -> None:
    """Serve the dashboard until interrupted. A non-loopback ``host`` needs ``MEDSEGLAB_DASHBOARD_TOKEN``."""
    token = safety.token_from_env()
    safety.check_host(host, token)
    app = build_app(uri, mlflow_ui=mlflow_ui, queue_path=queue_path, token=token)
    print(f"medseglab dashboard of {uri} on http://{host}:{port}/" + (" (token required)" if token else ""),
          flush=True)
    app.run(host=host, port=port, debug=debug, use_reloader=False)
