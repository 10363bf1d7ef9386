"""Review queue: images without ground truth with their four candidate masks; the reviewer accepts one or
sends the models back to training. Decisions go to the queue database (``ReviewQueue``), so they
survive a restart; with a token set, a decision without it is refused."""

from __future__ import annotations

import dash
import pandas as pd
from dash import ALL, Input, Output, State, callback, ctx, dcc, html

from dashboards.components import picture, table
from dashboards.context import current
from medseglab.ensemble.queue import ReviewQueue
from medseglab.errors import QueueError
from medseglab.names import CANDIDATES

dash.register_page(__name__, path="/review", name="Review queue", title="medseglab: review")

layout = html.Div([
    html.H2("Review queue (images without ground truth)"),
    html.P(id="review-where", className="muted"),
    html.Div([html.Div([html.Label("status", htmlFor="review-status"),
                        dcc.Dropdown(id="review-status", value="pending", clearable=False,
                                     options=["pending", "accepted", "retrain", "all"])]),
              html.Div([html.Label("item", htmlFor="review-item"), dcc.Dropdown(id="review-item",
                                                                               style={"width": "360px"})]),
              html.Div([html.Label("reviewer", htmlFor="review-reviewer"),
                        dcc.Input(id="review-reviewer", type="text", placeholder="your name")])],
             className="controls"),
    html.Div(id="review-candidates"),
    html.Div([*[html.Button(f"accept {c}", id={"type": "review-accept", "output": c}, n_clicks=0,
                            style={"marginRight": "8px"}) for c in CANDIDATES],
              html.Button("send back to training", id="review-retrain", n_clicks=0)], style={"margin": "8px 0"}),
    html.P(id="review-message", className="note"),
    html.H3("queue"),
    html.Div(id="review-table"),
])


def _items(status):
    if not current().queue_path.is_file():  # reading must not create the queue database
        return pd.DataFrame()
    with ReviewQueue(current().queue_path) as queue:
        return queue.items(status=None if status == "all" else status)


@callback(Output("review-item", "options"), Output("review-table", "children"), Output("review-where", "children"),
          Input("review-status", "value"), Input("review-message", "children"))
def items(status, _):
    frame = _items(status)
    options = [{"label": f"{r['dataset']} / {r['image_id']} ({r['status']})", "value": f"{r['dataset']}/{r['image_id']}"}
               for r in frame.to_dict("records")]
    estimated = "est_dice" in frame and frame["est_dice"].notna().any()
    scores = ["est_dice", *[f"{c}_est_dice" for c in CANDIDATES]] if estimated else [f"{c}_fp_proxy" for c in CANDIDATES]
    cols = [c for c in ("dataset", "image_id", "status", "decision", "suggested", "reviewer", "decided_at", *scores)
            if c in frame]  # the queue lists the worst estimated Dice first
    where = (f"queue: {current().queue_path}" if current().queue_path.is_file() else
             f"no review queue at {current().queue_path} yet: `medseglab predict` creates it (or pass --queue PATH)")
    return options, table(frame[cols] if len(frame) else None, "review-grid"), where


@callback(Output("review-candidates", "children"), Input("review-item", "value"), Input("review-message", "children"))
def candidates(item, _):
    if not item:
        return html.P("choose an item", className="muted")
    dataset, image_id = item.split("/", 1)
    try:
        with ReviewQueue(current().queue_path) as queue:
            row = queue.get(image_id, dataset)
    except QueueError as exc:
        return html.P(str(exc), className="muted")
    pics = [picture(f"/review-mask/{dataset}/{image_id}/source?w=192", "image")]
    estimated = row.get("est_dice") is not None
    pics += [picture(f"/review-mask/{dataset}/{image_id}/{c}?w=192",
                     f"{c}: estimated Dice {row[f'{c}_est_dice']:.3f}" if estimated else
                     f"{c}: fp {row[f'{c}_fp_proxy']:.3f} · fn {row[f'{c}_fn_proxy']:.3f}",
                     framed=(row["decision"] or row["suggested"]) == c) for c in CANDIDATES]
    why = ("highest estimated Dice, no ground truth" if estimated else
           f"fewest {row['proxy']} against the models' consensus; no Dice estimator")
    state = (f"status {row['status']}" + (f": {row['decision']} by {row['reviewer']} at {row['decided_at']}"
                                          if row["status"] != "pending" else f"; suggested: {row['suggested']} ({why})"))
    return html.Div([html.Div(pics, className="gallery"), html.P(state, id="review-state")])


@callback(Output("review-message", "children"), Input({"type": "review-accept", "output": ALL}, "n_clicks"),
          Input("review-retrain", "n_clicks"), State("review-item", "value"), State("review-reviewer", "value"),
          prevent_initial_call=True)
def decide(_accepts, _retrain, item, reviewer):
    if not current().write_allowed():
        return "refused: this dashboard needs its token for decisions (log in at /login)"
    trigger = ctx.triggered_id
    if not item or trigger is None or not any(t.get("value") for t in ctx.triggered):
        return dash.no_update
    dataset, image_id = item.split("/", 1)
    output = trigger["output"] if isinstance(trigger, dict) else None
    try:
        with ReviewQueue(current().queue_path) as queue:
            row = queue.decide(image_id, output=output, retrain=output is None, dataset=dataset,
                               reviewer=(reviewer or "").strip() or None, note="dashboard")
    except QueueError as exc:
        return f"not saved: {exc}"
    return f"saved: {dataset}/{image_id} {row['status']} ({row['decision']}) by {row['reviewer']}"
