"""Dash's babel polyfill URL answers with regenerator-runtime alone (dashboards/polyfill.py): the page still
gets the ``regeneratorRuntime`` Dash's bundles use, and not core-js 2's slow parseFloat / Number / trim."""

from __future__ import annotations

import re
import shutil
from dashboards import polyfill


def test_the_polyfill_url_in_the_page_serves_regenerator_runtime(tmp_path, mlflow_db_template, in_app_get):
    from dashboards.app import create_app

    shutil.copy(mlflow_db_template, tmp_path / "mlflow.db")
    app = create_app(f"sqlite:///{tmp_path / 'mlflow.db'}", queue_path=tmp_path / "review.db", warm=False)
    client = app.server.test_client()
    index = in_app_get(client, "/").data.decode()
    scripts = re.findall(r'<script src="([^"]+)"', index)
    polyfills = [s for s in scripts if "/deps/polyfill@" in s]
    assert len(polyfills) == 1 and scripts.index(polyfills[0]) < min(i for i, s in enumerate(scripts) if "react" in s)
    answer = in_app_get(client, polyfills[0].split("?")[0])
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/javascript")
    assert answer.data == polyfill.RUNTIME.read_bytes() and b"regeneratorRuntime = runtime" in answer.data
    assert b"core-js" not in answer.data and b"_babelPolyfill" not in answer.data
    assert polyfill.polyfill_paths() == {"deps/polyfill@7.12.1.min.js"}  # Dash's, as pinned
    react = next(s for s in scripts if "/deps/react@" in s)
    assert b"react" in in_app_get(client, react.split("?")[0]).data[:400].lower()  # the others are still Dash's
