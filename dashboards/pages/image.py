"""Image drill-down: one test image across every run and repeat (metrics), its input and ground truth,
each model's mask and TP/TN/FP/FN overlay, Grad-CAM of both classes, and what Algorithm 1 chose."""

from __future__ import annotations

import dash
import numpy as np
from dash import Input, Output, callback, dcc, html

from dashboards.components import data_url, default_regime, img_url, no_study, picture, study_info, synthetic_banner, table
from dashboards.context import current
from medseglab.dashboard import figures
from medseglab.names import INITS

dash.register_page(__name__, path="/image", name="Image", title="medseglab: image",
                   redirect_from=["/drilldown"])

LEGEND = "Overlay colours: TP green, TN black, FP red, FN yellow."


def layout(image: str | None = None, study: str | None = None, **_):
    return html.Div([
        html.H2("Image drill-down"),
        html.Div([html.Label("image", htmlFor="image-select"),
                  # the linked image is an option from the start: a value outside the options is dropped
                  dcc.Dropdown(id="image-select", value=image, options=[image] if image else [],
                               placeholder="choose a test image", style={"width": "360px"})], className="controls"),
        html.Div(id="image-body"),
    ])


@callback(Output("image-select", "options"), Input("study-select", "value"))
def images(study_id):
    keys = current().store.study_keys(study_id) if study_id else None
    return keys["image_ids"] if keys else []


def _has(ids, image_id: str) -> bool:
    return ids is not None and image_id in set(np.asarray(ids).astype(str))


@callback(Output("image-body", "children"), Input("study-select", "value"), Input("image-select", "value"))
def show(study_id, image_id):
    if not study_id:
        return no_study()
    if not image_id:
        return html.P("Choose an image, or click a point on the Distributions page.", className="muted")
    store = current().store
    keys = store.study_keys(study_id)
    if not keys or image_id not in keys["image_set"]:
        return html.P(f"{image_id} is not a test image of this study.", className="muted")
    per_image = store.per_image(study_id)
    info = study_info(study_id) or {}
    metrics = figures.image_metrics(per_image, image_id)
    split, ratio = default_regime(study_id)
    truth = image_id in store.prepared_ids(study_id)
    top = [picture(data_url(study_id, image_id, "input"), "input"),
           picture(data_url(study_id, image_id, "gt"), "ground truth")] if truth else [
        html.P("input and ground truth: the study's prepared dataset is not on this machine "
               "(rerun `medseglab study` with the study's --source to re-import it)", className="muted")]
    models = []
    here = metrics[(metrics["split"].astype(int) == split) & (metrics["ratio"].astype(int) == ratio)]
    for rec in here.to_dict("records"):
        name = f"{rec['init'].upper()} rep {rec['repeat']}"
        pics = [picture(img_url(rec["run_id"], "evaluation/probabilities.npz", image=image_id, view="mask"),
                        f"{name} mask")]
        if truth:
            pics.append(picture(img_url(rec["run_id"], "evaluation/probabilities.npz", image=image_id, view="overlay"),
                                f"{name} overlay (Dice {rec.get('dice', float('nan')):.3f})"))
        models.append(html.Div(pics, className="card"))
    cams = []
    for init in INITS:
        arrays = store.npz(study_id, f"explain/gradcam_{init}.npz")
        if arrays is not None and _has(arrays.get("image_ids"), image_id):
            cams += [picture(img_url(study_id, f"explain/gradcam_{init}.npz", image=image_id, view=f"cam{c}"),
                             f"{init.upper()} Grad-CAM class {c}") for c in (0, 1)]
    choices = store.parquet(study_id, "ensemble/choices.parquet")
    choice = None if choices is None else choices[choices["image_id"].astype(str) == image_id]
    return html.Div([
        synthetic_banner(info),
        html.H3(f"{image_id}: metrics in every training that tested it"),
        table(metrics, "image-metrics", page_size=20),
        html.H3(f"pictures, split {split} · {ratio}:{100 - ratio}"),
        html.Div(top, className="gallery"),
        html.P(LEGEND, className="muted"),
        html.Div(models, className="gallery"),
        html.H3("Grad-CAM (repeat average, over the grey input; jet colour map 0 → 1)"),
        html.Div(cams, className="gallery") if cams else html.P(
            "no Grad-CAM of this image: `medseglab explain` has not run, or ran on another split", className="muted"),
        html.H3("Algorithm 1"),
        table(choice, "image-choice") if choice is not None and len(choice) else html.P(
            "no Algorithm 1 choice for this image (run `medseglab ensemble`)", className="muted"),
    ])
