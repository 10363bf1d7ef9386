"""One picture of a split table: test-set overlap, label mix per subset, depletion sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from medseglab.io import atomic_path
from medseglab.splits.report import heldout_counts, heldout_sets, set_sizes, split_report


def plot_splits(splits: pd.DataFrame, manifest: pd.DataFrame, path: str | Path, title: str | None = None) -> Path:
    """Save a 2 x 2 PNG: overlap matrix, images per number of test sets, label % per subset, depletion."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    top = int(splits["ratio"].max())
    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    _overlap_matrix(axes[0, 0], heldout_sets(splits), top)
    _multiplicity(axes[0, 1], heldout_counts(splits))
    _labels(axes[1, 0], split_report(splits, manifest), top)
    _depletion(axes[1, 1], set_sizes(splits))
    fig.suptitle(f"Splits of {title}" if title else "Splits")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path


def _overlap_matrix(ax, tests: dict[int, set[str]], top: int) -> None:
    ids = sorted(tests)
    matrix = np.array([[len(tests[a] & tests[b]) for b in ids] for a in ids])
    image = ax.imshow(matrix, cmap="Blues")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, str(value), ha="center", va="center", color="white" if value > matrix.max() / 2 else "black")
    ax.set_xticks(range(len(ids)), [f"set {s}" for s in ids])
    ax.set_yticks(range(len(ids)), [f"set {s}" for s in ids])
    ax.set_title(f"Test images shared by two {top}:{100 - top} sets (diagonal: test size)")
    ax.figure.colorbar(image, ax=ax, fraction=0.046)


def _multiplicity(ax, counts: pd.Series) -> None:
    n_sets = int(counts.max()) if len(counts) else 0
    values = counts.value_counts().reindex(range(max(n_sets, 2) + 1), fill_value=0)
    bars = ax.bar(values.index, values.to_numpy(), color="tab:blue")
    ax.bar_label(bars, labels=[f"{v} ({100 * v / max(1, len(counts)):.0f}%)" for v in values])
    ax.set_xticks(values.index)
    ax.set_xlabel("number of test sets the image is in")
    ax.set_ylabel("images")
    ax.set_title("How often each image is tested")


def _labels(ax, report: pd.DataFrame, top: int) -> None:
    rows = report[report["ratio"] == top]
    table = rows.pivot_table(index=["split", "subset"], columns="clinical_label", values="percent", fill_value=0)
    table = table.sort_index(level=["split", "subset"], ascending=[True, False])
    bottom = np.zeros(len(table))
    positions = np.arange(len(table))
    for label in table.columns:
        ax.bar(positions, table[label].to_numpy(), bottom=bottom, label=label)
        bottom += table[label].to_numpy()
    ax.set_xticks(positions, [f"set {s}\n{sub}" for s, sub in table.index], fontsize="small")
    ax.set_ylabel("% of the subset's images")
    ax.set_title(f"Clinical labels per subset ({top}:{100 - top} sets)")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0), title="label")


def _depletion(ax, sizes: pd.DataFrame) -> None:
    for split, rows in sizes.groupby("split"):
        ax.plot(rows["ratio"], rows["train_percent"], marker="o", label=f"set {split}")
    ratios = sorted(sizes["ratio"].unique())
    ax.plot(ratios, ratios, color="grey", linestyle="--", label="nominal")
    ax.set_xlabel("nominal train %")
    ax.set_ylabel("actual train % (whole groups)")
    ax.set_title("Depletion chain: train share per ratio")
    ax.legend(fontsize="small")
