"""Dash's babel polyfill is answered with the one part of it Dash's scripts use: regenerator-runtime.

Every Dash page loads ``deps/polyfill@7.12.1.min.js`` (``@babel/polyfill``: core-js 2 and
regenerator-runtime) before React. On today's browsers core-js 2 finds ``parseFloat``, ``parseInt``,
``Number`` and ``String.prototype.trim`` non-standard (they no longer treat U+180E as white space) and
replaces them with JavaScript versions about ten times slower (Chromium here: 200,000 ``Number()`` +
``parseFloat()`` took 164 ms on a dashboard page, 16 ms on a blank one; core-js issue of record:
OctoPrint/OctoPrint#5438). plotly.js calls them for every point it styles: drawing the UMAP page's
four panels (11,032 points) spent 280-290 ms in ``singlePointStyle`` with core-js 2 (its trim alone
95-105 ms of the tab's script time), 180 ms without it.

Dash's renderer and component bundles need the global ``regeneratorRuntime`` from it (their compiled
async functions); what else core-js 2 adds, today's browsers have natively (the browser tests render
and use every page with no console error and no ``_babelPolyfill``). So
that URL answers with regenerator-runtime alone (vendored from npm, ``regenerator-runtime`` 0.13.11,
MIT, ``vendor/LICENSE.regenerator-runtime.txt``), in the same place in the page.
"""

from __future__ import annotations

from pathlib import Path

import dash

from dashboards import vendored

RUNTIME = Path(__file__).resolve().parent / "vendor" / "regenerator-runtime.js"
SUITES = "_dash-component-suites/dash/"


def polyfill_paths() -> set[str]:
    """The babel polyfill's paths among Dash's React dependencies (``deps/polyfill@...``)."""
    from dash import _dash_renderer

    return {path for dep in _dash_renderer._js_dist_dependencies
            for paths in dep["relative_package_path"].values() for path in paths if "polyfill" in path}


def install(app: dash.Dash) -> None:
    """Answer Dash's polyfill URL (fingerprinted or not) with regenerator-runtime."""
    from dash.fingerprint import check_fingerprint

    prefix = app.config.routes_pathname_prefix + SUITES
    polyfills = polyfill_paths()
    vendored.answer_with(app, lambda requested: requested.startswith(prefix)
                         and check_fingerprint(requested[len(prefix):])[0] in polyfills, RUNTIME)
