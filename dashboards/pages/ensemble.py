"""Ensemble: how often Algorithm 1 chose each output, the Dice gains over LMI and TII with p-values, and
the Figure 5 rows (the choice framed)."""

from __future__ import annotations

import dash
from dash import Input, Output, callback, dcc, html

from dashboards.components import img_url, no_study, study_info, synthetic_banner, table
from dashboards.context import current
from medseglab.dashboard import figures

dash.register_page(__name__, path="/ensemble", name="Ensemble", title="medseglab: ensemble")

ORACLE = ("With ground truth, Algorithm 1 is an oracle: it looks at each image's ground truth to choose among "
          "LMI, TII, their union and their intersection, so its gains are an upper bound of what combining the "
          "models can give, not a result a deployed model would reach. Where Dice decides (some output below "
          "the 0.9 threshold) the chosen Dice is the best of the four, so its gain over LMI or TII cannot be "
          "negative; where every Dice is >= 0.9 the highest AUROC decides, which may cost a little Dice.")

layout = html.Div([
    html.H2("Algorithm 1: the synergistic ensemble"),
    html.P(ORACLE, className="note", id="ensemble-oracle"),
    html.Div(id="ensemble-body"),
])


@callback(Output("ensemble-body", "children"), Input("study-select", "value"))
def show(study_id):
    if not study_id:
        return no_study()
    store = current().store
    info = study_info(study_id) or {}
    counts = store.csv(study_id, "ensemble/counts.csv")
    if counts is None:
        return html.P("no ensemble yet: run `medseglab ensemble` on this study", className="muted")
    summary = store.csv(study_id, "ensemble/summary.csv")
    choices = store.parquet(study_id, "ensemble/choices.parquet")
    has_figure5 = "explain/ensemble.png" in set(store.list_artifacts(study_id, "explain"))
    columns = [c for c in ("image_id", "split", "ratio", "branch", "criterion", "chosen", "chosen_dice",
                           "dice_lmi", "dice_tii", "dice_union", "dice_intersection") if choices is not None and c in choices]
    return [
        synthetic_banner(info),
        dcc.Graph(id="ensemble-counts", figure=figures.choice_count_figure(counts, synthetic=bool(info.get("synthetic")))),
        html.H3("Dice of the chosen output vs LMI and TII alone (paired Wilcoxon signed-rank p)"),
        table(summary, "ensemble-summary"),
        html.H3("Figure 5: input, ground truth, LMI and TII overlays, union and intersection (choice framed)"),
        html.Img(src=img_url(study_id, "explain/ensemble.png", width=1300), style={"maxWidth": "100%"},
                 alt="Figure 5 rows") if has_figure5 else html.P(
            "Figure 5 rows appear after `medseglab explain`.", className="muted"),
        html.H3("choice per image"),
        table(None if choices is None else choices[columns], "ensemble-choices"),
    ]
