"""UMAP of the test images by their penultimate-layer features, pooled per target class (SPEC 9).

Per image and class c, the feature vector is the mean of the penultimate layer's feature map
(the input of the 1x1 classifier; ``medseglab.models.FEATURE_LAYER`` for the VGG-UNet) over
the pixels of class c. Which pixels (``pool``):

- ``"predicted"`` (default): the pixels the model itself assigns to c (argmax of its softmax),
  so the embedding needs no ground truth and shows what the model "sees" as lesion/background;
- ``"ground_truth"``: the pixels of c in the ground-truth mask;
- ``"probability"``: every pixel, weighted by the model's class-c probability.

When an image has no pixel of c under the chosen rule (e.g. nothing predicted), its class-c
vector falls back to the probability-weighted mean and the row says so (``pooled_over``).
Masks are brought to the feature map's resolution by area averaging (fractional weights).

Each (init, class) group is embedded separately with umap-learn: features of different models
live in different spaces. ``n_neighbors`` must be below the number of images: it is clamped to
n - 1 with a warning, and the value used is a column of the table.

Figures: :func:`scatter_figure` (Plotly, interactive) and :func:`scatter_png` (Matplotlib, a PNG
to read at a glance): one panel per (init, class), axes "UMAP 1" / "UMAP 2", colour = clinical label.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import pandas as pd

from medseglab.names import INITS

POOLS = ("predicted", "ground_truth", "probability")
AXES = ("UMAP 1", "UMAP 2")
CLASS_NAMES = {0: "class 0 (background)", 1: "class 1 (target)"}
TABLE_COLUMNS = ["image_id", "init", "clinical_label", "class", "x", "y", "pooled_over", "n_neighbors"]


def feature_layer(model) -> str:
    """The penultimate layer: the VGG-UNet's ``FEATURE_LAYER``, else the last conv before the classifier."""
    from medseglab.explain.gradcam import default_layer
    from medseglab.models.names import FEATURE_LAYER

    if any(layer.name == FEATURE_LAYER for layer in model.layers):
        return FEATURE_LAYER
    return default_layer(model)


def _features_model(model, layer: str | None):
    import keras

    from medseglab.explain.gradcam import get_layer, io_tensors

    target = get_layer(model, layer or feature_layer(model))
    if len(target.output.shape) != 4:
        raise ValueError(f"layer {target.name!r} outputs shape {target.output.shape}; pooling needs a 4D feature map")
    inp, out = io_tensors(model)
    return keras.Model(inp, [target.output, out], name=f"{model.name}_features")


def _class_weights(probs, masks, classes: Sequence[int], pool: str):
    """(B, H, W, C) soft weights (probability) and hard weights (chosen rule) per class."""
    import tensorflow as tf

    soft = tf.stack([probs[..., c] for c in classes], axis=-1)
    if pool == "probability":
        return soft, soft
    labels = tf.argmax(probs, axis=-1) if pool == "predicted" else tf.cast(masks, tf.int64)
    hard = tf.stack([tf.cast(tf.equal(labels, c), tf.float32) for c in classes], axis=-1)
    return soft, hard


def pooled_features(
    model,
    images: np.ndarray,
    classes: Sequence[int] = (0, 1),
    pool: str = "predicted",
    masks: np.ndarray | None = None,
    layer: str | None = None,
    batch_size: int = 8,
    on_batch=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per image and class, the mean feature vector over that class's pixels.

    Returns ``features`` (N, len(classes), F) float32 and ``fallback`` (N, len(classes)) bool:
    True where the class had no pixel under ``pool`` and the probability-weighted mean was used.
    """
    import tensorflow as tf

    if pool not in POOLS:
        raise ValueError(f"unknown pooling {pool!r}; choose one of {POOLS}")
    if pool == "ground_truth" and masks is None:
        raise ValueError("pool='ground_truth' needs the ground-truth masks")
    probe = _features_model(model, layer)
    images = np.asarray(images)  # cast per batch: a paper-scale test set stays uint8 in memory
    feats, falls = [], []
    for start in range(0, len(images), batch_size):
        part = slice(start, start + batch_size)
        acts, probs = probe(tf.constant(np.asarray(images[part], np.float32)), training=False)
        part_masks = None if masks is None else tf.constant(np.asarray(masks)[part])
        soft, hard = _class_weights(probs, part_masks, classes, pool)
        size = tf.shape(acts)[1:3]
        # area averaging keeps each weight map's mean, i.e. the share of a feature cell covered by c
        soft, hard = (tf.image.resize(w, size, method="area") for w in (soft, hard))
        empty = tf.reduce_sum(hard, axis=(1, 2)) <= 0  # (B, C)
        weights = tf.where(empty[:, None, None, :], soft, hard)
        total = tf.maximum(tf.reduce_sum(weights, axis=(1, 2)), 1e-12)  # (B, C)
        pooled = tf.einsum("bhwc,bhwf->bcf", weights, acts) / total[..., None]
        feats.append(pooled.numpy())
        falls.append(empty.numpy())
        if on_batch is not None:
            on_batch(len(images[part]))
    return np.concatenate(feats).astype(np.float32), np.concatenate(falls)


def umap_embed(features: np.ndarray, n_neighbors: int, min_dist: float, seed: int = 0) -> tuple[np.ndarray, int]:
    """2D UMAP of (N, F) features with ``random_state=seed``; returns (coords (N, 2), n_neighbors used)."""
    features = np.asarray(features, np.float32)
    n = len(features)
    if n == 0:
        return np.zeros((0, 2), np.float32), 0
    if n < 3:
        # UMAP needs a neighbour graph; one or two points are placed on a line, in input order
        warnings.warn(f"UMAP of {n} image(s) is not meaningful; placing them on a line", stacklevel=2)
        return np.column_stack([np.arange(n, dtype=np.float32), np.zeros(n, np.float32)]), 0
    used = int(n_neighbors)
    if used >= n:
        used = n - 1
        warnings.warn(f"UMAP n_neighbors={n_neighbors} >= {n} images: clamped to {used}", stacklevel=2)
    if used < 2:
        raise ValueError(f"UMAP n_neighbors must be >= 2, got {n_neighbors} (params.yaml datasets.<name>.umap)")
    import umap

    # spectral initialisation needs more points than dimensions + 1; random init is used below that
    init = "spectral" if n > 4 else "random"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs value 1 overridden.*")
        warnings.filterwarnings("ignore", message=".*Graph is not fully connected.*")
        reducer = umap.UMAP(
            n_neighbors=used, min_dist=float(min_dist), n_components=2, random_state=int(seed), init=init
        )
        coords = reducer.fit_transform(features)
    return np.asarray(coords, np.float32), used


def embedding_table(
    image_ids: Sequence[str],
    clinical_labels: Sequence[str],
    init: str,
    features: np.ndarray,
    fallback: np.ndarray,
    classes: Sequence[int],
    pool: str,
    n_neighbors: int,
    min_dist: float,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per (image, class) for one init: image_id, init, clinical_label, class, x, y, ..."""
    frames = []
    for j, c in enumerate(classes):
        coords, used = umap_embed(features[:, j], n_neighbors, min_dist, seed)
        frames.append(
            pd.DataFrame(
                {
                    "image_id": pd.Series(image_ids, dtype=str).to_numpy(),
                    "init": init,
                    "clinical_label": pd.Series(clinical_labels, dtype=str).to_numpy(),
                    "class": int(c),
                    "x": coords[:, 0].astype(np.float64),
                    "y": coords[:, 1].astype(np.float64),
                    "pooled_over": np.where(fallback[:, j], "probability", pool),
                    "n_neighbors": used,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[TABLE_COLUMNS]


def scatter_figure(table: pd.DataFrame, title: str = "UMAP of penultimate-layer features"):
    """Plotly scatter: one panel per (init, class), points coloured by clinical label."""
    import plotly.express as px

    frame = table.assign(target=table["class"].map(lambda c: f"class {c}"))
    fig = px.scatter(
        frame,
        x="x",
        y="y",
        color="clinical_label",
        facet_col="target",
        facet_row="init",
        hover_data=["image_id", "pooled_over"],
        category_orders={"target": sorted(frame["target"].unique()), "init": sorted(frame["init"].unique())},
        labels={"x": AXES[0], "y": AXES[1]},
        title=title,
    )
    fig.update_xaxes(matches=None, showticklabels=False)
    fig.update_yaxes(matches=None, showticklabels=False)
    fig.update_layout(legend_title_text="clinical label", template="plotly_white")
    return fig


def scatter_png(table: pd.DataFrame, path, title: str = "UMAP of pooled penultimate-layer features",
                provenance=None):
    """The embedding as a PNG: one panel per (init, class) (each its own UMAP, so panels do not share
    axes), points coloured by clinical label; images whose class had no pixel under the pooling rule
    (``pooled_over`` = probability fallback) are drawn as crosses. Returns the path."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from medseglab.io import atomic_path
    from medseglab.stats.provenance import UNKNOWN

    provenance = provenance or UNKNOWN
    inits = [i for i in INITS if i in set(table["init"])] + sorted(set(table["init"]) - set(INITS))
    classes = sorted(int(c) for c in table["class"].unique())
    labels = sorted(map(str, table["clinical_label"].unique()))
    colours = {label: plt.get_cmap("tab10")(k % 10) for k, label in enumerate(labels)}
    pools = table["pooled_over"].astype(str)
    main_pool = pools.mode().iloc[0] if len(pools) else ""
    fig, axes = plt.subplots(max(len(inits), 1), max(len(classes), 1), figsize=(3.6 * max(len(classes), 1) + 1.5,
                             3.0 * max(len(inits), 1)), squeeze=False, layout="constrained")
    for r, init in enumerate(inits):
        for c, cls in enumerate(classes):
            ax = axes[r, c]
            part = table.loc[(table["init"] == init) & (table["class"].astype(int) == cls)]
            for label in labels:
                pts = part.loc[part["clinical_label"].astype(str) == label]
                fell = pts["pooled_over"].astype(str) != main_pool
                ax.scatter(pts.loc[~fell, "x"], pts.loc[~fell, "y"], s=18, color=colours[label], alpha=0.8,
                           edgecolors="none")
                ax.scatter(pts.loc[fell, "x"], pts.loc[fell, "y"], s=22, color=colours[label], marker="x")
            ax.set_title(f"{provenance.init_label(init)}\n{CLASS_NAMES.get(cls, f'class {cls}')}", fontsize=9)
            ax.set_xlabel(AXES[0], fontsize=8)
            ax.set_ylabel(AXES[1], fontsize=8)
            ax.tick_params(labelsize=7)
    handles = [Line2D([], [], marker="o", ls="", color=colours[label], label=label) for label in labels]
    if (pools != main_pool).any():
        handles.append(Line2D([], [], marker="x", ls="", color="grey", label="probability-pooled\n(no pixel of the class)"))
    fig.legend(handles=handles, title="clinical label", loc="outside right center", fontsize=8, title_fontsize=8,
               frameon=False)
    fig.suptitle(provenance.figure_title(title), fontsize=10)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def write_figure(fig, html_path, json_path) -> None:
    """The figure as self-contained HTML (works offline) and as Plotly JSON (for the dashboard)."""
    from medseglab.io import atomic_path

    with atomic_path(html_path) as tmp:
        fig.write_html(tmp, include_plotlyjs=True, full_html=True)
    with atomic_path(json_path) as tmp:
        tmp.write_text(fig.to_json())
