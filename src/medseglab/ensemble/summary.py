"""Summaries of an Algorithm 1 choice table: how often each output wins, and the Dice it gains.

Pure functions on the choice table of ``algorithm.choice_table`` (one row per image and split).
"""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pandas as pd
from scipy import stats

from medseglab.ensemble.algorithm import BRANCHES, CANDIDATES
from medseglab.names import INITS

BASELINES = INITS  # the single models the chosen output is compared with


def choice_counts(choices: pd.DataFrame) -> pd.DataFrame:
    """Long table: branch ("all" + each branch), output, count, fraction (of the branch's images)."""
    rows = []
    for branch in ("all",) + BRANCHES:
        part = choices if branch == "all" else choices[choices["branch"] == branch]
        total = len(part)
        counts = part["chosen"].value_counts()
        for cand in CANDIDATES:
            count = int(counts.get(cand, 0))
            rows.append(
                {"branch": branch, "output": cand, "count": count, "n_images": total,
                 "fraction": count / total if total else math.nan}
            )
    return pd.DataFrame(rows)


def _wilcoxon(diff: np.ndarray) -> tuple[float, float, str]:
    """Two-sided paired Wilcoxon signed-rank on differences; zero differences are dropped (scipy's
    default "wilcox"), so an image where the chosen output *is* the baseline does not count."""
    nonzero = diff[diff != 0]
    if nonzero.size == 0:
        return math.nan, math.nan, "no image differs: test undefined"
    result = stats.wilcoxon(nonzero)
    return float(result.statistic), float(result.pvalue), ""


def dice_gain(choices: pd.DataFrame, by_split: bool = True) -> pd.DataFrame:
    """Dice of the chosen output against LMI alone and TII alone.

    One row per scope ("all" images pooled, and "split <k>" for each split when ``by_split``)
    and baseline: n (images with a defined Dice, i.e. non-empty ground truth), median_chosen,
    median_baseline, median_gain (median of the paired differences chosen - baseline),
    mean_gain, n_better, n_equal, n_worse, wilcoxon_statistic, p_value, note.
    Pooling splits counts an image once per test set it is in (test sets overlap, SPEC 2).
    """
    scopes: list[tuple[str, pd.DataFrame]] = [("all", choices)]
    if by_split and choices["split"].notna().any() and choices["split"].nunique() > 1:
        scopes += [(f"split {int(s)}", part) for s, part in choices.groupby("split", sort=True)]
    rows = []
    for scope, part in scopes:
        defined = part[part["chosen_dice"].notna()]
        chosen = defined["chosen_dice"].to_numpy(np.float64)
        for base in BASELINES:
            other = defined[f"dice_{base}"].to_numpy(np.float64)
            diff = chosen - other
            statistic, p_value, note = _wilcoxon(diff) if diff.size else (math.nan, math.nan, "no image with ground truth")
            rows.append(
                {
                    "scope": scope,
                    "baseline": base,
                    "n": int(diff.size),
                    "median_chosen": float(np.median(chosen)) if diff.size else math.nan,
                    "median_baseline": float(np.median(other)) if diff.size else math.nan,
                    "median_gain": float(np.median(diff)) if diff.size else math.nan,
                    "mean_gain": float(np.mean(diff)) if diff.size else math.nan,
                    "n_better": int((diff > 0).sum()),
                    "n_equal": int((diff == 0).sum()),
                    "n_worse": int((diff < 0).sum()),
                    "wilcoxon_statistic": statistic,
                    "p_value": p_value,
                    "note": note,
                }
            )
    return pd.DataFrame(rows)


def headline_metrics(counts: pd.DataFrame, gains: pd.DataFrame) -> dict[str, float]:
    """Flat numbers for the study's parent run (MLflow metric names, no NaN)."""
    out: dict[str, float] = {}
    overall = counts[counts["branch"] == "all"]
    for row in overall.itertuples():
        if not math.isnan(row.fraction):
            out[f"ensemble.chosen_fraction.{row.output}"] = float(row.fraction)
    pooled = gains[gains["scope"] == "all"]
    for row in pooled.itertuples():
        values = {
            "ensemble.median_dice_chosen": row.median_chosen,
            f"ensemble.median_dice_{row.baseline}": row.median_baseline,
            f"ensemble.median_gain_vs_{row.baseline}": row.median_gain,
            f"ensemble.mean_gain_vs_{row.baseline}": row.mean_gain,
            f"ensemble.wilcoxon_p_vs_{row.baseline}": row.p_value,
        }
        out.update({k: float(v) for k, v in values.items() if not math.isnan(v)})
    return out


def _fmt(value: float, digits: int = 4) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{value:.{digits}f}"
    return str(value)


def _md_table(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def counts_matrix(counts: pd.DataFrame) -> pd.DataFrame:
    """Wide view: one row per branch, one count column per output, plus n_images."""
    wide = counts.pivot(index="branch", columns="output", values="count").reindex(
        index=["all", *BRANCHES], columns=list(CANDIDATES)
    )
    wide["n_images"] = wide.sum(axis=1)
    return wide.reset_index()


def summary_markdown(counts: pd.DataFrame, gains: pd.DataFrame, *, dataset: str, threshold: float, combine: str) -> str:
    """The human summary written beside summary.csv."""
    lines = [
        f"# Algorithm 1 on `{dataset}`",
        "",
        f"Dice threshold {threshold}; repeats combined by `{combine}`. Rule: every Dice >= threshold -> "
        "highest AUROC; every Dice < threshold -> highest Dice; mixed -> highest Dice (the paper does "
        "not spell this case out); empty ground truth -> lowest FPR. Ties: lmi, tii, union, intersection.",
        "",
        "## How often each output was chosen",
        "",
        _md_table(counts_matrix(counts)),
        "",
        "## Dice of the chosen output vs each model alone (oracle gains)",
        "",
        "With ground truth Algorithm 1 is an oracle: it reads each image's true Dice, so where Dice decides its "
        "gain over LMI or TII is never negative (only the all-above branch, decided by AUROC, can cost a little "
        "Dice). What a deployment without ground truth gets is the estimated choice (`estimator_evaluation.json`).",
        "",
        "Paired two-sided Wilcoxon signed-rank test over images with ground truth (zero "
        "differences dropped). Gain = chosen - baseline.",
        "",
        _md_table(gains.drop(columns=["note"]) if not gains["note"].astype(bool).any() else gains),
        "",
    ]
    return "\n".join(lines)


def choices_figure(counts: pd.DataFrame, path, title: str = "Algorithm 1: output chosen per image") -> None:
    """Bar chart PNG: how often each output was chosen, stacked by branch."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state

    wide = counts_matrix(counts).set_index("branch")
    fig = Figure(figsize=(7, 4), dpi=120)
    ax = fig.subplots()
    bottom = np.zeros(len(CANDIDATES))
    colours = {"all_above": "#2a9d8f", "all_below": "#e76f51", "mixed": "#e9c46a", "empty_gt": "#8d99ae"}
    for branch in BRANCHES:
        values = wide.loc[branch, list(CANDIDATES)].to_numpy(dtype=float)
        ax.bar(CANDIDATES, values, bottom=bottom, label=branch, color=colours[branch])
        bottom += values
    for x, total in enumerate(bottom):
        ax.text(x, total, f"{int(total)}", ha="center", va="bottom")
    ax.set_ylabel("images")
    ax.set_ylim(0, max(1.0, float(bottom.max())) * 1.15)  # room for the totals above the bars
    # each title line wrapped to the plot's width; the saved area grows to hold title and legend
    ax.set_title("\n".join(textwrap.fill(line, 64) for line in title.split("\n")), fontsize=10)
    ax.legend(title="branch", frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, format="png", bbox_inches="tight")
