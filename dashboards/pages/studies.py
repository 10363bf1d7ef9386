"""Studies: every study by dataset, its data source, profile, start, duration and trainings by state;
a running study's progress refreshes every few seconds."""

from __future__ import annotations

import dash
from dash import Input, Output, callback, dcc, html

from dashboards.components import table
from dashboards.context import current
from medseglab.dashboard import figures

dash.register_page(__name__, path="/", name="Studies", title="medseglab: studies",
                   redirect_from=["/studies"])

layout = html.Div([
    html.H2("Studies"),
    html.P("Each study is an MLflow parent run whose children are its trainings (finished / running / failed). "
           "'report' opens a finished study's HTML report (made by `medseglab report --html`).",
           className="muted"),
    dcc.Interval(id="studies-live", interval=3000),
    html.Div(id="studies-table"),
    html.H3("Progress of running studies"),
    html.Div(id="studies-progress"),
])


@callback(Output("studies-table", "children"), Output("studies-progress", "children"),
          Input("studies-live", "n_intervals"))
def show(_):
    ctx = current()
    studies = ctx.store.studies()
    if studies.empty:
        return html.P(f"no study in {ctx.uri} yet: run `medseglab study --dataset skin`"), None
    progress = {rid: ctx.store.progress(rid) for rid in studies["run_id"]}
    import pandas as pd

    rows = pd.DataFrame(figures.study_rows(studies, progress, ctx.mlflow_ui))
    if not ctx.mlflow_ui:
        rows = rows.drop(columns=["MLflow"])
    running = studies[studies["status"] == "RUNNING"]
    graphs = [dcc.Graph(figure=figures.progress_figure(progress[r["run_id"]], f"{r['dataset']} · {r['name']}: "
                                                       f"{progress[r['run_id']]['finished']} of "
                                                       f"{progress[r['run_id']]['expected']} trainings finished"),
                        config={"displayModeBar": False})
              for r in running.to_dict("records")]
    return table(rows, "studies-grid", markdown=("MLflow", "report")), graphs or html.P("no study is running", className="muted")
