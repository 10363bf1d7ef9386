"""The dashboard answers dcc.Graph's plotly.js request with the vendored cartesian bundle: the same
plotly.js release as the pinned plotly package, the trace types it declares, and a cacheable reply."""

from __future__ import annotations

import re
import shutil

from dashboards import plotly_bundle


def test_bundle_is_the_plotly_js_release_of_the_pinned_plotly_package():
    from plotly.offline import get_plotlyjs_version

    assert plotly_bundle.bundle_version() == get_plotlyjs_version()


def test_declared_traces_are_the_bundles_trace_modules():
    text = plotly_bundle.BUNDLE.read_text(encoding="utf-8")
    modules = set(re.findall(r'name:"([a-z0-9]+)",basePlotModule', text))
    assert modules == plotly_bundle.TRACES


def test_graph_script_url_serves_the_bundle_and_revalidates(tmp_path, mlflow_db_template, in_app_get):
    from dashboards.app import create_app

    shutil.copy(mlflow_db_template, tmp_path / "mlflow.db")
    app = create_app(f"sqlite:///{tmp_path / 'mlflow.db'}", queue_path=tmp_path / "review.db")
    client = app.server.test_client()
    first = in_app_get(client, "/" + plotly_bundle.FULL_BUNDLE)
    assert first.status_code == 200
    assert first.data == plotly_bundle.BUNDLE.read_bytes()
    assert first.headers["Content-Type"].startswith("text/javascript")
    assert first.headers["Cache-Control"] == "no-cache" and first.headers.get("ETag")
    again = in_app_get(client, "/" + plotly_bundle.FULL_BUNDLE, {"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    # Dash's other component files are still Dash's
    assert in_app_get(client, "/_dash-layout").status_code == 200
