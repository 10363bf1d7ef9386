"""One of Dash's script URLs answered with a file from ``vendor/`` (plotly_bundle.py, polyfill.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dash
import flask


def answer_with(app: dash.Dash, wanted: Callable[[str], bool], script: Path) -> None:
    """Answer every request whose path ``wanted`` accepts with ``script`` as text/javascript, under
    no-cache: the browser keeps its copy and revalidates it (a 304 on an unchanged file)."""

    @app.server.before_request
    def vendored_script():
        if wanted(flask.request.path):
            response = flask.send_file(script, mimetype="text/javascript", conditional=True, max_age=0)
            response.headers["Cache-Control"] = "no-cache"
            return response
        return None
