"""A two-page Dash app shaped like the dashboard (page routing callback, a table and a graph fed by
callbacks through medseglab.tracking, an image route), to test benchmarks/dashboard_latency.py's
store, clients and browser timing without the real app: ``python stub_dashboard.py --port N``."""

from __future__ import annotations

import argparse
import io

import dash
import numpy as np
from dash import Input, Output, dash_table, dcc, html
from PIL import Image

from medseglab import tracking


def build_app() -> dash.Dash:
    app = dash.Dash(__name__, use_pages=True, pages_folder="", suppress_callback_exceptions=True)
    dash.register_page("studies", path="/studies", layout=html.Div([
        dcc.Dropdown(id="dataset", options=["skin"], value="skin"),
        dash_table.DataTable(id="studies-table", page_size=20)]))
    dash.register_page("gallery", path="/gallery", layout=html.Div([
        dcc.Dropdown(id="init", options=["lmi", "tii"], value="tii"),
        dcc.Graph(id="dice-graph"), html.Div(id="gallery-images")]))
    app.layout = html.Div([html.Nav([dcc.Link("Studies", href="/studies"), dcc.Link("Gallery", href="/gallery")]),
                           dash.page_container])

    @app.callback(Output("studies-table", "data"), Input("dataset", "value"))
    def studies(dataset):
        return [{"run_id": r.info.run_id, "status": r.info.status} for r in tracking.list_studies(dataset)]

    @app.callback(Output("dice-graph", "figure"), Output("gallery-images", "children"), Input("init", "value"))
    def gallery(init):
        study = tracking.list_studies("skin")[0].info.run_id
        table = tracking.study_table(study)
        part = table[table["init"] == init]
        figure = {"data": [{"type": "histogram", "x": part["dice"].dropna().sample(2000, random_state=0,
                                                                                  replace=True).tolist()}]}
        ids = part["image_id"].unique()[:4]
        return figure, [html.Img(src=f"/image/{i}.png") for i in ids]

    @app.server.route("/image/<image_id>.png")
    def image(image_id):
        buf = io.BytesIO()
        Image.fromarray(np.full((64, 64, 3), len(image_id) * 10 % 255, np.uint8)).save(buf, format="PNG")
        return buf.getvalue(), 200, {"Content-Type": "image/png"}

    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    build_app().run(host="127.0.0.1", port=args.port, debug=False)
