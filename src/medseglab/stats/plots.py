"""PNG figures of the statistics: metric distributions per init, delta_m histograms, depletion curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from medseglab.io import atomic_path
from medseglab.names import INITS
from medseglab.stats.provenance import UNKNOWN, Provenance

COLORS = {"lmi": "#1f77b4", "tii": "#d62728"}
# every per-image metric of the study lies in [0, 1]; the axes of these never go beyond it
BOUNDED = frozenset({"auroc_mask", "auroc_prob", "dice", "sensitivity", "specificity", "precision", "fpr"})


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def _subplots(n: int, width: float, height: float):
    # constrained layout keeps tick labels and titles of one panel off the next one
    return _pyplot().subplots(1, n, figsize=(width * n, height), squeeze=False, layout="constrained")


def _finish(fig, title: str, path: str | Path, provenance: Provenance = UNKNOWN) -> Path:
    """Title the figure (with the provenance line: synthetic data, TII weights), write it atomically
    as PNG and free it (even when saving fails)."""
    path = Path(path)
    fig.suptitle(provenance.figure_title(title), fontsize=10)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    finally:
        _pyplot().close(fig)
    return path


def bounded_limits(values, metric: str, pad: float = 0.05, min_span: float = 0.1) -> tuple[float, float] | None:
    """y-limits that show every value with a margin and span at least ``min_span`` (a 0.002 gap
    between two medians should not fill the panel), never beyond [0, 1] for a bounded metric
    (None: no finite value, Matplotlib's default)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not v.size:
        return None
    lo, hi = float(v.min()), float(v.max())
    margin = pad * (hi - lo)
    lo, hi = lo - margin, hi + margin
    if hi - lo < min_span:
        centre = (lo + hi) / 2
        lo, hi = centre - min_span / 2, centre + min_span / 2
    if metric in BOUNDED:  # shift the window inside [0, 1], then clip
        shift = min(0.0, 1.0 - hi) + max(0.0, -lo)
        lo, hi = max(lo + shift, 0.0), min(hi + shift, 1.0)
    return lo, hi


def distributions(values: pd.DataFrame, metrics, title: str, path: str | Path,
                  provenance: Provenance = UNKNOWN) -> Path:
    """Violins of each metric's per-image values, LMI beside TII, medians marked (black)."""
    from medseglab.stats.tables import METRIC_NAMES

    metrics = [m for m in metrics if m in values.columns]
    fig, axes = _subplots(len(metrics), 2.7, 3.6)
    for ax, metric in zip(axes[0], metrics):
        data, labels = [], []
        for init in INITS:
            v = values.loc[values["init"] == init, metric].dropna().to_numpy()
            data.append(v if v.size else np.array([np.nan]))
            labels.append(f"{provenance.init_label(init).replace(' (', chr(10) + '(')}\nn={v.size}")
        ok = [d for d in data if np.isfinite(d).any() and np.ptp(d[np.isfinite(d)]) > 0]
        if len(ok) == len(data):
            # Matplotlib's violins span [min, max] of the data (no KDE tails beyond it, like seaborn's cut=0)
            parts = ax.violinplot(data, showmedians=True, showextrema=False)
            for body, init in zip(parts["bodies"], INITS):
                body.set_facecolor(COLORS[init])
                body.set_alpha(0.5)
            parts["cmedians"].set_color("k")
            for artist in [*parts["bodies"], parts["cmedians"]]:
                artist.set_clip_on(False)  # a median or body at exactly 1.0 stays whole at the top edge
        else:  # a constant sample has no density: show points
            for i, d in enumerate(data, start=1):
                ax.scatter(np.full(d.size, i), d, s=6, alpha=0.4, color=list(COLORS.values())[i - 1], clip_on=False)
        ax.set_xticks([1, 2], labels, fontsize=8)
        ax.set_title(METRIC_NAMES.get(metric, metric))
        limits = bounded_limits(np.concatenate(data), metric)
        if limits is not None:
            ax.set_ylim(*limits)
    if len(metrics):
        axes[0][0].set_ylabel("per-image value")
    return _finish(fig, title, path, provenance)


def delta_histograms(deltas: pd.DataFrame, metrics, title: str, path: str | Path,
                     provenance: Provenance = UNKNOWN) -> Path:
    """Histograms of delta_m = TII - LMI per image, with the share above and below zero."""
    from medseglab.stats.tables import METRIC_NAMES

    fig, axes = _subplots(len(metrics), 3.0, 3.2)
    for ax, metric in zip(axes[0], metrics):
        name = METRIC_NAMES.get(metric, metric)
        d = deltas.loc[deltas["metric"].astype(str) == metric, "delta"].to_numpy()
        if d.size:
            ax.hist(d, bins=30, color="#777")
            ax.axvline(0, color="k", lw=0.8)
            ax.set_xlabel(f"Δ{name} per image\n>0: {np.mean(d > 0):.0%}  =0: {np.mean(d == 0):.0%}  "
                          f"<0: {np.mean(d < 0):.0%}", fontsize=8)
        ax.set_ylabel("images")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no 0.5 images
        ax.set_title(f"Δ {name} (TII - LMI)", fontsize=9)
    return _finish(fig, title, path, provenance)


def depletion(curve: pd.DataFrame, metrics, title: str, path: str | Path, provenance: Provenance = UNKNOWN) -> Path:
    """Median of each metric by training %, one line per init, every point marked (a single ratio
    is a point, not an invisible line); the paper's Dice dashed with open markers. x ticks are the
    training percentages present; y-limits stay within [0, 1] for the bounded metrics."""
    metrics = [m for m in metrics if f"{m}_median" in curve.columns]
    fig, axes = _subplots(len(metrics), 3.0, 3.2)
    ratios = sorted(int(r) for r in curve["train_pct"].dropna().unique())
    handles: dict[str, object] = {}
    for ax, metric in zip(axes[0], metrics):
        shown = []
        for init in INITS:
            c = curve.loc[curve["init"] == init].sort_values("train_pct")
            y = c[f"{metric}_median"].to_numpy(dtype=float)
            (line,) = ax.plot(c["train_pct"], y, "o-", color=COLORS[init], label=provenance.init_label(init),
                              clip_on=False)
            handles.setdefault(line.get_label(), line)
            shown.append(y)
            if metric == "dice" and "paper_dice_median" in c and c["paper_dice_median"].notna().any():
                ref = c["paper_dice_median"].to_numpy(dtype=float)
                paper_label = f"{init.upper()} (paper{', ImageNet' if init == 'tii' else ''})"
                (line,) = ax.plot(c["train_pct"], ref, "o--", color=COLORS[init], alpha=0.7, markerfacecolor="white",
                                  label=paper_label, clip_on=False)
                handles.setdefault(line.get_label(), line)
                shown.append(ref)
        ax.set_xticks(ratios, [str(r) for r in ratios])
        span = max(ratios) - min(ratios) if ratios else 0
        pad = max(5.0, 0.08 * span)
        if ratios:
            ax.set_xlim(min(ratios) - pad, max(ratios) + pad)
        median_panel(ax, shown, metric, "training data (%)")
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=len(handles), fontsize=8,
                   frameon=False)
    return _finish(fig, title, path, provenance)


def median_panel(ax, shown: list, metric: str, xlabel: str) -> None:
    """A panel of medians by training data: y-limits around the values ``shown`` (within [0, 1] for a
    bounded metric), the x label and the metric's title."""
    from medseglab.stats.tables import METRIC_NAMES

    limits = bounded_limits(np.concatenate(shown) if shown else [], metric)
    if limits is not None:
        ax.set_ylim(*limits)
    ax.set_xlabel(xlabel)
    ax.set_title(f"median {METRIC_NAMES.get(metric, metric)}")
