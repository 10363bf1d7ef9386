"""Splits: the clinical label distribution of every split's train and test sets, and how much the
80:20 test sets overlap (the paper's Table S2 / Figure S1A)."""

from __future__ import annotations

import dash
from dash import Input, Output, callback, dcc, html

from dashboards.components import no_study, study_info, synthetic_banner, table
from dashboards.context import current
from medseglab.dashboard import figures

dash.register_page(__name__, path="/splits", name="Splits", title="medseglab: splits")

# The graph is in the layout, not in the callback's output: a new tab then loads plotly.js while the
# callback runs, instead of after it.
layout = html.Div([html.H2("Splits and their clinical labels"), html.Div(id="splits-banner"),
                   dcc.Graph(id="splits-labels", style={"display": "none"}), html.Div(id="splits-body")])
HIDDEN, SHOWN = {"display": "none"}, {}


@callback(Output("splits-banner", "children"), Output("splits-labels", "figure"), Output("splits-labels", "style"),
          Output("splits-body", "children"), Input("study-select", "value"))
def show(study_id):
    if not study_id:
        return no_study(), {}, HIDDEN, None
    store = current().store
    info = study_info(study_id) or {}
    report = store.csv(study_id, "splits/split_report.csv")
    overlap = store.csv(study_id, "splits/split_overlap.csv")
    table_s2 = store.csv(study_id, "stats/tables/tableS2.csv")
    banner, figure, style, parts = synthetic_banner(info), {}, HIDDEN, []
    if report is None:
        parts.append(html.P("This study did not log its split tables (studies before the dashboard); Table S2 "
                            "below comes from `medseglab stats`.", className="muted"))
    else:
        figure = figures.label_distribution_figure(report, synthetic=bool(info.get("synthetic")))
        style = SHOWN
        parts += [html.H3("counts and % per split, ratio, subset and clinical label"),
                  table(report, "splits-report", page_size=20)]
    if overlap is not None:
        parts += [html.H3("pairwise overlap of the 80:20 test sets"), table(overlap, "splits-overlap")]
    parts += [html.H3("Table S2: test-set labels and overlap"),
              table(table_s2, "splits-s2") if table_s2 is not None else html.P(
                  "no Table S2 yet: run `medseglab stats` on this study", className="muted")]
    return banner, figure, style, parts


def warm(study_id: str) -> None:
    """A new tab's first callbacks, with the layout's defaults (run as the server starts: app._warm_pages)."""
    show(study_id)
