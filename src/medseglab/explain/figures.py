"""The study's pictures (SPEC 10): prediction-vs-truth overlays and the Figure 2-5 galleries.

Overlay colours are exact: TP green (0, 255, 0), TN black (0, 0, 0), FP red (255, 0, 0),
FN yellow (255, 255, 0). Galleries are PNG files drawn with Matplotlib's Agg backend, one row per
image; Grad-CAM panels show the map (0..1) over the grey input with a shared colour bar.
Rows are picked by delta_m Dice (:func:`select_images`); :func:`kind_label` names each row by what
the ranking means ("largest TII gain (ΔDice +0.31)"), and :data:`RANKING_NOTE` says it under the title.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from medseglab.names import CANDIDATES
from medseglab.stats.provenance import UNKNOWN, Provenance

TP_COLOUR = (0, 255, 0)
TN_COLOUR = (0, 0, 0)
FP_COLOUR = (255, 0, 0)
FN_COLOUR = (255, 255, 0)
KINDS = ("best", "worst", "median", "user")
CAM_CMAP = "jet"
RANKING_NOTE = ("rows ranked by ΔDice = Dice(TII) - Dice(LMI) per test image: largest TII gain, "
                "largest TII loss (or smallest gain), closest to the median ΔDice")


def kind_label(kind: str, delta: float) -> str:
    """What a gallery row's place in the ΔDice ranking means: ``best`` with ΔDice +0.31 is the
    "largest TII gain (ΔDice +0.31)"; a ``worst`` row whose ΔDice is not negative is the
    "smallest TII gain" (both models may be equally good there), not a loss."""
    d = "n/a" if delta is None or not np.isfinite(delta) else f"{delta:+.2f}"
    positive = delta is not None and np.isfinite(delta) and delta > 0
    negative = delta is not None and np.isfinite(delta) and delta < 0
    if kind == "best":
        text = "largest TII gain" if positive else ("smallest TII loss" if negative else "no TII gain")
    elif kind == "worst":
        text = "largest TII loss" if negative else ("smallest TII gain" if positive else "no TII loss")
    elif kind == "median":
        text = "median ΔDice"
    else:
        text = "requested image"
    return f"{text} (ΔDice {d})"


def overlay(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """RGB uint8 (..., H, W, 3) confusion picture of binary prediction vs ground truth."""
    pred = np.asarray(pred).astype(bool)
    gt = np.asarray(gt).astype(bool)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in shape")
    out = np.zeros(pred.shape + (3,), np.uint8)  # TN stays black
    out[pred & gt] = TP_COLOUR
    out[pred & ~gt] = FP_COLOUR
    out[~pred & gt] = FN_COLOUR
    return out


def select_images(
    delta: pd.Series, n_per_kind: int = 2, extra_ids: Sequence[str] = (), known_ids: Sequence[str] | None = None
) -> pd.DataFrame:
    """Images to show, by delta_m Dice = Dice(TII) - Dice(LMI) per image (index = image_id).

    ``best``: the largest deltas (TII gains most over LMI); ``worst``: the smallest (TII loses
    most); ``median``: the closest to the median delta; ``user``: ``extra_ids`` in the given order.
    NaN deltas (empty ground truth) are not ranked; ties go by image id. Each kind takes images not
    taken by an earlier kind (best, worst, median, user), so an image is listed once.
    Returns a DataFrame with ``image_id``, ``kind``, ``delta_dice``. Unknown ``extra_ids`` (not in
    ``known_ids``, default the index of ``delta``) raise ValueError naming them.
    """
    delta = pd.Series(delta, dtype=float)
    delta.index = delta.index.astype(str)
    known = set(delta.index if known_ids is None else map(str, known_ids))
    missing = [i for i in extra_ids if str(i) not in known]
    if missing:
        raise ValueError(f"image ids {missing} are not test images of this study (e.g. {sorted(known)[:3]})")
    ranked = delta.dropna()
    # ties (many Dice values are equal) are broken by image id, so the choice is reproducible
    frame = pd.DataFrame({"image_id": ranked.index, "delta": ranked.to_numpy()}).sort_values(
        ["delta", "image_id"], kind="mergesort"
    )
    med = float(np.median(frame["delta"])) if len(frame) else np.nan
    orders = {
        "best": frame.sort_values(["delta", "image_id"], ascending=[False, True], kind="mergesort"),
        "worst": frame,
        "median": frame.assign(dist=(frame["delta"] - med).abs()).sort_values(["dist", "image_id"], kind="mergesort"),
    }
    rows: list[dict] = []
    seen: set[str] = set()
    for kind, ordered in orders.items():  # each kind takes n images not taken by an earlier kind
        fresh = [i for i in ordered["image_id"] if i not in seen][: max(int(n_per_kind), 0)]
        seen.update(fresh)
        rows += [{"image_id": i, "kind": kind} for i in fresh]
    for image_id in map(str, extra_ids):
        if image_id not in seen:
            seen.add(image_id)
            rows.append({"image_id": image_id, "kind": "user"})
    for row in rows:
        row["delta_dice"] = float(delta.get(row["image_id"], np.nan))
    return pd.DataFrame(rows, columns=["image_id", "kind", "delta_dice"])


@dataclass
class GalleryRow:
    """Everything one gallery row shows; masks are binary (H, W), cams (2, H, W) in [0, 1]."""

    image_id: str
    image: np.ndarray
    gt: np.ndarray
    lmi: np.ndarray
    tii: np.ndarray
    label: str = ""
    cam_lmi: np.ndarray | None = None
    cam_tii: np.ndarray | None = None
    chosen: str | None = None  # Algorithm 1's choice (Figure 5 frame); None = unknown
    notes: dict = field(default_factory=dict)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _show_rgb(ax, image: np.ndarray, title: str | None) -> None:
    ax.imshow(np.asarray(image).astype(np.uint8), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def _mask_rgb(mask: np.ndarray) -> np.ndarray:
    return np.repeat((np.asarray(mask) > 0)[..., None] * np.uint8(255), 3, axis=-1).astype(np.uint8)


def _grey(image: np.ndarray) -> np.ndarray:
    return np.asarray(image, np.float32)[..., :3].mean(axis=-1)


def _show_cam(ax, image: np.ndarray, cam: np.ndarray, title: str | None):
    ax.imshow(_grey(image), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    handle = ax.imshow(np.clip(cam, 0, 1), cmap=CAM_CMAP, vmin=0, vmax=1, alpha=0.5, interpolation="bilinear")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)
    return handle


def _frame(ax, colour: str = "#00a0ff", width: float = 4.0) -> None:
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_edgecolor(colour)
        spine.set_linewidth(width)


def _row_label(ax, row: GalleryRow) -> None:
    text = row.image_id if not row.label else f"{row.image_id}\n{row.label}"
    ax.set_ylabel(text, fontsize=7, rotation=0, ha="right", va="center", labelpad=6)


def _save(fig, path: str | Path) -> Path:
    from medseglab.io import atomic_path

    plt = _pyplot()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _title(fig, title: str, subtitle: str, provenance: Provenance) -> None:
    lines = [line for line in (title, subtitle, provenance.subtitle()) if line]
    if lines:
        # anchored above the figure's top edge: the column heads stay clear of a 3-line title
        fig.suptitle("\n".join(lines), fontsize=10, y=1.0, va="bottom")


def comparison_gallery(rows: Sequence[GalleryRow], path: str | Path, title: str = "", *, subtitle: str = "",
                       provenance: Provenance = UNKNOWN) -> Path:
    """Figures 2-4: input, GT, LMI mask, LMI overlay, TII mask, TII overlay, Grad-CAM 0/1 of LMI and TII.
    ``subtitle`` (e.g. :data:`RANKING_NOTE`) and the provenance line go under the title."""
    if not rows:
        raise ValueError("no images to draw")
    plt = _pyplot()
    with_cam = all(r.cam_lmi is not None and r.cam_tii is not None for r in rows)
    heads = ["input", "ground truth", "LMI mask", "LMI overlay", "TII mask", "TII overlay"]
    if with_cam:
        heads += ["LMI Grad-CAM c0", "LMI Grad-CAM c1", "TII Grad-CAM c0", "TII Grad-CAM c1"]
    fig, axes = _grid(plt, len(rows), len(heads), right_in=0.9 if with_cam else 0.15)
    handle = None
    for r, row in enumerate(rows):
        titles = heads if r == 0 else [None] * len(heads)
        panels = [row.image, _mask_rgb(row.gt), _mask_rgb(row.lmi), overlay(row.lmi, row.gt),
                  _mask_rgb(row.tii), overlay(row.tii, row.gt)]
        for c, panel in enumerate(panels):
            _show_rgb(axes[r, c], panel, titles[c])
        if with_cam:
            cams = [row.cam_lmi[0], row.cam_lmi[1], row.cam_tii[0], row.cam_tii[1]]
            for k, cam in enumerate(cams):
                handle = _show_cam(axes[r, 6 + k], row.image, cam, titles[6 + k])
        _row_label(axes[r, 0], row)
    if handle is not None:
        first, last = axes[0, -1].get_position(), axes[-1, -1].get_position()
        cax = fig.add_axes([last.x1 + 0.12 / fig.get_figwidth(), last.y0, 0.12 / fig.get_figwidth(), first.y1 - last.y0])
        bar = fig.colorbar(handle, cax=cax)
        bar.set_label("Grad-CAM (normalised)", fontsize=8)
        bar.ax.tick_params(labelsize=7)
    _legend(fig)
    _title(fig, title, subtitle, provenance)
    return _save(fig, path)


def ensemble_gallery(rows: Sequence[GalleryRow], path: str | Path, title: str = "", *, subtitle: str = "",
                     provenance: Provenance = UNKNOWN) -> Path:
    """Figure 5: input, GT, LMI overlay, TII overlay, union mask + overlay, intersection mask + overlay.

    The overlay of Algorithm 1's chosen output is framed (blue); rows without a choice get no frame.
    """
    if not rows:
        raise ValueError("no images to draw")
    plt = _pyplot()
    heads = ["input", "ground truth", "LMI overlay", "TII overlay", "union mask", "union overlay",
             "intersection mask", "intersection overlay"]
    overlay_column = {"lmi": 2, "tii": 3, "union": 5, "intersection": 7}
    fig, axes = _grid(plt, len(rows), len(heads))
    for r, row in enumerate(rows):
        union = np.logical_or(row.lmi, row.tii)
        inter = np.logical_and(row.lmi, row.tii)
        panels = [row.image, _mask_rgb(row.gt), overlay(row.lmi, row.gt), overlay(row.tii, row.gt),
                  _mask_rgb(union), overlay(union, row.gt), _mask_rgb(inter), overlay(inter, row.gt)]
        titles = heads if r == 0 else [None] * len(heads)
        for c, panel in enumerate(panels):
            _show_rgb(axes[r, c], panel, titles[c])
        if row.chosen is not None:
            if row.chosen not in overlay_column:
                raise ValueError(f"unknown Algorithm 1 choice {row.chosen!r} for {row.image_id}; expected {CANDIDATES}")
            _frame(axes[r, overlay_column[row.chosen]])
        _row_label(axes[r, 0], row)
    _legend(fig, framed=any(r.chosen is not None for r in rows))
    _title(fig, title, subtitle, provenance)
    return _save(fig, path)


# gallery geometry, inches: square image cells, the row labels' margin on the left, the column heads' on top
CELL_IN, GAP_IN, LABELS_IN, HEADS_IN, FOOT_IN = 1.45, 0.1, 1.5, 0.3, 0.05


def _grid(plt, nrows: int, ncols: int, right_in: float = 0.15):
    """A figure sized to its grid of square cells, so the images fill it (no empty band between the
    title, the grid and the legend that a fixed per-row height left)."""
    width = LABELS_IN + ncols * CELL_IN + (ncols - 1) * GAP_IN + right_in
    height = HEADS_IN + nrows * CELL_IN + (nrows - 1) * GAP_IN + FOOT_IN
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False)
    fig.subplots_adjust(left=LABELS_IN / width, right=1 - right_in / width, top=1 - HEADS_IN / height,
                        bottom=FOOT_IN / height, wspace=GAP_IN / CELL_IN, hspace=GAP_IN / CELL_IN)
    return fig, axes


def _legend(fig, framed: bool = False) -> None:
    from matplotlib.patches import Patch

    items = [("TP", TP_COLOUR), ("TN", TN_COLOUR), ("FP", FP_COLOUR), ("FN", FN_COLOUR)]
    handles = [Patch(facecolor=np.array(rgb) / 255, edgecolor="grey", label=name) for name, rgb in items]
    if framed:
        handles.append(Patch(facecolor="white", edgecolor="#00a0ff", linewidth=2, label="Algorithm 1 choice"))
    fig.legend(handles=handles, loc="upper center", ncol=len(handles), fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, 0.0))
