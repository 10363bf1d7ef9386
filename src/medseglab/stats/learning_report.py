"""The learning curves in the report: the display table, metrics.json numbers, the CLI's lines and
``plots/learning_curves.png`` (the numbers come from ``stats.learning_study``)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from medseglab.names import INITS
from medseglab.stats.learning_study import MULTIPLES, LearningCurves
from medseglab.stats.provenance import UNKNOWN, Provenance
from medseglab.stats.tables import INIT_NAMES, METRIC_NAMES, Table, _labelled, fmt

HEADLINE_METRIC = "dice"  # the target and metrics.json are about median Dice (the question)


def _ci(value, low, high, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{fmt(value, digits)} [{fmt(low, digits)}, {fmt(high, digits)}]"


def _backtest_cell(row: pd.Series) -> str:
    if row["status"] != "ok":
        return row["status"]
    return (f"{fmt(row['predicted'])} vs {fmt(row['observed'])} (error {row['error']:+.4f}; "
            f"CI [{fmt(row['predicted_ci_low'])}, {fmt(row['predicted_ci_high'])}])")


def _points_note(curves: LearningCurves) -> str:
    p = curves.points.drop_duplicates("train_pct").sort_values("train_pct")
    if p.empty:
        return "No points."
    splits = ", ".join(f"{t}% split {s}" for t, s in zip(p["train_pct"], p["split"]))
    if (p["repeats"] == "all").all():
        return f"Points: Table 2's medians at {splits}."
    return (f"Points: medians of repeat(s) {p['repeats'].iloc[0].replace(';', ', ')} only at {splits}: the repeats "
            "every training % has, so each point is the same kind of model (Table 2 combines all repeats where "
            "there are more, so its medians differ there).")


def summary_table(curves: LearningCurves, dataset: str, provenance: Provenance = UNKNOWN) -> Table:
    """``learning_curves_summary``: one display row per metric x init, with the notes that say how to read it."""
    o = curves.options
    back = curves.backtest.set_index(["metric", "init"]) if not curves.backtest.empty else None
    rows = []
    for r in curves.summary.itertuples(index=False):
        rec = {"metric": METRIC_NAMES.get(r.metric, r.metric), "init": INIT_NAMES[r.init], "model": r.model,
               "training % (n images)": ", ".join(f"{p} ({n})" for p, n in zip(r.train_pct.split(";"), r.n_train.split(";")))}
        for k in MULTIPLES:
            col = "median_at_full" if k == 1 else f"median_at_{k}x"
            rec[f"median at {k}x data ({k * r.n_full:,.0f})"] = _ci(getattr(r, col), getattr(r, f"{col}_ci_low"),
                                                                   getattr(r, f"{col}_ci_high"))
        rec[f"images for median {o.target:g}"] = r.target_result
        if back is not None and (r.metric, r.init) in back.index:
            rec[f"backtest: predicted vs observed at {curves.main_ratio}%"] = _backtest_cell(back.loc[(r.metric, r.init)])
        rows.append(rec)
    crossing = curves.summary.drop_duplicates("metric")
    first = curves.summary.iloc[0] if not curves.summary.empty else None
    notes = [
        "Law: median score = a - b (n/n_ref)^-c (ipl3) with n the training images (the split's train set, validation "
        "part included) and n_ref the largest fitted; from fewer than "
        f"{o.min_points_3p} training % the asymptote is fixed at 1 (ipl2: 2 parameters; through 2 points it is exact), "
        "as column model says. Least squares with 0 <= a <= 1, b >= 0, 0 <= c <= 5: a grid over c (a, b exact for "
        "each c), polished by scipy.optimize.curve_fit.",
        _points_note(curves) + f" 'k x data' = k times the split's whole dataset ({curves.n_full:,.0f} images, "
        "train + test)" + (f"; n_train {first['n_train_source']}." if first is not None else "."),
        f"[low, high]: {o.confidence:.0%} percentile bootstrap interval over {o.bootstrap} replicates: test images (and the repeats, "
        "where a point averages several) resampled per training %, the curve refitted.",
        f"Images for median {o.target:g}: where the fitted curve reaches it; 'not reached within {o.horizon:g}x' when it "
        f"is beyond {o.horizon:g} times the dataset or the asymptote is below it.",
        f"Backtest: fitted on the training % below {curves.main_ratio} only, then predicting the {curves.main_ratio}% "
        "median (error = predicted - observed).",
        *[f"{METRIC_NAMES.get(c.metric, c.metric)}: TII vs LMI: {c.crossing_note}"
          + (f" (curves cross in {c.crossing_share:.0%} of the bootstrap replicates)" if math.isfinite(c.crossing_share) else "")
          for c in crossing.itertuples(index=False)],
        "Extrapolation beyond the largest training set assumes the power law holds there; read the bands, not only "
        "the point values.",
    ]
    title = f"Learning curves. {dataset}: median per-image score against the number of training images"
    return _labelled(Table("learning_curves_summary", title, pd.DataFrame(rows), notes), provenance)


def _num(value):
    value = float(value)
    return value if math.isfinite(value) else None


def headline(curves: LearningCurves) -> dict:
    """metrics.json's ``learning_curve``: per init the Dice curve's predictions, images for the target
    (with CI; null = not reached) and the backtest error; the TII/LMI crossing (null = none)."""
    s = curves.summary.loc[curves.summary["metric"] == HEADLINE_METRIC].set_index("init")
    b = curves.backtest.loc[curves.backtest["metric"] == HEADLINE_METRIC].set_index("init")
    out: dict = {"target": curves.options.target, "n_full": _num(curves.n_full)}
    for init in INITS:
        if init not in s.index:
            continue
        r = s.loc[init]
        rec = {"n_points": int(r["n_points"]), "a": _num(r["a"]), "b": _num(r["b"]), "c": _num(r["c"]),
               "n_ref": _num(r["n_ref"]), "three_parameters": 1 if r["model"] == "ipl3" else 0}
        for k in MULTIPLES:
            col = "median_at_full" if k == 1 else f"median_at_{k}x"
            rec[col] = _num(r[col])
        rec["images_for_target"] = _num(r["images_for_target"]) if r["target_within_horizon"] else None
        rec["images_for_target_ci_low"] = _num(r["images_for_target_ci_low"])
        rec["images_for_target_ci_high"] = _num(r["images_for_target_ci_high"])
        if init in b.index:
            rec["backtest_error"] = _num(b.loc[init, "error"])
            rec["backtest_abs_error"] = _num(b.loc[init, "abs_error"])
        out[init] = rec
    if not s.empty:
        out["crossing_n"] = _num(s["crossing_n"].iloc[0])
    return out


def lines(curves: LearningCurves) -> list[str]:
    """What the CLI prints: per init, the Dice curve and its backtest."""
    o = curves.options
    s = curves.summary.loc[curves.summary["metric"] == HEADLINE_METRIC]
    b = curves.backtest.loc[curves.backtest["metric"] == HEADLINE_METRIC].set_index("init")
    out = []
    for r in s.itertuples(index=False):
        if r.model == "none":
            out.append(f"learning curve, Dice {r.init.upper()}: {r.note}")
            continue
        out.append(f"learning curve, Dice {r.init.upper()} ({r.model}, {r.n_points} points: a={r.a:.4f} b={r.b:.4f} "
                   f"c={r.c:.3f}, n_ref={r.n_ref:,.0f}): median {r.median_at_full:.4f} at {r.n_full:,.0f} images, "
                   f"{r.median_at_2x:.4f} at 2x, {r.median_at_10x:.4f} at 10x; images for {o.target:g}: {r.target_result}")
        if r.init in b.index:
            back = b.loc[r.init]
            out.append(f"  backtest (fit {back['fit_train_pct'].replace(';', ', ')}% -> {back['target_train_pct']}%): "
                       + (_backtest_cell(back) if back["status"] == "ok" else back["status"]))
    if not s.empty:
        out.append(f"learning curve, Dice TII vs LMI: {s['crossing_note'].iloc[0]}")
    return out


def _backtest_legend(ratio: int):
    from matplotlib.lines import Line2D

    return Line2D([], [], color="0.3", ls=":", marker="x", label=f"backtest: fit below {ratio}% (dotted), its {ratio}% prediction (x)")


def plot(curves: LearningCurves, title: str, path: str | Path, provenance: Provenance = UNKNOWN) -> Path:
    """Per metric: the medians (bootstrap CI) against training images (log axis), the fitted curve and its
    band per init, the backtest's curve (dotted) with its prediction (x), the target on Dice, and the
    dataset's size at 1x, 2x, 10x (grey)."""
    from medseglab.stats.plots import COLORS, _finish, _subplots, median_panel

    metrics = list(dict.fromkeys(curves.summary["metric"])) if not curves.summary.empty else []
    fig, axes = _subplots(max(1, len(metrics)), 3.4, 3.4)
    handles: dict[str, object] = {}
    for ax, metric in zip(axes[0], metrics):
        shown = []
        for init in INITS:
            colour, label = COLORS[init], provenance.init_label(init)
            p = curves.points.loc[(curves.points["metric"] == metric) & (curves.points["init"] == init)]
            band = curves.bands.loc[(curves.bands["metric"] == metric) & (curves.bands["init"] == init)]
            if not band.empty:
                ax.fill_between(band["n_train"], band["band_low"], band["band_high"], color=colour, alpha=0.15, lw=0)
                (line,) = ax.plot(band["n_train"], band["fit"], "-", color=colour,
                                  label=f"{label}: fit ({curves.options.confidence:.0%} band)")
                handles.setdefault(line.get_label(), line)
                shown.append(band["fit"].to_numpy())  # the limits follow the fit and points; a wide band is cut
            err = np.vstack([p["median"] - p["ci_low"], p["ci_high"] - p["median"]]).clip(min=0)
            h = ax.errorbar(p["n_train"], p["median"], yerr=err, fmt="o", color=colour, ms=4, capsize=2,
                            label=f"{label}: median (CI)")
            handles.setdefault(f"{label}: median (CI)", h)
            shown += [p["median"].to_numpy(), p["ci_low"].to_numpy(), p["ci_high"].to_numpy()]
            back = curves.backtest_fits.get((metric, init))
            if back is not None and not band.empty:
                row = curves.backtest.set_index(["metric", "init"]).loc[(metric, init)]
                ax.plot(band["n_train"], back.predict(band["n_train"]), ":", color=colour, lw=1)
                ax.plot([row["n_train_target"]], [row["predicted"]], "x", color=colour, ms=7)
                handles.setdefault("backtest", _backtest_legend(curves.main_ratio))
        if metric == HEADLINE_METRIC:
            ax.axhline(curves.options.target, color="k", lw=0.7, ls="--")
            ax.annotate(f"target {curves.options.target:g}", (0.02, curves.options.target), xycoords=("axes fraction", "data"),
                        fontsize=7, va="bottom")
            shown.append(np.array([curves.options.target]))
        for k in MULTIPLES:
            ax.axvline(k * curves.n_full, color="0.6", lw=0.7)
            ax.annotate(f"{k}x data", (k * curves.n_full, 0.01), xycoords=("data", "axes fraction"), rotation=90,
                        fontsize=7, color="0.4", ha="right", va="bottom")
        ax.set_xscale("log")
        median_panel(ax, shown, metric, "training images (log scale)")
    if handles:
        fig.legend(list(handles.values()), [h.get_label() if k == "backtest" else k for k, h in handles.items()],
                   loc="outside lower center", ncol=min(len(handles), 3), fontsize=8, frameon=False)
    return _finish(fig, title, path, provenance)
