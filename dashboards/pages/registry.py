"""Registry: registered models, their versions, aliases and tags, and the promote action (point
champion or challenger at a version). With a token set, promoting without it is refused."""

from __future__ import annotations

import dash
from dash import Input, Output, State, callback, dcc, html

from dashboards.components import table
from dashboards.context import current
from medseglab.dashboard import registry
from medseglab.errors import UserError

dash.register_page(__name__, path="/registry", name="Registry", title="medseglab: registry")

layout = html.Div([
    html.H2("Model registry"),
    html.Div(id="registry-models"),
    html.Div([html.Div([html.Label("model", htmlFor="registry-model"),
                        dcc.Dropdown(id="registry-model", style={"width": "520px"})])], className="controls"),
    html.H3("versions"),
    html.Div(id="registry-versions"),
    html.H3("promote"),
    html.Div([
        html.Div([html.Label("version", htmlFor="registry-version"), dcc.Dropdown(id="registry-version")]),
        html.Div([html.Label("alias", htmlFor="registry-alias"),
                  dcc.Dropdown(id="registry-alias", options=list(registry.ALIASES), value="champion",
                               clearable=False)]),
        html.Button("promote", id="registry-promote", n_clicks=0),
    ], className="controls"),
    html.P(id="registry-message", className="note"),
])


@callback(Output("registry-models", "children"), Output("registry-model", "options"),
          Input("registry-message", "children"))
def show_models(_):
    frame = registry.models(current().uri)
    if frame.empty:
        return html.P("no registered model yet (trainings register theirs; `medseglab promote` picks "
                      "champions)", className="muted"), []
    shown = frame.assign(aliases=frame["aliases"].map(lambda a: ", ".join(f"{k} → v{v}" for k, v in sorted(a.items()))),
                         updated=frame["updated"].astype(str))
    return table(shown, "registry-grid"), list(frame["name"])


@callback(Output("registry-versions", "children"), Output("registry-version", "options"),
          Input("registry-model", "value"), Input("registry-message", "children"))
def show_versions(name, _):
    if not name:
        return html.P("choose a model", className="muted"), []
    frame = registry.versions(current().uri, name)
    if frame.empty:
        return html.P("no versions", className="muted"), []
    shown = frame.assign(aliases=frame["aliases"].map(", ".join), created=frame["created"].astype(str))
    return table(shown, "registry-version-grid"), [int(v) for v in frame["version"]]


@callback(Output("registry-message", "children"), Input("registry-promote", "n_clicks"),
          State("registry-model", "value"), State("registry-version", "value"), State("registry-alias", "value"),
          prevent_initial_call=True)
def promote(n_clicks, name, version, alias):
    if not current().write_allowed():
        return "refused: this dashboard needs its token to promote (log in at /login)"
    if not n_clicks or not name or version is None:
        return "choose a model and a version first"
    try:
        return "promoted: " + registry.promote(current().uri, name, version, alias)
    except UserError as exc:
        return f"not promoted: {exc}"
