"""Grad-CAM gallery: the repeat-averaged maps of the explained split, filtered by init, class and
clinical label, sorted by delta_m Dice (TII - LMI)."""

from __future__ import annotations

import dash
from dash import Input, Output, callback, html

from dashboards.components import (data_url, img_url, initial, labelled_dropdown, no_study, picture, study_info,
                                   synthetic_banner)
from dashboards.context import current
from medseglab.dashboard import figures
from medseglab.names import INITS

dash.register_page(__name__, path="/gradcam", name="Grad-CAM", title="medseglab: Grad-CAM",
                   redirect_from=["/gallery"])

MAX_SHOWN = 48


layout = html.Div([
    html.H2("Grad-CAM gallery"),
    html.Div([
        labelled_dropdown("cam-init", "init", [{"label": i.upper(), "value": i} for i in INITS], "tii"),
        labelled_dropdown("cam-class", "class", [{"label": "class 1 (target)", "value": 1},
                                                 {"label": "class 0 (background)", "value": 0}], 1),
        labelled_dropdown("cam-label", "clinical label", [{"label": "all", "value": "all"}], "all"),
        labelled_dropdown("cam-sort", "sort by ΔDice (repeat means)",
                          [{"label": "largest TII gain first", "value": "desc"},
                           {"label": "largest TII loss first", "value": "asc"}], "desc"),
    ], className="controls"),
    html.P(id="cam-count", className="muted"),
    html.Div(id="cam-gallery", className="gallery"),
])


def _maps(study_id, init):
    store = current().store
    settings = store.json(study_id, "explain/explain.json") or {}
    arrays = store.npz(study_id, f"explain/gradcam_{init}.npz")
    return settings, arrays


@callback(Output("cam-label", "options"), Input("study-select", "value"))
def labels(study_id):
    keys = current().store.study_keys(study_id) if study_id else None
    values = keys["labels"] if keys else []
    return [{"label": "all", "value": "all"}] + [{"label": v, "value": v} for v in values]


@callback(Output("cam-gallery", "children"), Output("cam-count", "children"), Input("study-select", "value"),
          Input("cam-init", "value"), Input("cam-class", "value"), Input("cam-label", "value"),
          Input("cam-sort", "value"))
def show(study_id, init, cls, label, order):
    if not study_id:
        return no_study(), ""
    settings, arrays = _maps(study_id, init)
    if arrays is None or not settings:
        return html.P("no Grad-CAM yet: run `medseglab explain` on this study", className="muted"), ""
    split, ratio = int(settings["split"]), int(settings["ratio"])
    store = current().store
    rows = store.regime(study_id, split, ratio)
    order_frame = figures.gallery_order(rows, arrays["image_ids"], label=label or "all", descending=order != "asc")
    known = store.prepared_ids(study_id)
    cards = []
    for rec in order_frame.head(MAX_SHOWN).to_dict("records"):
        image = rec["image_id"]
        delta = "n/a" if rec["delta_dice"] != rec["delta_dice"] else f"{rec['delta_dice']:+.3f}"
        pics = ([picture(data_url(study_id, image, "input", 128), "input", 128)] if image in known else [])
        pics.append(picture(img_url(study_id, f"explain/gradcam_{init}.npz", image=image, view=f"cam{cls}",
                                    width=128), f"{init.upper()} class {cls}", 128))
        cards.append(html.Div([html.A(image, href=f"/image?image={image}", className="muted"), html.Br(), *pics,
                               html.Div(f"{rec['clinical_label']} · ΔDice {delta}", className="muted")],
                              className="card gallery-card"))
    info = study_info(study_id) or {}
    count = (f"{len(order_frame)} images with maps (split {split}, {ratio}:{100 - ratio})"
             + (f", first {MAX_SHOWN} shown" if len(order_frame) > MAX_SHOWN else "")
             + (" · SYNTHETIC demo data" if info.get("synthetic") else ""))
    return cards or html.P("no image matches these filters", className="muted"), count


def warm(study_id: str) -> None:
    """A new tab's first callbacks, with the layout's defaults (run as the server starts: app._warm_pages)."""
    labels(study_id)
    show(study_id, *(initial(layout, i) for i in ("cam-init", "cam-class", "cam-label", "cam-sort")))
