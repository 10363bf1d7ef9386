"""PNG figures of the statistics: metric distributions per init, delta_m histograms, depletion curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from medseglab.io import atomic_path

COLORS = {"lmi": "#1f77b4", "tii": "#d62728"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def _finish(fig, title: str, path: str | Path) -> Path:
    """Title the figure, write it atomically as PNG and free it (even when saving fails)."""
    path = Path(path)
    fig.suptitle(title, y=1.04)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    finally:
        _pyplot().close(fig)
    return path


def distributions(values: pd.DataFrame, metrics, title: str, path: str | Path) -> Path:
    """Violins of each metric's per-image values, LMI beside TII, medians marked."""
    from medseglab.stats.tables import METRIC_NAMES

    plt = _pyplot()
    metrics = [m for m in metrics if m in values.columns]
    fig, axes = plt.subplots(1, len(metrics), figsize=(2.6 * len(metrics), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        data, labels = [], []
        for init in ("lmi", "tii"):
            v = values.loc[values["init"] == init, metric].dropna().to_numpy()
            data.append(v if v.size else np.array([np.nan]))
            labels.append(f"{init.upper()}\nn={v.size}")
        ok = [d for d in data if np.isfinite(d).any() and np.ptp(d[np.isfinite(d)]) > 0]
        if len(ok) == len(data):
            parts = ax.violinplot(data, showmedians=True, showextrema=False)
            for body, init in zip(parts["bodies"], ("lmi", "tii")):
                body.set_facecolor(COLORS[init])
                body.set_alpha(0.5)
        else:  # a constant sample has no density: show points
            for i, d in enumerate(data, start=1):
                ax.scatter(np.full(d.size, i), d, s=6, alpha=0.4, color=list(COLORS.values())[i - 1])
        ax.set_xticks([1, 2], labels)
        ax.set_title(METRIC_NAMES.get(metric, metric))
        ax.set_ylim(top=1.02)
    return _finish(fig, title, path)


def delta_histograms(deltas: pd.DataFrame, metrics, title: str, path: str | Path) -> Path:
    """Histograms of delta_m = TII - LMI per image, with the share above and below zero."""
    from medseglab.stats.tables import METRIC_NAMES

    plt = _pyplot()
    fig, axes = plt.subplots(1, len(metrics), figsize=(2.8 * len(metrics), 3.0), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        d = deltas.loc[deltas["metric"].astype(str) == metric, "delta"].to_numpy()
        if d.size:
            ax.hist(d, bins=30, color="#777")
            ax.axvline(0, color="k", lw=0.8)
            ax.set_xlabel(f">0: {np.mean(d > 0):.0%}  =0: {np.mean(d == 0):.0%}  <0: {np.mean(d < 0):.0%}", fontsize=8)
        ax.set_title(f"Δ {METRIC_NAMES.get(metric, metric)} (TII - LMI)", fontsize=9)
    return _finish(fig, title, path)


def depletion(curve: pd.DataFrame, metrics, title: str, path: str | Path) -> Path:
    """Median of each metric by training %, one line per init; the paper's Dice dashed."""
    from medseglab.stats.tables import METRIC_NAMES

    plt = _pyplot()
    metrics = [m for m in metrics if f"{m}_median" in curve.columns]
    fig, axes = plt.subplots(1, len(metrics), figsize=(2.8 * len(metrics), 3.0), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for init in ("lmi", "tii"):
            c = curve.loc[curve["init"] == init].sort_values("train_pct")
            ax.plot(c["train_pct"], c[f"{metric}_median"], "o-", color=COLORS[init], label=init.upper())
            if metric == "dice" and c["paper_dice_median"].notna().any():
                ax.plot(c["train_pct"], c["paper_dice_median"], "--", color=COLORS[init], alpha=0.6,
                        label=f"{init.upper()} (paper)")
        ax.set_xlabel("training data (%)")
        ax.set_title(f"median {METRIC_NAMES.get(metric, metric)}")
        if metric == "dice":
            ax.legend(fontsize=7)
    return _finish(fig, title, path)
