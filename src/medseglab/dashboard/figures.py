"""The dashboard's figures and pictures: pure functions of tables and arrays (tests call them directly).

Colours: LMI and TII keep one colour each on every page; overlays use the study's exact colours
(TP green, TN black, FP red, FN yellow: ``explain.figures.overlay``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from medseglab.names import CANDIDATES, INITS
from medseglab.stats import paper

INIT_COLOURS = {"lmi": "#1f77b4", "tii": "#d62728"}
INIT_NAMES = {"lmi": "LMI (random init)", "tii": "TII (natural-image init)"}
METRIC_NAMES = {"auroc_mask": "AUROC (mask)", "dice": "Dice", "sensitivity": "Sensitivity",
                "specificity": "Specificity", "auroc_prob": "AUROC (probability)"}
METRICS = tuple(METRIC_NAMES)
COLOUR_NAMES = {"clinical_label": "clinical label", "init": "init", "class": "class"}
SYNTHETIC_NOTE = "SYNTHETIC demo data (not comparable to the paper)"


def _title(text: str, synthetic: bool = False) -> dict:
    return {"text": text + (f"<br><sup>{SYNTHETIC_NOTE}</sup>" if synthetic else "")}


def empty_figure(message: str) -> go.Figure:
    """A blank figure that says why it is blank (no axes to misread)."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font={"size": 14})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=260, margin={"l": 20, "r": 20, "t": 20, "b": 20}, plot_bgcolor="white")
    return fig


def format_duration(seconds) -> str:
    if seconds is None or not np.isfinite(seconds):
        return ""
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min {rest % 60:02d} s"


def mlflow_run_url(base: str | None, experiment_id: str, run_id: str) -> str | None:
    """The run's page in the MLflow UI at ``base`` (e.g. http://127.0.0.1:5000)."""
    if not base:
        return None
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def study_rows(studies: pd.DataFrame, progress: dict[str, dict], mlflow_base: str | None) -> list[dict]:
    """Rows of the Studies table: one per study, grouped by dataset (synthetic data named as such)."""
    rows = []
    for rec in studies.sort_values(["dataset", "start_time"], ascending=[True, False]).to_dict("records"):
        prog = progress.get(rec["run_id"], {})
        url = mlflow_run_url(mlflow_base, rec["experiment_id"], rec["run_id"])
        rows.append({
            "dataset": rec["dataset"], "study": rec["name"], "run_id": rec["run_id"],
            "data source": rec["source"], "profile": rec["profile"], "status": rec["status"],
            "started": rec["started"], "duration": format_duration(rec["duration_s"]),
            "finished": prog.get("finished", ""), "running": prog.get("running", ""),
            "failed": prog.get("failed", 0) + prog.get("killed", 0) if prog else "",
            "of": prog.get("expected", rec.get("expected") or ""),
            "MLflow": f"[open]({url})" if url else "",
            "report": f"[open](/report/{rec['run_id']})" if rec["status"] == "FINISHED" else "",
        })
    return rows


def progress_figure(progress: dict, title: str) -> go.Figure:
    """One horizontal bar: trainings finished / running / failed out of the grid."""
    expected = max(int(progress.get("expected") or 0), 1)
    fig = go.Figure()
    parts = (("finished", "#2ca02c"), ("running", "#ff7f0e"), ("failed", "#d62728"), ("killed", "#7f7f7f"))
    for state, colour in parts:
        fig.add_bar(y=["trainings"], x=[progress.get(state, 0)], name=state, orientation="h", marker_color=colour)
    fig.update_layout(barmode="stack", height=170, title=title, xaxis={"title": "trainings", "range": [0, expected]},
                      margin={"l": 80, "r": 20, "t": 50, "b": 40}, legend={"orientation": "h"})
    return fig


def regime(table: pd.DataFrame, split: int | None, ratio: int | None) -> pd.DataFrame:
    """The rows of one split and ratio (all when None)."""
    rows = table
    if ratio is not None:
        rows = rows[rows["ratio"].astype(int) == int(ratio)]
    if split is not None:
        rows = rows[rows["split"].astype(int) == int(split)]
    return rows


def repeat_means(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per image and init, the metric's mean over the repeats (undefined repeats skipped)."""
    keys = ["image_id", "init", "clinical_label"] if "clinical_label" in table else ["image_id", "init"]
    means = table.groupby(keys, as_index=False, observed=True)[metric].mean()
    return means.astype({k: str for k in keys})  # plain strings: categoricals would keep unused values


def violin_figure(table: pd.DataFrame, metric: str, *, synthetic: bool = False, subtitle: str = "") -> go.Figure:
    """Per-image values of one metric, one violin per init (points clickable: customdata = image id)."""
    if table is None or table.empty or metric not in table:
        return empty_figure("no per-image values for this selection")
    values = repeat_means(table, metric)
    fig = go.Figure()
    for init in INITS:
        rows = values[values["init"] == init].dropna(subset=[metric])
        if rows.empty:
            continue
        fig.add_violin(y=rows[metric], name=INIT_NAMES[init], line_color=INIT_COLOURS[init], box_visible=True,
                       meanline_visible=True, points="all", pointpos=0, jitter=0.4,
                       customdata=rows["image_id"], hovertemplate="%{customdata}<br>%{y:.4f}<extra></extra>")
    name = METRIC_NAMES.get(metric, metric)
    fig.update_layout(title=_title(f"{name} per test image{subtitle} (mean over repeats; click a point)", synthetic),
                      yaxis={"title": name, "range": [-0.02, 1.02]}, xaxis={"title": "initialisation"},
                      height=480, showlegend=False)
    return fig


def paired_deltas(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """delta_m per image = metric(TII) - metric(LMI) of the repeat means, paired by image id."""
    wide = repeat_means(table, metric).pivot_table(index="image_id", columns="init", values=metric)
    if not set(INITS) <= set(wide.columns):
        return pd.DataFrame(columns=["image_id", "delta"])
    delta = (wide["tii"] - wide["lmi"]).dropna()
    return delta.rename("delta").reset_index()


def delta_histogram(table: pd.DataFrame, metric: str, *, synthetic: bool = False) -> go.Figure:
    """Histogram of delta_m with the share of images where TII is better, equal, worse."""
    deltas = paired_deltas(table, metric) if table is not None and metric in table else pd.DataFrame()
    if deltas.empty:
        return empty_figure("no paired LMI/TII values for this selection")
    d = deltas["delta"]
    name = METRIC_NAMES.get(metric, metric)
    share = (f"TII better on {100 * (d > 0).mean():.0f}%, equal {100 * (d == 0).mean():.0f}%, "
             f"worse {100 * (d < 0).mean():.0f}% of {len(d)} images")
    # no per-image customdata: a bar is many images and nothing reads it (2,758 ids were 30 KB of each answer)
    fig = go.Figure(go.Histogram(x=d, nbinsx=40, marker_color="#7f7f7f",
                                 hovertemplate="Δ %{x}<br>%{y} images<extra></extra>"))
    fig.add_vline(x=0, line_dash="dash", line_color="black")
    fig.update_layout(title=_title(f"Δ{name} = TII − LMI per image: {share}", synthetic),
                      xaxis={"title": f"Δ{name} (TII − LMI)"}, yaxis={"title": "images"}, height=380, bargap=0.05)
    return fig


def depletion_points(describe: pd.DataFrame, chosen_split: int | None, metric: str) -> pd.DataFrame:
    """Median with its bootstrap CI per training % and init (all images), from
    ``stats/tables/statistics_describe.csv``; each ratio from the chosen split when it was trained
    there, else its lowest split (as Table 2 does)."""
    rows = describe[(describe["metric"] == metric) & (describe["clinical_label"].astype(str) == "all")]
    out = []
    for ratio, group in rows.groupby("ratio"):
        splits = sorted(group["split"].astype(int).unique())
        split = chosen_split if chosen_split in splits else splits[0]
        for rec in group[group["split"].astype(int) == split].to_dict("records"):
            out.append({"train_pct": int(ratio), "init": rec["init"], "split": split, "median": rec["median"],
                        "ci_low": rec.get("median_ci_low"), "ci_high": rec.get("median_ci_high"), "n": rec.get("n")})
    return pd.DataFrame(out, columns=["train_pct", "init", "split", "median", "ci_low", "ci_high", "n"])


def depletion_figure(points: pd.DataFrame, metric: str, dataset: str, *, synthetic: bool = False) -> go.Figure:
    """Median (95% bootstrap CI) vs % of data used for training, LMI vs TII; the paper's Table 2
    median Dice as open markers on dashed lines (Dice only: the paper gives no other metric)."""
    if points.empty:
        return empty_figure("no statistics yet: run `medseglab stats` on this study")
    fig = go.Figure()
    for init in INITS:
        rows = points[points["init"] == init].sort_values("train_pct")
        if rows.empty:
            continue
        low = rows["median"] - rows["ci_low"]
        high = rows["ci_high"] - rows["median"]
        fig.add_scatter(x=rows["train_pct"], y=rows["median"], mode="lines+markers", name=f"{INIT_NAMES[init]}",
                        line_color=INIT_COLOURS[init],
                        error_y={"type": "data", "array": high, "arrayminus": low, "visible": True},
                        hovertemplate="%{x}% train<br>median %{y:.4f}<extra>" + init.upper() + "</extra>")
    reference = paper.table2_dice(dataset) if metric == "dice" else None
    if reference:
        pct = sorted(reference)
        for init in INITS:
            fig.add_scatter(x=pct, y=[reference[p][init] for p in pct], mode="lines+markers",
                            name=f"paper {init.upper()} (Table 2)", line={"color": INIT_COLOURS[init], "dash": "dash"},
                            marker={"symbol": "circle-open", "size": 9})
    name = METRIC_NAMES.get(metric, metric)
    ticks = sorted(set(points["train_pct"]) | set(reference or ()))
    fig.update_layout(title=_title(f"{dataset}: median {name} (95% bootstrap CI) by training %", synthetic),
                      xaxis={"title": "% of the data used for training", "tickvals": ticks},
                      yaxis={"title": f"median {name}"}, height=460)
    return fig


def learning_curve_figure(summary: pd.DataFrame | None, bands: pd.DataFrame | None, points: pd.DataFrame | None,
                          metric: str, dataset: str, *, synthetic: bool = False) -> go.Figure:
    """The fitted learning curves of ``stats/tables/learning_curves.csv`` (median score = a - b (n/n_ref)^-c
    against training images, log x), their bootstrap bands (``learning_curve_bands.csv``) and the medians
    they were fitted to (``learning_curve_points.csv``), per init; the target on Dice."""
    from medseglab.stats.learning_curve import Fit

    if summary is None or summary.empty:
        return empty_figure("no learning curves yet: run `medseglab stats` on this study")
    rows = summary[summary["metric"] == metric]
    fitted = rows[rows["model"] != "none"]
    if fitted.empty:
        note = rows["note"].iloc[0] if not rows.empty else f"no learning curve of {metric}"
        return empty_figure(f"no learning curve: {note}")
    fig = go.Figure()
    n_max = float(fitted["n_full"].max()) * 10
    for init in INITS:
        rec = fitted[fitted["init"] == init]
        if rec.empty:
            continue
        r = rec.iloc[0]
        colour, name = INIT_COLOURS[init], INIT_NAMES[init]
        band = bands[(bands["metric"] == metric) & (bands["init"] == init)] if bands is not None else pd.DataFrame()
        if not band.empty and band["band_low"].notna().any():
            fig.add_scatter(x=list(band["n_train"]) + list(band["n_train"][::-1]),
                            y=list(band["band_high"]) + list(band["band_low"][::-1]), fill="toself", mode="lines",
                            line={"width": 0}, fillcolor=colour, opacity=0.15, hoverinfo="skip",
                            name=f"{init.upper()} 95% bootstrap band", legendgroup=init)
        grid = np.asarray(band["n_train"], dtype=float) if not band.empty else np.geomspace(1, n_max, 80)
        curve = Fit(r["model"], r["a"], r["b"], r["c"], r["n_ref"], r["rmse"], int(r["n_points"])).predict(grid)
        fig.add_scatter(x=grid, y=curve, mode="lines", line_color=colour, legendgroup=init,
                        name=f"{name}: fit ({r['model']}, {int(r['n_points'])} points)",
                        hovertemplate="%{x:,.0f} images<br>fit %{y:.4f}<extra>" + init.upper() + "</extra>")
        pts = points[(points["metric"] == metric) & (points["init"] == init)] if points is not None else pd.DataFrame()
        if not pts.empty:
            fig.add_scatter(x=pts["n_train"], y=pts["median"], mode="markers", marker={"color": colour, "size": 8},
                            name=f"{init.upper()} median", legendgroup=init, customdata=pts["train_pct"],
                            error_y={"type": "data", "array": pts["ci_high"] - pts["median"],
                                     "arrayminus": pts["median"] - pts["ci_low"], "visible": True},
                            hovertemplate="%{customdata}% train, %{x:,.0f} images<br>median %{y:.4f}<extra>"
                                          + init.upper() + "</extra>")
    name = METRIC_NAMES.get(metric, metric)
    target = float(fitted["target"].iloc[0])
    if metric == "dice":
        fig.add_hline(y=target, line_dash="dot", line_color="black", annotation_text=f"target {target:g}")
    needs = "; ".join(f"{i.upper()}: {t}" for i, t in zip(fitted["init"], fitted["target_result"]))
    fig.update_layout(title=_title(f"{dataset}: learning curve of the median {name}", synthetic),
                      xaxis={"title": "training images (log scale)", "type": "log"},
                      yaxis={"title": f"median {name}"}, height=480,
                      annotations=[{"text": f"images for median {target:g}: {needs}", "showarrow": False, "x": 0,
                                    "y": -0.22, "xref": "paper", "yref": "paper", "xanchor": "left",
                                    "font": {"size": 11}}],
                      margin={"b": 110})
    return fig


def label_distribution_figure(report: pd.DataFrame, *, synthetic: bool = False) -> go.Figure:
    """Clinical label counts per split, ratio and subset (train/test) from ``splits/split_report.csv``
    (columns split, ratio, subset, clinical_label, n_images)."""
    if report is None or report.empty:
        return empty_figure("no split report logged for this study")
    fig = go.Figure()
    report = report.sort_values(["ratio", "split", "subset"], ascending=[False, True, False])
    for label, rows in report.groupby("clinical_label", sort=True):
        fig.add_bar(x=[f"split {s} · {r}:{100 - r} · {sub}" for s, r, sub in zip(rows["split"], rows["ratio"],
                                                                               rows["subset"])],
                    y=rows["n_images"], name=str(label))
    fig.update_layout(barmode="stack", title=_title("clinical labels per split, train and test", synthetic),
                      xaxis={"title": "split · ratio · subset"}, yaxis={"title": "images"}, height=420,
                      legend={"title": "clinical label"})
    return fig


def choice_count_figure(counts: pd.DataFrame, *, synthetic: bool = False) -> go.Figure:
    """How often Algorithm 1 chose each output, stacked by branch (``ensemble/counts.csv``)."""
    if counts is None or counts.empty:
        return empty_figure("no ensemble yet: run `medseglab ensemble` on this study")
    rows = counts[counts["branch"] != "all"]
    fig = go.Figure()
    for branch, group in rows.groupby("branch"):
        group = group.set_index("output").reindex(list(CANDIDATES)).fillna(0)
        fig.add_bar(x=list(CANDIDATES), y=group["count"], name=str(branch))
    fig.update_layout(barmode="stack",
                      title=_title("Algorithm 1 (an oracle: it reads the ground truth): output chosen per image, by branch",
                                   synthetic),
                      xaxis={"title": "output"}, yaxis={"title": "images"}, height=400, legend={"title": "branch"})
    return fig


UMAP_PANELS = tuple((init, cls) for init in INITS for cls in (0, 1))  # (init, target class), the study's order


def umap_panel_key(init: str, cls: int) -> str:
    """The UMAP page's name of one panel: ``<init>-<class>`` (``lmi-1``)."""
    return f"{init}-{int(cls)}"


def umap_panels(key: str | None) -> tuple[tuple[str, int], ...]:
    """The panels ``key`` names: one ``<init>-<class>`` panel, or ``all`` (or None) for all four."""
    if key in (None, "all"):
        return UMAP_PANELS
    for panel in UMAP_PANELS:
        if umap_panel_key(*panel) == key:
            return (panel,)
    raise ValueError(f"unknown UMAP panel {key!r}: use 'all' or one of "
                     + ", ".join(umap_panel_key(*p) for p in UMAP_PANELS))


def umap_figure(embedding: pd.DataFrame, colour: str, *, panels=UMAP_PANELS, synthetic: bool = False) -> go.Figure:
    """The UMAP points of each (init, class) panel in ``panels``, side by side, one scatter per colour
    value (clinical_label, init or class), the same colour for a value in every panel; customdata =
    image id for the hover picture. Coordinates travel as float32 (half the bytes of float64; a UMAP
    coordinate needs no more)."""
    if embedding is None or embedding.empty:
        return empty_figure("no UMAP yet: run `medseglab explain` on this study")
    from plotly.subplots import make_subplots

    panels = tuple(panels)
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[f"{i.upper()}, class {c}" for i, c in panels],
                        horizontal_spacing=0.07)
    colour_values = sorted(embedding[colour].astype(str).unique())
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    shown = set()
    for col, (init, cls) in enumerate(panels, start=1):
        panel = embedding[(embedding["init"] == init) & (embedding["class"].astype(int) == cls)]
        for k, value in enumerate(colour_values):
            rows = panel[panel[colour].astype(str) == value]
            if rows.empty:
                continue
            fig.add_scatter(x=rows["x"].to_numpy(np.float32), y=rows["y"].to_numpy(np.float32), mode="markers",
                            name=value, legendgroup=value, showlegend=value not in shown,
                            marker={"color": palette[k % len(palette)]}, customdata=rows["image_id"],
                            row=1, col=col)
            shown.add(value)
        fig.update_xaxes(title_text="UMAP 1", row=1, col=col)
        fig.update_yaxes(title_text="UMAP 2", row=1, col=col)
    label = COLOUR_NAMES.get(colour, colour)
    fig.update_layout(title=_title(f"UMAP of pooled penultimate-layer features, coloured by {label}", synthetic),
                      height=460 if len(panels) > 1 else 560, legend={"title": label})
    fig.update_traces(hoverinfo="none", hovertemplate=None)
    return fig


# -- pictures (numpy -> numpy; the Flask route encodes and caches them) ----------------------------

def overlay(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    from medseglab.explain.figures import overlay as study_overlay

    return study_overlay(pred, gt)


def mask_picture(mask: np.ndarray) -> np.ndarray:
    """A binary mask as white on black RGB."""
    return np.repeat((np.asarray(mask).astype(bool) * 255).astype(np.uint8)[..., None], 3, axis=-1)


def cam_picture(cam: np.ndarray, image: np.ndarray | None = None) -> np.ndarray:
    """A [0, 1] Grad-CAM map in the jet colour map, blended over the grey input when given."""
    from matplotlib import colormaps

    coloured = (colormaps["jet"](np.clip(cam, 0.0, 1.0))[..., :3] * 255).astype(np.float32)
    if image is not None:
        grey = np.asarray(image, np.float32).mean(axis=-1, keepdims=True)
        coloured = 0.55 * coloured + 0.45 * grey
    return np.clip(coloured, 0, 255).astype(np.uint8)


def thumbnail(picture: np.ndarray, width: int) -> np.ndarray:
    """``picture`` scaled to ``width`` pixels wide (nearest neighbour: masks keep their exact colours)."""
    from PIL import Image

    h, w = picture.shape[:2]
    if width <= 0 or width == w:
        return picture
    height = max(1, round(h * width / w))
    return np.asarray(Image.fromarray(picture).resize((width, height), Image.NEAREST))


def image_metrics(table: pd.DataFrame, image_id: str) -> pd.DataFrame:
    """One image across every run and repeat: key, run id and the metrics."""
    rows = table[table["image_id"] == str(image_id)]  # no astype(str): the table may hold millions of rows
    cols = [c for c in ("init", "split", "ratio", "repeat", "run_id", "clinical_label", *METRICS, "tp", "fp", "fn",
                        "tn") if c in rows]
    keys = [c for c in ("ratio", "split", "init", "repeat") if c in cols]
    return rows[cols].sort_values(keys).reset_index(drop=True)


def gallery_order(table: pd.DataFrame, image_ids, *, label: str = "all", descending: bool = True) -> pd.DataFrame:
    """The Grad-CAM gallery's images: ``image_ids`` (those with maps) of one regime's per-image rows,
    filtered by clinical label and sorted by delta_m Dice (TII - LMI; NaN last), with their label."""
    ids = pd.Index(np.asarray(image_ids).astype(str))
    cols = ["image_id", "clinical_label"] if "clinical_label" in table else ["image_id"]
    first = table.drop_duplicates("image_id")[cols].astype(str).set_index("image_id")
    deltas = paired_deltas(table, "dice").set_index("image_id")["delta"] if "dice" in table else pd.Series(dtype=float)
    labels = first["clinical_label"].reindex(ids) if "clinical_label" in first else pd.Series(index=ids, dtype=object)
    frame = pd.DataFrame({"image_id": ids, "clinical_label": labels.fillna("unknown").values,
                          "delta_dice": deltas.reindex(ids).values})
    if label != "all":
        frame = frame[frame["clinical_label"] == label]
    return frame.sort_values(["delta_dice", "image_id"], ascending=[not descending, True],
                             na_position="last").reset_index(drop=True)
