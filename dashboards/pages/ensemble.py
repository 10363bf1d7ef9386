"""Ensemble: how often Algorithm 1 chose each output, the Dice gains over LMI and TII with p-values, and
the Figure 5 rows (the choice framed)."""

from __future__ import annotations

import dash
from dash import Input, Output, callback, dcc, html

from dashboards.components import chosen, img_url, no_study, page_of, paged_table, study_info, synthetic_banner, table
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
    html.Div(id="ensemble-banner"),
    # in the layout, not in show()'s output: a new tab loads plotly.js while show() runs, not after it
    dcc.Graph(id="ensemble-counts", style={"display": "none"}),
    html.Div(id="ensemble-body"),
    # The choices table shows one split at a time, the split Table S1 chose first (a 750-run study has
    # 5 x 2,758 rows: 2.7 MB of JSON per page load when all were sent), one page at a time, paged and
    # sorted by the server (a whole split was 556 KB of JSON for the browser to parse and sort).
    html.Div([
        html.H3("choice per image"),
        html.Div([html.Label("split", htmlFor="ensemble-split", className="muted"),
                  dcc.Dropdown(id="ensemble-split", clearable=False, style={"width": "320px"})]),
        paged_table("ensemble-choices"),
    ], id="ensemble-choices-section", style={"display": "none"}),
])

FIGURE5_WIDTH = 1300  # px of the Figure 5 thumbnail
CHOICE_COLUMNS = ("image_id", "split", "ratio", "branch", "criterion", "chosen", "chosen_dice", "dice_lmi", "dice_tii",
                  "dice_union", "dice_intersection")


ESTIMATED = ("Without ground truth (what a deployment gets): each candidate's Dice is estimated from the models' "
             "agreement (repeats, TII vs LMI, the all-model consensus), mask area and probability margins, by an "
             "estimator fitted on other splits' outputs for this split's train images, never its test images; the "
             "candidate with the highest estimate is chosen (docs/ENSEMBLE.md).")


def _without_ground_truth(study_id: str) -> list:
    import pandas as pd

    from medseglab.ensemble import estimation

    store = current().store
    report = store.json(study_id, "ensemble/estimator_evaluation.json")
    head = html.H3("Algorithm 1 without ground truth: estimated choice vs oracle choice vs the better single model")
    if not report:
        return [head, html.P("no estimate for this study: `medseglab ensemble` fits the Dice estimator of a split "
                             "on the other splits' images outside its test set, so it needs at least two splits "
                             "and 10 such images with a defined Dice (its notes say which was missing)",
                             className="muted")]
    return [head, html.P(ESTIMATED, className="note", id="ensemble-estimated-note"),
            table(pd.DataFrame(estimation.report_rows(report)), "ensemble-estimated"),
            html.Img(src=img_url(study_id, "ensemble/estimated_vs_oracle.png", width=1100), style={"maxWidth": "100%"},
                     alt="estimated vs true Dice, and the Dice of the estimated, oracle and best single choices")]


def _splits(choices) -> list[int]:
    return sorted({int(s) for s in choices["split"].unique()}) if choices is not None and "split" in choices else []


@callback(Output("ensemble-banner", "children"), Output("ensemble-counts", "figure"), Output("ensemble-counts", "style"),
          Output("ensemble-body", "children"), Input("study-select", "value"))
def show(study_id):
    hidden = {"display": "none"}
    if not study_id:
        return None, {}, hidden, no_study()
    store = current().store
    info = study_info(study_id) or {}
    counts = store.csv(study_id, "ensemble/counts.csv")
    if counts is None:
        return None, {}, hidden, html.P("no ensemble yet: run `medseglab ensemble` on this study", className="muted")
    summary = store.csv(study_id, "ensemble/summary.csv")
    has_figure5 = "explain/ensemble.png" in set(store.list_artifacts(study_id, "explain"))
    figure = figures.choice_count_figure(counts, synthetic=bool(info.get("synthetic")))
    body = [
        html.H3("Dice of the oracle's chosen output vs LMI and TII alone (oracle gains; paired Wilcoxon signed-rank p)"),
        table(summary, "ensemble-summary"),
        *_without_ground_truth(study_id),
        html.H3("Figure 5: input, ground truth, LMI and TII overlays, union and intersection (choice framed)"),
        html.Img(src=img_url(study_id, "explain/ensemble.png", width=FIGURE5_WIDTH), style={"maxWidth": "100%"},
                 alt="Figure 5 rows") if has_figure5 else html.P(
            "Figure 5 rows appear after `medseglab explain`.", className="muted"),
    ]
    return synthetic_banner(info), figure, {}, body


def _triggered_by() -> str | None:
    """The id of the input that fired the running callback; None on a first call or outside one (warm)."""
    try:
        return dash.ctx.triggered_id
    except dash.exceptions.MissingCallbackContextException:
        return None


# The split selector is this callback's input and output (it fills it, as show() used to): a new tab's table
# request goes out with show()'s, not after show()'s answer has been drawn.
@callback(Output("ensemble-split", "options"), Output("ensemble-split", "value"),
          Output("ensemble-choices", "data"), Output("ensemble-choices", "columns"),
          Output("ensemble-choices", "page_count"), Output("ensemble-choices", "page_current"),
          Output("ensemble-choices-section", "style"),
          Input("study-select", "value"), Input("ensemble-split", "value"), Input("ensemble-choices", "page_current"),
          Input("ensemble-choices", "page_size"), Input("ensemble-choices", "sort_by"))
def show_choices(study_id, split, page, page_size, sort_by):
    """The split selector (the split Table S1 chose first) and one page of its rows, sorted on the server;
    a new study or split starts at its first page, and at the study's chosen split."""
    choices = current().store.parquet(study_id, "ensemble/choices.parquet") if study_id else None
    if choices is None:
        return [], None, [], [], 0, 0, {"display": "none"}
    splits, best = _splits(choices), chosen(study_id)[0]
    trigger = _triggered_by()
    if trigger in ("study-select", "ensemble-split") or split not in splits:
        page = 0
    if trigger == "study-select" or split not in splits:  # a new tab, a new study, a split it lacks
        split = best if best in splits else (splits[0] if splits else None)
    options = [{"label": f"split {s}" + (" (chosen)" if s == best else ""), "value": s} for s in splits]
    if split is not None:  # None: no split column (or no rows)
        choices = choices[choices["split"].to_numpy().astype(int) == int(split)]
    answer = page_of(choices[[c for c in CHOICE_COLUMNS if c in choices]], page, page_size or 25, sort_by)
    return options, split, answer["data"], answer["columns"], answer["page_count"], answer["page_current"], {}


def warm(study_id: str) -> None:
    """A new tab's first callbacks, with the layout's defaults (run as the server starts: app._warm_pages)."""
    show(study_id)
    show_choices(study_id, None, 0, 25, [])
    if "explain/ensemble.png" in set(current().store.list_artifacts(study_id, "explain")):
        current().pictures.artifact(study_id, "explain/ensemble.png", image=None, view=None, width=FIGURE5_WIDTH)
