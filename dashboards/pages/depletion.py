"""Depletion: the median (95% bootstrap CI) of each metric vs % of data used for training, LMI vs TII,
with the paper's Table 2 median Dice as the reference; below it the fitted learning curves (median
against training images, bootstrap bands) from the stats stage's ``stats/tables/learning_curves.csv``."""

from __future__ import annotations

import dash
from dash import Input, Output, callback, dcc, html

from dashboards.components import chosen, initial, no_study, study_info
from dashboards.context import current
from medseglab.dashboard import figures

dash.register_page(__name__, path="/depletion", name="Depletion", title="medseglab: depletion")

layout = html.Div([
    html.H2("Depletion: less training data"),
    html.Div([html.Label("metric", htmlFor="depletion-metric"),
              dcc.Dropdown(id="depletion-metric", value="dice", clearable=False, style={"width": "260px"},
                           options=[{"label": v, "value": k} for k, v in figures.METRIC_NAMES.items()])],
             className="controls"),
    dcc.Graph(id="depletion-graph"),
    html.P("Each training % is taken from the chosen split when it was trained there, else its lowest split "
           "(as Table 2). The paper's values (dashed, open markers) exist for Dice only.", className="muted"),
    dcc.Graph(id="depletion-learning-curve"),
    html.P("Learning curve: an inverse power law fitted to the medians above against the number of training "
           "images (docs/STATISTICS.md, Learning curves); beyond the largest training set it is an extrapolation.",
           className="muted"),
])


@callback(Output("depletion-graph", "figure"), Input("study-select", "value"), Input("depletion-metric", "value"))
def show(study_id, metric):
    if not study_id:
        return figures.empty_figure("choose a study")
    info = study_info(study_id) or {}
    describe = current().store.csv(study_id, "stats/tables/statistics_describe.csv")
    if describe is None:
        return figures.empty_figure("no statistics yet: run `medseglab stats` on this study")
    split, _ = chosen(study_id)
    points = figures.depletion_points(describe, split, metric)
    return figures.depletion_figure(points, metric, info.get("dataset", ""), synthetic=bool(info.get("synthetic")))


@callback(Output("depletion-learning-curve", "figure"), Input("study-select", "value"),
          Input("depletion-metric", "value"))
def show_learning_curve(study_id, metric):
    if not study_id:
        return figures.empty_figure("choose a study")
    info = study_info(study_id) or {}
    store = current().store
    return figures.learning_curve_figure(
        store.csv(study_id, "stats/tables/learning_curves.csv"), store.csv(study_id, "stats/tables/learning_curve_bands.csv"),
        store.csv(study_id, "stats/tables/learning_curve_points.csv"), metric, info.get("dataset", ""),
        synthetic=bool(info.get("synthetic")))


def warm(study_id: str) -> None:
    """A new tab's first callbacks, with the layout's defaults (run as the server starts: app._warm_pages)."""
    metric = initial(layout, "depletion-metric")
    show(study_id, metric)
    show_learning_curve(study_id, metric)
