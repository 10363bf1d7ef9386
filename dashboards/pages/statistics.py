"""Statistics: the paper's Tables 1, 2 and S1-S4 as `medseglab stats` logged them (marks, the paper's
values beside, p-values with Holm adjustment, bootstrap CIs, per clinical label), with their notes."""

from __future__ import annotations

import dash
from dash import Input, Output, callback, dcc, html

from dashboards.components import initial, no_study, study_info, synthetic_banner, table
from dashboards.context import current

dash.register_page(__name__, path="/statistics", name="Statistics", title="medseglab: statistics")

TABLES = {
    "table1": "Table 1: median (mean) per metric, this study and the paper",
    "table1_tests": "Table 1 tests: delta_m with 95% bootstrap CI, Mood and Wilcoxon p, Holm-adjusted",
    "table1_statistics": "Table 1 statistics: n, median [95% CI], SD, grand median, count >= 0.9, Shapiro-Wilk",
    "table2": "Table 2: median Dice by training %, the paper's values beside",
    "table2_all_metrics": "Table 2, every metric",
    "table2_tests": "Table 2 tests per training % (Holm-adjusted)",
    "tableS1": "Table S1: the 80:20 splits and which one is chosen",
    "tableS2": "Table S2: test-set clinical labels per split and their overlap",
    "tableS3": "Table S3: Table 1 per clinical label",
    "tableS4": "Table S4: tests per clinical label (Holm over metrics x labels)",
}

layout = html.Div([
    html.H2("Statistics"),
    html.Div(id="stats-banner"),
    html.Div([html.Label("table", htmlFor="stats-table-select"),
              dcc.Dropdown(id="stats-table-select", value="table1", clearable=False,
                           options=[{"label": text, "value": key} for key, text in TABLES.items()],
                           style={"width": "720px"})], className="controls"),
    html.P("Marks: * Mood's median test p < 0.05; † the better median exceeds the other by more than 5%. "
           "Read the Holm-adjusted columns before claiming a difference in a table with many rows.", className="note"),
    html.H3(id="stats-caption"),
    html.Div(id="stats-table"),
    html.Pre(id="stats-notes", className="notes"),
])


def notes_of(markdown: str | None) -> str:
    """The lines under a table in its .md file (its notes and footnotes)."""
    if not markdown:
        return ""
    return "\n".join(line for line in markdown.splitlines() if line.startswith("- ") or line.startswith("_"))


def caption_of(markdown: str | None, fallback: str) -> str:
    for line in (markdown or "").splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return fallback


@callback(Output("stats-banner", "children"), Output("stats-caption", "children"), Output("stats-table", "children"),
          Output("stats-notes", "children"), Input("study-select", "value"), Input("stats-table-select", "value"))
def show(study_id, name):
    if not study_id:
        return None, "", no_study(), ""
    store = current().store
    frame = store.csv(study_id, f"stats/tables/{name}.csv")
    if frame is None:
        return (synthetic_banner(study_info(study_id)), TABLES.get(name, name),
                html.P("no statistics logged on this study yet: run `medseglab stats --dataset <name> --run-id "
                       f"{study_id}`", className="muted"), "")
    markdown = store.text(study_id, f"stats/tables/{name}.md")
    return (synthetic_banner(study_info(study_id)), caption_of(markdown, TABLES.get(name, name)),
            table(frame, "stats-grid", page_size=40), notes_of(markdown))


def warm(study_id: str) -> None:
    """A new tab's first callbacks, with the layout's defaults (run as the server starts: app._warm_pages)."""
    show(study_id, initial(layout, "stats-table-select"))
