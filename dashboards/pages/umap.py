"""UMAP: the embedding of the test images' pooled penultimate-layer features, coloured by clinical
label, init or class; hovering a point shows the image.

One (init, class) panel opens, larger, with the others a choice away, and all four side by side as one
of the choices: four panels are four times the points for the browser to draw (docs/DASHBOARD.md)."""

from __future__ import annotations

import dash
from dash import Input, Output, callback, dcc, html, no_update

from dashboards.components import data_url, initial, labelled_dropdown, study_info
from dashboards.context import current
from medseglab.dashboard import figures

dash.register_page(__name__, path="/umap", name="UMAP", title="medseglab: UMAP")

DEFAULT_PANEL = ("tii", 1)  # as the Grad-CAM gallery opens: TII, the target class
PANEL_OPTIONS = [*({"label": f"{init.upper()}, class {cls} ({'target' if cls else 'background'})",
                    "value": figures.umap_panel_key(init, cls)}
                   for init, cls in (("tii", 1), ("lmi", 1), ("tii", 0), ("lmi", 0))),
                 {"label": "all four, side by side", "value": "all"}]


layout = html.Div([
    html.H2("UMAP of the features"),
    html.Div([
        labelled_dropdown("umap-panel", "panel", PANEL_OPTIONS, figures.umap_panel_key(*DEFAULT_PANEL),
                          searchable=False, maxHeight=260, style={"width": "300px"}),
        labelled_dropdown("umap-colour", "colour by", [{"label": "clinical label", "value": "clinical_label"},
                                                       {"label": "init", "value": "init"},
                                                       {"label": "class", "value": "class"}], "clinical_label",
                          searchable=False, style={"width": "240px"}),
    ], className="controls"),
    dcc.Graph(id="umap-graph", clear_on_unhover=True),
    dcc.Tooltip(id="umap-tooltip"),
    html.P("Each panel is its own UMAP (features of different models live in different spaces); "
           "n_neighbors and min_dist as params.yaml's datasets.<name>.umap.", className="muted"),
])


@callback(Output("umap-graph", "figure"), Input("study-select", "value"), Input("umap-colour", "value"),
          Input("umap-panel", "value"))
def show(study_id, colour, panel):
    if not study_id:
        return figures.empty_figure("choose a study")
    embedding = current().store.parquet(study_id, "explain/embedding.parquet")
    info = study_info(study_id) or {}
    return figures.umap_figure(embedding, colour, panels=figures.umap_panels(panel),
                               synthetic=bool(info.get("synthetic")))


@callback(Output("umap-tooltip", "show"), Output("umap-tooltip", "bbox"), Output("umap-tooltip", "children"),
          Input("umap-graph", "hoverData"), Input("study-select", "value"))
def hover(hover, study_id):
    points = (hover or {}).get("points") or []
    if not points or not study_id:
        return False, no_update, no_update
    image = points[0].get("customdata")
    image = image[0] if isinstance(image, list) else image
    known = image in current().store.prepared_ids(study_id)
    body = [html.Img(src=data_url(study_id, image, "input", 128), style={"width": "128px"})] if known else []
    return True, points[0].get("bbox"), html.Div([*body, html.P(str(image), style={"margin": 0, "fontSize": 12})])


def warm(study_id: str) -> None:
    """A new tab's first callbacks, with the layout's defaults (run as the server starts: app._warm_pages)."""
    show(study_id, initial(layout, "umap-colour"), initial(layout, "umap-panel"))
