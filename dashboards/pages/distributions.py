"""Distributions: per-image values per init (violins) and the delta_m histogram; clicking an image's
point opens its drill-down."""

from __future__ import annotations

from urllib.parse import urlencode

import dash
from dash import Input, Output, State, callback, dcc, html

from dashboards.components import default_regime, initial, no_study, study_info
from dashboards.context import current
from medseglab.dashboard import figures

dash.register_page(__name__, path="/distributions", name="Distributions", title="medseglab: distributions")

layout = html.Div([
    html.H2("Distributions of the per-image metrics"),
    dcc.Location(id="dist-go", refresh="callback-nav"),
    html.Div([
        html.Div([html.Label("metric", htmlFor="dist-metric"),
                  dcc.Dropdown(id="dist-metric", value="dice", clearable=False,
                               options=[{"label": v, "value": k} for k, v in figures.METRIC_NAMES.items()])]),
        html.Div([html.Label("split · ratio", htmlFor="dist-regime"), dcc.Dropdown(id="dist-regime", clearable=False)]),
    ], className="controls"),
    html.P(id="dist-note", className="muted"),
    dcc.Graph(id="dist-violin"),
    dcc.Graph(id="dist-delta"),
])


def regimes(study_id: str | None) -> tuple[list[dict], str | None]:
    """The split · ratio options of the study's per-image table and the default one (``split:ratio``)."""
    keys = current().store.study_keys(study_id) if study_id else None
    if not keys or not keys["regimes"]:
        return [], None
    split, ratio = default_regime(study_id)
    options = [{"label": f"split {s} · {r}:{100 - r}" + (" (chosen)" if (s, r) == (split, ratio) else ""),
                "value": f"{s}:{r}"} for s, r in keys["regimes"]]
    return options, f"{split}:{ratio}"


# One callback fills the split · ratio selector and draws (the selector is its input and its output): a
# new tab makes one request and draws each graph once, where a selector callback chained before the
# drawing one made two, and drew "no per-image table" first while the selector was still empty.
@callback(Output("dist-regime", "options"), Output("dist-regime", "value"), Output("dist-violin", "figure"),
          Output("dist-delta", "figure"), Output("dist-note", "children"),
          Input("study-select", "value"), Input("dist-metric", "value"), Input("dist-regime", "value"))
def show(study_id, metric, regime):
    options, default = regimes(study_id)
    if not study_id or default is None:
        message = "choose a study" if not study_id else "this study has no per-image table yet"
        return [], None, figures.empty_figure(message), figures.empty_figure(message), ""
    if regime not in {o["value"] for o in options}:  # a new tab, or a regime of the study chosen before
        regime = default
    info = study_info(study_id) or {}
    split, ratio = (int(v) for v in regime.split(":"))
    rows = current().store.regime(study_id, split, ratio)
    synthetic = bool(info.get("synthetic"))
    subtitle = f", split {split}, {ratio}:{100 - ratio}"
    note = f"{rows['image_id'].nunique()} test images, {rows['run_id'].nunique()} trainings"
    return (options, regime, figures.violin_figure(rows, metric, synthetic=synthetic, subtitle=subtitle),
            figures.delta_histogram(rows, metric, synthetic=synthetic), note)


@callback(Output("dist-go", "href"), Input("dist-violin", "clickData"), State("study-select", "value"),
          prevent_initial_call=True)
def open_image(click, study_id):
    points = (click or {}).get("points") or []
    if not points or not points[0].get("customdata"):
        return dash.no_update
    image = points[0]["customdata"]
    image = image[0] if isinstance(image, list) else image
    return "/image?" + urlencode({"study": study_id, "image": image})


def warm(study_id: str) -> None:
    """A new tab's first callbacks, with the layout's defaults (run as the server starts: app._warm_pages)."""
    show(study_id, initial(layout, "dist-metric"), None)
