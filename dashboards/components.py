"""Small layout helpers the pages share: tables, picture tags, the selected study."""

from __future__ import annotations

from urllib.parse import quote, urlencode

import pandas as pd
from dash import dash_table, dcc, html

from dashboards.context import current


TABLE_STYLE = {
    "style_table": {"overflowX": "auto"},
    "style_cell": {"fontFamily": "sans-serif", "fontSize": 13, "textAlign": "left", "padding": "3px 8px",
                   "maxWidth": 420, "whiteSpace": "normal"},
    "style_header": {"fontWeight": "bold", "backgroundColor": "#f0f0f0"},
}


def records(frame: pd.DataFrame) -> list[dict]:
    """``frame``'s rows as DataTable data: numbers rounded to 4 places, missing values blank."""
    shown = frame.copy()
    for col in shown.columns:
        if pd.api.types.is_float_dtype(shown[col]):
            shown[col] = shown[col].round(4)
    shown.columns = [str(c) for c in shown.columns]
    return shown.astype(object).where(shown.notna(), "").to_dict("records")


def table(frame: pd.DataFrame | None, table_id: str | None = None, *, page_size: int = 25, markdown=()) -> html.Div:
    """A DataTable of ``frame`` (numbers rounded to 4 places), or a line saying it is missing."""
    if frame is None or frame.empty:
        return html.P("nothing to show", className="muted")
    columns = [{"name": str(c), "id": str(c), **({"presentation": "markdown"} if c in markdown else {})}
               for c in frame.columns]
    kwargs = {"id": table_id} if table_id else {}
    return html.Div(dash_table.DataTable(
        data=records(frame), columns=columns, page_size=page_size, sort_action="native",
        markdown_options={"link_target": "_blank"}, **TABLE_STYLE, **kwargs))


def paged_table(table_id: str, *, page_size: int = 25) -> dash_table.DataTable:
    """An empty DataTable paged and sorted by the server: a callback answers each page with
    :func:`page_of` (the browser gets one page of rows, not the whole table)."""
    return dash_table.DataTable(id=table_id, data=[], columns=[], page_action="custom", page_current=0,
                                page_size=page_size, page_count=0, sort_action="custom", sort_mode="single",
                                sort_by=[], **TABLE_STYLE)


def page_of(frame: pd.DataFrame, page: int | None, page_size: int, sort_by: list[dict] | None) -> dict:
    """One page of ``frame`` for :func:`paged_table`, sorted by DataTable's ``sort_by`` (a column id and
    "asc"/"desc"; missing values last): ``data``, ``columns``, ``page_count`` and ``page_current`` (the
    last page when ``page`` is past it)."""
    if sort_by:
        column = sort_by[0]["column_id"]
        if column in frame:
            frame = frame.sort_values(column, ascending=sort_by[0].get("direction") != "desc", kind="stable",
                                      na_position="last")
    count = max(1, -(-len(frame) // page_size))
    page = min(max(int(page or 0), 0), count - 1)
    rows = frame.iloc[page * page_size:(page + 1) * page_size]
    return {"data": records(rows), "columns": [{"name": str(c), "id": str(c)} for c in frame.columns],
            "page_count": count, "page_current": page}


def img_url(run_id: str, path: str, *, width: int = 192, image: str | None = None, view: str | None = None) -> str:
    query = {"w": width, **({"image": image} if image else {}), **({"view": view} if view else {})}
    return f"/img/{run_id}/{quote(path)}?{urlencode(query)}"


def data_url(study_id: str, image_id: str, view: str, width: int = 192) -> str:
    return f"/data/{study_id}/{quote(image_id)}?{urlencode({'view': view, 'w': width})}"


def labelled_dropdown(id_: str, label: str, options: list, value, **props) -> html.Div:
    """A dropdown that always has a value, under its label (``props``: more ``dcc.Dropdown`` settings)."""
    return html.Div([html.Label(label, htmlFor=id_),
                     dcc.Dropdown(id=id_, options=options, value=value, clearable=False, **props)])


def picture(src: str, caption: str, width: int = 160, framed: bool = False) -> html.Figure:
    style = {"margin": "4px", "display": "inline-block", "textAlign": "center", "fontSize": 12}
    img_style = {"width": f"{width}px", "imageRendering": "pixelated",
                 "border": "4px solid #00a0ff" if framed else "4px solid transparent"}
    return html.Figure([html.Img(src=src, style=img_style, alt=caption), html.Figcaption(caption)], style=style)


def study_info(study_id: str | None) -> dict | None:
    """The Studies row of ``study_id`` (dataset, synthetic, ...), or None."""
    if not study_id:
        return None
    studies = current().store.studies()
    rows = studies[studies["run_id"] == study_id]
    return None if rows.empty else rows.iloc[0].to_dict()


def no_study() -> html.P:
    return html.P("Choose a study in the bar above (the Studies page lists them).", className="muted")


def synthetic_banner(info: dict | None):
    if info and info.get("synthetic"):
        return html.Div("SYNTHETIC demo data: these numbers are not comparable to the paper's.", className="banner")
    return None


def chosen(study_id: str) -> tuple[int | None, int | None]:
    """(split, ratio) chosen by Table S1 (``stats/selection.json``), else (None, None)."""
    record = current().store.chosen_split(study_id) or {}
    split, ratio = record.get("split"), record.get("ratio")
    return (None if split is None else int(split)), (None if ratio is None else int(ratio))


def default_regime(study_id: str) -> tuple[int | None, int | None]:
    """The chosen split and ratio, else the study's main ratio (80, else its largest) and lowest split."""
    split, ratio = chosen(study_id)
    keys = current().store.study_keys(study_id)
    if not keys or not keys["regimes"]:
        return split, ratio
    if ratio is None:
        from medseglab.stats.selection import main_ratio

        ratio = main_ratio(keys["ratios"])
    if split is None:
        split = min(s for s, r in keys["regimes"] if r == ratio)
    return split, ratio


def initial(layout, component_id: str, prop: str = "value"):
    """``prop`` of the component ``component_id`` as ``layout`` creates it: what a new tab sends the page's
    first callbacks (each page's ``warm`` computes them with these values as the server starts)."""
    stack = [layout]
    while stack:
        node = stack.pop()
        if isinstance(node, (list, tuple)):
            stack.extend(node)
        elif node is not None and hasattr(node, "to_plotly_json"):
            if getattr(node, "id", None) == component_id:
                return getattr(node, prop, None)
            stack.append(getattr(node, "children", None))
    raise KeyError(f"no component {component_id!r} in the layout")
