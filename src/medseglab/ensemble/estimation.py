"""Algorithm 1 without ground truth, evaluated on a study's test sets: the estimated choice
(``estimator``) against the oracle choice (Algorithm 1 with ground truth) and the better single model.

Where the estimator of split ``s`` is fitted (never on split ``s``'s test images): each training
holds out its own random validation images (``train.val_fraction``, seeded per repeat), so almost no
image of a split's train set is unseen by *every* repeat of that split. The images of split ``s``'s
train set are, however, test images of the study's other splits, whose trainings (same config,
same ratio, other train images) never saw them and already scored them (``probabilities.npz``). So
the estimator of split ``s`` is fitted on the other splits' outputs for the images of ``s``'s train
set (``cross_fit``): no image of ``s``'s test set, no image a model trained on, nothing predicted
again. A study with one split has no such images and gets no estimator (a note says so).

Pure functions on the choice table (``algorithm.choice_table``) and the feature table
(``estimator.image_features`` rows with ``split`` and ``image_id``); the stage writes the files.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from medseglab.ensemble.estimator import DiceEstimator, estimated_choice
from medseglab.ensemble.summary import _wilcoxon
from medseglab.names import CANDIDATES, INITS

FILES = ("estimated_choice.csv", "estimator_evaluation.json", "estimated_vs_oracle.png", "estimator.json")
ORACLE_NOTE = ("oracle = Algorithm 1 with ground truth: it looks at each image's true Dice, so where Dice decides its "
               "gains over LMI and TII can never be negative (where every Dice is >= the threshold AUROC decides, "
               "which can cost a little Dice); the estimated choice is what a deployment without ground truth gets")


def cross_fit(features: pd.DataFrame, choices: pd.DataFrame, *, combine: str, threshold: float,
              info: dict | None = None) -> tuple[pd.DataFrame, dict[int, DiceEstimator], list[str]]:
    """Per split, fit the estimator on the other splits' rows of images outside its test set, and
    estimate its test images. Returns (estimated-choice table of every split that has an estimator,
    {split: estimator}, notes about splits left out)."""
    key = ["split", "image_id"]
    merged = choices.merge(features, on=key, how="inner", validate="one_to_one")
    if len(merged) != len(choices):
        raise ValueError(f"{len(choices) - len(merged)} choice rows have no features")
    tables, estimators, notes = [], {}, []
    for split in sorted(int(s) for s in merged["split"].astype(int).unique()):
        here = merged[merged["split"].astype(int) == split]
        fit = merged[(merged["split"].astype(int) != split) & ~merged["image_id"].isin(set(here["image_id"]))]
        if fit.empty:
            notes.append(f"split {split}: no other split's outputs on its train images; no Dice estimator "
                         "(the estimator needs a study with at least two splits)")
            continue
        try:
            est = DiceEstimator.fit(fit, fit, combine=combine, threshold=threshold,
                                    info={**(info or {}), "split": split, "fit_images": int(fit["image_id"].nunique()),
                                          "fit_rows": len(fit), "fit_from_splits": sorted(int(s) for s in fit["split"].unique())})
        except ValueError as exc:
            notes.append(f"split {split}: {exc}; no Dice estimator")
            continue
        estimators[split] = est
        tables.append(choice_rows(here, est.predict(here)))
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    return table, estimators, notes


def choice_rows(rows: pd.DataFrame, estimates: np.ndarray) -> pd.DataFrame:
    """The estimated-choice table: per image its estimated Dice per candidate, the estimated and the
    oracle choice, every candidate's true Dice and the true Dice of both choices."""
    picked = estimated_choice(estimates)
    truth = rows[[f"dice_{c}" for c in CANDIDATES]].to_numpy(np.float64)
    index = pd.Index(CANDIDATES).get_indexer(picked)
    out = pd.DataFrame({"image_id": rows["image_id"].astype(str).to_numpy(), "split": rows["split"].to_numpy(),
                        "ratio": rows["ratio"].to_numpy()})
    for j, cand in enumerate(CANDIDATES):
        out[f"est_dice_{cand}"] = estimates[:, j]
    out["estimated_choice"] = picked.astype(str)
    out["oracle_choice"] = rows["chosen"].astype(str).to_numpy()
    out["oracle_branch"] = rows["branch"].astype(str).to_numpy()
    for j, cand in enumerate(CANDIDATES):
        out[f"dice_{cand}"] = truth[:, j]
    out["estimated_choice_dice"] = truth[np.arange(len(truth)), index]
    out["oracle_choice_dice"] = rows["chosen_dice"].to_numpy(np.float64)
    return out


def _paired(a: np.ndarray, b: np.ndarray) -> dict:
    statistic, p_value, note = _wilcoxon(a - b)
    diff = a - b
    return {"wilcoxon_statistic": statistic, "p_value": p_value, "median_difference": float(np.median(diff)),
            "n_better": int((diff > 0).sum()), "n_equal": int((diff == 0).sum()), "n_worse": int((diff < 0).sum()),
            "note": note}


def evaluate(table: pd.DataFrame) -> dict:
    """Median Dice of the estimated choice, the oracle choice and the better single model (the init
    with the higher median Dice on these images: a baseline picked with hindsight, so the comparison
    does not flatter the estimate), paired Wilcoxon tests, Spearman correlation of estimated and true
    Dice (all image-candidate pairs, and per candidate) and how often the two choices agree."""
    defined = table[table["oracle_choice_dice"].notna()]
    n = len(defined)
    out: dict = {"n_images": n, "n_images_empty_gt": int(len(table) - n), "oracle_note": ORACLE_NOTE}
    if n == 0:
        return {**out, "note": "no test image with ground truth"}
    medians = {init: float(defined[f"dice_{init}"].median()) for init in INITS}
    best = max(INITS, key=lambda i: (medians[i], -INITS.index(i)))
    est = defined["estimated_choice_dice"].to_numpy(np.float64)
    oracle = defined["oracle_choice_dice"].to_numpy(np.float64)
    single = defined[f"dice_{best}"].to_numpy(np.float64)
    truth = defined[[f"dice_{c}" for c in CANDIDATES]].to_numpy(np.float64).ravel()
    guess = defined[[f"est_dice_{c}" for c in CANDIDATES]].to_numpy(np.float64).ravel()
    per_cand = {c: float(stats.spearmanr(defined[f"est_dice_{c}"], defined[f"dice_{c}"]).statistic)
                for c in CANDIDATES}
    out.update({
        "median_dice": {"estimated_choice": float(np.median(est)), "oracle_choice": float(np.median(oracle)),
                        "best_single": float(np.median(single)), **{init: medians[init] for init in INITS}},
        "mean_dice": {"estimated_choice": float(np.mean(est)), "oracle_choice": float(np.mean(oracle)),
                      "best_single": float(np.mean(single))},
        "best_single": best,
        "estimated_vs_oracle": _paired(est, oracle),
        "estimated_vs_best_single": _paired(est, single),
        "spearman": float(stats.spearmanr(guess, truth).statistic),
        "spearman_per_candidate": per_cand,
        "agreement_rate": float((defined["estimated_choice"] == defined["oracle_choice"]).mean()),
        "estimated_choice_counts": {c: int((defined["estimated_choice"] == c).sum()) for c in CANDIDATES},
        "oracle_choice_counts": {c: int((defined["oracle_choice"] == c).sum()) for c in CANDIDATES},
    })
    return out


def evaluation_report(table: pd.DataFrame, split: int | None, estimators: dict[int, DiceEstimator],
                      notes: list[str]) -> dict:
    """The JSON written as ``estimator_evaluation.json``: the chosen split's images at the top level
    (all splits when None), each split and all splits pooled under ``scopes``."""
    main = table if split is None else table[table["split"].astype(int) == int(split)]
    scopes = {"all": evaluate(table)} if table["split"].nunique() > 1 else {}
    scopes.update({f"split {int(s)}": evaluate(part) for s, part in table.groupby("split", sort=True)})
    return {**evaluate(main), "scope": "all splits" if split is None else f"split {split}", "split": split,
            "scopes": scopes, "notes": notes,
            "estimators": {str(s): {"n_fit": e.n_fit, **e.info} for s, e in estimators.items()},
            "estimator": "one Huber linear model for all candidates (no candidate identity) on repeat, init and "
                         "consensus agreement, mask area and probability margin (medseglab.ensemble.estimator)"}


def report_rows(report: dict | None) -> list[dict]:
    """One row per scope of an ``estimator_evaluation.json`` report (the dashboard's table): medians,
    p-values, Spearman and agreement, rounded for people."""
    if not report:
        return []
    rows = []
    for scope, part in ({report["scope"]: report} | dict(report.get("scopes") or {})).items():
        if "median_dice" not in part:
            continue
        med = part["median_dice"]
        rows.append({"scope": scope, "n": part["n_images"], "median estimated choice": round(med["estimated_choice"], 4),
                     "median oracle choice": round(med["oracle_choice"], 4),
                     "median best single": round(med["best_single"], 4), "best single": part["best_single"],
                     "p estimated vs oracle": f"{part['estimated_vs_oracle']['p_value']:.3g}",
                     "p estimated vs best single": f"{part['estimated_vs_best_single']['p_value']:.3g}",
                     "Spearman": round(part["spearman"], 3), "same choice as oracle": f"{part['agreement_rate']:.1%}"})
    return rows


def headline_metrics(report: dict) -> dict[str, float]:
    """Flat numbers for the study's parent run (``ensemble.estimated.*``; no NaN)."""
    values = {
        "ensemble.estimated.median_dice_estimated": report.get("median_dice", {}).get("estimated_choice"),
        "ensemble.estimated.median_dice_oracle": report.get("median_dice", {}).get("oracle_choice"),
        "ensemble.estimated.median_dice_best_single": report.get("median_dice", {}).get("best_single"),
        "ensemble.estimated.spearman": report.get("spearman"),
        "ensemble.estimated.agreement_rate": report.get("agreement_rate"),
        "ensemble.estimated.p_vs_oracle": report.get("estimated_vs_oracle", {}).get("p_value"),
        "ensemble.estimated.p_vs_best_single": report.get("estimated_vs_best_single", {}).get("p_value"),
    }
    return {k: float(v) for k, v in values.items() if v is not None and not math.isnan(float(v))}


def estimated_figure(table: pd.DataFrame, report: dict, path, title: str) -> None:
    """PNG: estimated vs true Dice per candidate (left) and the Dice of the three choices (right)."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state

    colours = {"lmi": "#e76f51", "tii": "#2a9d8f", "union": "#264653", "intersection": "#e9c46a"}
    defined = table[table["oracle_choice_dice"].notna()]
    fig = Figure(figsize=(11, 4.6), dpi=120)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.15, 1]})
    for cand in CANDIDATES:
        left.scatter(defined[f"est_dice_{cand}"], defined[f"dice_{cand}"], s=6, alpha=0.35, color=colours[cand],
                     label=cand, linewidths=0)
    left.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="estimate = truth")
    left.set_xlim(-0.02, 1.02)
    left.set_ylim(-0.02, 1.02)
    left.set_xlabel("estimated Dice (no ground truth)")
    left.set_ylabel("true Dice")
    left.set_title(f"each candidate, {report.get('n_images', 0)} images: Spearman {report.get('spearman', math.nan):.3f}",
                   fontsize=10)
    left.legend(frameon=False, fontsize=8, loc="upper left", markerscale=2)
    best = report.get("best_single", INITS[-1])
    series = [("estimated\nchoice", defined["estimated_choice_dice"]),
              ("oracle choice\n(uses ground truth)", defined["oracle_choice_dice"]),
              (f"best single\n({best.upper()})", defined[f"dice_{best}"] if len(defined) else defined["oracle_choice_dice"])]
    data = [s.dropna().to_numpy() for _, s in series]
    right.boxplot(data, showfliers=False, widths=0.5, medianprops={"color": "black"})
    right.set_xticks(range(1, len(series) + 1), [name for name, _ in series])
    for x, values in enumerate(data, start=1):
        if values.size:
            med = float(np.median(values))
            right.text(x + 0.28, med, f"{med:.3f}", va="center", fontsize=9)
    right.set_ylabel("Dice of the chosen output")
    agree = report.get("agreement_rate", math.nan)
    p = report.get("estimated_vs_oracle", {}).get("p_value", math.nan)
    right.set_title(f"median (boxes: quartiles); the two choices agree on {agree:.0%} of images,\n"
                    f"estimated vs oracle Wilcoxon p = {p:.2g}", fontsize=10)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, format="png")
