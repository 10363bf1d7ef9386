"""The dashboard's graphs draw with plotly.js's cartesian partial bundle, not the full one.

Dash's ``dcc.Graph`` loads ``_dash-component-suites/plotly/package_data/plotly.min.js`` (the full
plotly.js, 4.8 MB) the first time a page shows a graph, and the browser parses all of it in every
new tab before the first graph draws. Every trace this dashboard draws (bar, histogram, scatter,
violin) is in the cartesian bundle (1.5 MB, the same plotly.js release), so that URL answers with it:
a third of the script to parse on each graph page opened in a new tab (issue #9, first render), and
nothing changes for pages without a graph (they still load no plotly.js at all).

The bundle is vendored from npm (``plotly.js-cartesian-dist-min``, MIT, ``vendor/LICENSE.plotly.js.txt``)
at the version the pinned ``plotly`` package ships (tests/dashboard/test_plotly_bundle.py checks it,
and the browser tests check that each graph's traces are types the bundle knows).
"""

from __future__ import annotations

import re
from pathlib import Path

import dash

from dashboards import vendored

BUNDLE = Path(__file__).resolve().parent / "vendor" / "plotly-cartesian.min.js"
# the trace modules of the cartesian bundle (its README; the test reads them from the file)
TRACES = frozenset({"bar", "box", "contour", "heatmap", "histogram", "histogram2d", "histogram2dcontour", "image",
                    "pie", "scatter", "scatterternary", "violin"})
FULL_BUNDLE = "_dash-component-suites/plotly/package_data/plotly.min.js"  # what dcc.Graph requests


def bundle_version(path: Path = BUNDLE) -> str:
    """The plotly.js version in the bundle's banner (``plotly.js (cartesian - minified) vX.Y.Z``)."""
    with open(path, encoding="utf-8") as handle:
        head = handle.read(400)
    found = re.search(r"plotly\.js \(cartesian - minified\) v(\d+\.\d+\.\d+)", head)
    if not found:
        raise ValueError(f"{path}: no plotly.js cartesian banner; restore the file from the repository")
    return found.group(1)


def install(app: dash.Dash) -> None:
    """Answer dcc.Graph's request for the full plotly.js with the cartesian bundle."""
    path = app.config.routes_pathname_prefix + FULL_BUNDLE
    vendored.answer_with(app, lambda requested: requested == path, BUNDLE)
