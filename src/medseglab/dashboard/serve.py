"""Build the dashboard app for a tracking store and serve it (``medseglab dashboard``)."""

from __future__ import annotations

import os
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


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """At most ``arenas`` glibc malloc arenas for the threads started from now on, unless
    ``MALLOC_ARENA_MAX`` is set (then glibc read it at start). Flask serves each request in a thread,
    and glibc gives threads their own arenas (up to 8 per core) that keep what concurrent callbacks
    copied out of the per-image table: ~0.2 GB of a 750-run study's peak. ``mallopt`` is the
    variable's run-time form, so no re-exec is needed; False where it is not glibc."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(-8, int(arenas)))  # -8: M_ARENA_MAX (malloc.h)
    except (OSError, AttributeError):  # not glibc (macOS, musl, Windows)
        return False


def serve(uri: str, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, mlflow_ui: str | None = None,
          queue_path: str | Path | None = None, debug: bool = False) -> None:
    """Serve the dashboard until interrupted. A non-loopback ``host`` needs ``MEDSEGLAB_DASHBOARD_TOKEN``."""
    token = safety.token_from_env()
    safety.check_host(host, token)
    limit_malloc_arenas()  # before the server's threads exist
    app = build_app(uri, mlflow_ui=mlflow_ui, queue_path=queue_path, token=token)
    print(f"medseglab dashboard of {uri} on http://{host}:{port}/" + (" (token required)" if token else ""),
          flush=True)
    app.run(host=host, port=port, debug=debug, use_reloader=False)
