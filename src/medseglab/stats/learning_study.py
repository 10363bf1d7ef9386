"""A study's learning curves (docs/STATISTICS.md "Learning curves"): per init and metric, the median
per-image score of each training % (Table 2's points) against its number of training images, an
inverse power law fitted through them (``stats.learning_curve``), bootstrap bands over test images
(and repeats, where a model has several and the level is ``repeat_mean``), predictions at 1x, 2x
and 10x the dataset, the images needed for a target score, where TII and LMI cross, and a backtest:
fit on the training % below the main one (80) and predict its median.

Outputs (``reports/<dataset>/tables/``): ``learning_curves.csv`` (one numeric row per metric x
init), ``learning_curve_backtest.csv``, ``learning_curve_points.csv``, ``learning_curve_bands.csv``
and the display table ``learning_curves_summary``; ``plots/learning_curves.png``.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pandas as pd

from medseglab.stats import learning_curve as lc
from medseglab.stats.summary import INITS, StudyStatistics

TOP = 1.0  # every score the curves are fitted to lies in [0, 1]
CURVE_METRICS = ("auroc_mask", "dice", "sensitivity", "specificity", "auroc_prob", "precision")
MULTIPLES = (1, 2, 10)  # predictions at these multiples of the dataset's size


@dataclasses.dataclass(frozen=True)
class CurveOptions:
    """``stats.learning_curve`` in params.yaml."""

    metrics: tuple[str, ...] = ("dice", "auroc_mask", "sensitivity", "specificity")
    target: float = 0.9
    model: str = "auto"
    min_points_3p: int = 4
    bootstrap: int = 1000
    confidence: float = 0.95
    horizon: float = 100.0
    seed: int = 0

    @classmethod
    def from_params(cls, params: dict) -> "CurveOptions":
        from medseglab.config import ConfigError

        section = dict((params.get("stats") or {}).get("learning_curve") or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(section) - known)
        if unknown:
            raise ConfigError(f"params.yaml stats.learning_curve: unknown key(s) {unknown}; known keys are {sorted(known)}")
        try:
            opts = cls(**{k: (tuple(v) if k == "metrics" else type(getattr(cls, k))(v)) for k, v in section.items()})
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"params.yaml stats.learning_curve: {exc}") from exc
        opts.validate()
        return opts

    def validate(self) -> None:
        from medseglab.config import ConfigError

        where = "params.yaml stats.learning_curve"
        bad = [m for m in self.metrics if m not in CURVE_METRICS]
        if bad:
            raise ConfigError(f"{where}.metrics: {bad} cannot be fitted (scores in [0, 1] only: {CURVE_METRICS})")
        if self.model not in ("auto", *lc.MODELS):
            raise ConfigError(f"{where}.model={self.model!r}: choose auto, ipl3 or ipl2")
        if not 0 < self.target < TOP:
            raise ConfigError(f"{where}.target={self.target}: a score between 0 and 1 (e.g. 0.9)")
        if self.min_points_3p < 3:
            raise ConfigError(f"{where}.min_points_3p={self.min_points_3p}: three parameters need at least 3 points")
        if self.bootstrap < 0 or not 0 < self.confidence < 1 or self.horizon <= 1:
            raise ConfigError(f"{where}: bootstrap >= 0, confidence in (0, 1) and horizon > 1 expected")


@dataclasses.dataclass
class LearningCurves:
    summary: pd.DataFrame  # learning_curves.csv
    backtest: pd.DataFrame  # learning_curve_backtest.csv
    points: pd.DataFrame  # learning_curve_points.csv
    bands: pd.DataFrame  # learning_curve_bands.csv
    fits: dict  # (metric, init) -> lc.Fit or None
    backtest_fits: dict
    options: CurveOptions
    main_ratio: int
    n_full: float


# ----------------------------------------------------------------------------- training set sizes


def train_sizes_from_split_report(report: pd.DataFrame) -> pd.DataFrame:
    """(split, ratio, n_train, n_test) from a ``split_report.csv`` (one row per split, ratio, subset, label)."""
    counts = report.groupby(["split", "ratio", "subset"])["n_images"].sum().unstack("subset", fill_value=0)
    counts = counts.reindex(columns=["train", "test"], fill_value=0).rename(columns={"train": "n_train", "test": "n_test"})
    counts.columns.name = None
    return counts.reset_index().astype({"split": int, "ratio": int})


def _sizes(points: pd.DataFrame, train_sizes: pd.DataFrame | None) -> pd.DataFrame:
    """``points`` (split, ratio, n_test_images) + n_train, n_full and where n_train comes from: the
    split report, else estimated from the test-set size (n_test * ratio / (100 - ratio))."""
    out = points.copy()
    known = None
    if train_sizes is not None and not train_sizes.empty:
        known = out.merge(train_sizes[["split", "ratio", "n_train", "n_test"]], on=["split", "ratio"], how="left")
    if known is not None and known["n_train"].notna().all():
        out["n_train"] = known["n_train"].astype(float).to_numpy()
        out["n_full"] = (known["n_train"] + known["n_test"]).astype(float).to_numpy()
        out["n_train_source"] = "split report"
    else:
        r = out["ratio"].astype(float)
        out["n_train"] = np.round(out["n_test_images"] * r / (100.0 - r))
        out["n_full"] = out["n_train"] + out["n_test_images"]
        out["n_train_source"] = "estimated from the test-set size"
    return out


# ----------------------------------------------------------------------------- medians and bootstrap


def chain(stats: StudyStatistics, per_repeat: pd.DataFrame, curve: pd.DataFrame) -> tuple[pd.DataFrame, list | None]:
    """The models a curve compares, like for like: (train_pct, split) per training % and the repeats
    to use (None = all, the level's values, Table 2's medians). The split is the depletion chain's: the
    one trained at the most training % (its train sets are nested), Table 2's split at the largest % on
    a tie; a % not trained there comes from Table 2's split. When some training % has repeats the
    others lack (the demo: 2 at 80%, 1 below), every point uses only the repeats all of them have."""
    pairs = stats.values[["ratio", "split"]].drop_duplicates().astype(int)
    counts = pairs.groupby("split").size()
    top = curve.sort_values("train_pct").iloc[-1]["split"] if not curve.empty else counts.index.min()
    best = counts[counts == counts.max()].index
    split = int(top) if top in best else int(best.min())
    table2 = curve.drop_duplicates("train_pct").set_index("train_pct")["split"]
    regimes = pd.DataFrame({"train_pct": sorted(table2.index.astype(int))})
    have = set(map(tuple, pairs.to_numpy().tolist()))
    regimes["split"] = [split if (r, split) in have else int(table2[r]) for r in regimes["train_pct"]]
    if "repeat" not in per_repeat:
        return regimes, None
    keys = per_repeat.merge(regimes.rename(columns={"train_pct": "ratio"}), on=["ratio", "split"])
    sets = [set(g["repeat"].astype(int)) for _, g in keys.groupby(["ratio", "split", "init"], observed=True)]
    common = sorted(set.intersection(*sets)) if sets else []
    return regimes, (common if sets and any(s != set(common) for s in sets) else None)


def _matrices(stats: StudyStatistics, per_repeat: pd.DataFrame, ratio: int, split: int, metrics,
              repeats: list | None = None) -> tuple[int, dict]:
    """(number of test images, {init: {metric: (images, repeats) values}}) of one regime, rows aligned
    on one image list so a bootstrap draw of images is the same draw for both inits. Level combined: the
    combined output's values (one column); repeat_mean, or only some ``repeats``: each repeat's values
    (the model value is their mean)."""
    combined = stats.level == "combined" and repeats is None
    src = stats.values if combined else per_repeat
    rows = src.loc[(src["ratio"] == ratio) & (src["split"] == split) & src["init"].isin(INITS)].copy()
    if repeats is not None:
        rows = rows.loc[rows["repeat"].astype(int).isin(repeats)]
    rows["image_id"] = rows["image_id"].astype(str)
    rows["init"] = rows["init"].astype(str)
    if combined or "repeat" not in rows:
        rows["repeat"] = 0
    ids = np.sort(rows["image_id"].unique())
    out: dict = {}
    for init, g in rows.groupby("init", sort=True):
        wide = g.groupby(["image_id", "repeat"], sort=True)[list(metrics)].mean().unstack("repeat").reindex(ids)
        out[init] = {m: wide[m].to_numpy(dtype=float) for m in metrics}
    return len(ids), out


def _model_medians(matrix: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows (empty ground truth) stay NaN
        values = np.nanmean(matrix, axis=1)
        return float(np.nanmedian(values)) if np.isfinite(values).any() else math.nan


def _boot_medians(n_images: int, mats: dict, n_boot: int, rng) -> dict:
    """{init: {metric: (n_boot,) medians}}: each replicate draws the test images with replacement (the
    same draw for every init and metric) and, per init, its repeats with replacement."""
    out = {i: {m: np.full(n_boot, np.nan) for m in ms} for i, ms in mats.items()}
    if n_images == 0 or n_boot == 0:
        return out
    n_rep = max(next(iter(ms.values())).shape[1] for ms in mats.values())
    chunk = max(1, 4_000_000 // (n_images * n_rep))
    for start in range(0, n_boot, chunk):
        k = min(chunk, n_boot - start)
        images = rng.integers(0, n_images, size=(k, n_images))
        for init, ms in mats.items():
            r = next(iter(ms.values())).shape[1]
            repeats = rng.integers(0, r, size=(k, r)) if r > 1 else None
            for metric, matrix in ms.items():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    values = matrix[:, 0][images] if repeats is None else np.nanmean(
                        matrix[images[:, :, None], repeats[:, None, :]], axis=2)
                    out[init][metric][start:start + k] = np.nanmedian(values, axis=1)
    return out


# ----------------------------------------------------------------------------- fitting


def _fit_all(n, medians, boot: np.ndarray, options: CurveOptions, n_ref: float):
    """(point fit, list of replicate fits (None where one failed)) of one metric x init."""
    finite = np.isfinite(medians)
    model = lc.choose_model(int(np.unique(np.asarray(n)[finite]).size), options.model, options.min_points_3p)
    if model is None:
        return None, []
    point = lc.fit(n, medians, model, top=TOP, n_ref=n_ref)
    if point is None:
        return None, []
    use = np.isfinite(medians)
    return point, lc.fit_many(np.asarray(n)[use], boot[use].T, model, top=TOP, n_ref=n_ref)


def _interval(values, options: CurveOptions) -> tuple[float, float]:
    return lc.percentile_interval(values, options.confidence)


def learning_curves(stats: StudyStatistics, per_repeat: pd.DataFrame, curve: pd.DataFrame, main_ratio: int,
                    options: CurveOptions, train_sizes: pd.DataFrame | None = None) -> LearningCurves:
    """Fit, bootstrap and backtest the learning curves of one dataset's study. ``curve``: Table 2's
    (train_pct, init, split): the split each training % is taken from; ``train_sizes``: (split, ratio,
    n_train, n_test) from the split report (None: estimated from the test-set sizes)."""
    metrics = [m for m in options.metrics if m in stats.values.columns]
    regimes, repeats = chain(stats, per_repeat, curve)
    rng = np.random.default_rng(options.seed)
    point_rows, boot = [], {}
    for pct, split in regimes.itertuples(index=False):
        n_images, mats = _matrices(stats, per_repeat, int(pct), int(split), metrics, repeats)
        draws = _boot_medians(n_images, mats, options.bootstrap, rng)
        for init, ms in mats.items():
            for metric, matrix in ms.items():
                boot[(metric, init, int(pct))] = draws[init][metric]
                point_rows.append({"metric": metric, "init": init, "ratio": int(pct), "split": int(split),
                                   "n_test_images": n_images, "n_repeats": matrix.shape[1],
                                   "repeats": "all" if repeats is None else ";".join(map(str, repeats)),
                                   "median": _model_medians(matrix)})
    points = _sizes(pd.DataFrame(point_rows), train_sizes)
    ratios = sorted(points["ratio"].unique())
    at_main = points.loc[points["ratio"] == main_ratio]
    n_full = float(at_main["n_full"].iloc[0]) if not at_main.empty else float(points["n_full"].max())
    lo_hi = [_interval(boot[(r.metric, r.init, r.ratio)], options) for r in points.itertuples()]
    points["ci_low"], points["ci_high"] = (np.array(lo_hi).T if lo_hi else (np.array([]), np.array([])))

    fits, backtest_fits, boot_fits, rows, back_rows, band_rows = {}, {}, {}, [], [], []
    n_grid = np.geomspace(max(1.0, 0.8 * points["n_train"].min()), n_full * max(MULTIPLES), 80)
    below = [r for r in ratios if r < main_ratio]
    for metric in metrics:
        for init in INITS:
            p = points.loc[(points["metric"] == metric) & (points["init"] == init)].sort_values("ratio")
            if p.empty:
                continue
            n = p["n_train"].to_numpy(float)
            y = p["median"].to_numpy(float)
            bmat = np.column_stack([boot[(metric, init, r)] for r in p["ratio"]]).T  # (ratios, n_boot)
            fit, reps = _fit_all(n, y, bmat, options, n_ref=n.max())
            fits[(metric, init)], boot_fits[(metric, init)] = fit, reps
            rows.append(_summary_row(metric, init, p, fit, reps, n_full, options))
            if fit is not None:
                band_rows.append(_band(metric, init, fit, reps, n_grid, options))
            back_fit, back_row = _backtest(metric, init, p, bmat, below, main_ratio, options)
            backtest_fits[(metric, init)] = back_fit
            back_rows.append(back_row)
        _crossing_columns(rows, metric, fits, boot_fits, points, n_full, options)
    summary = pd.DataFrame(rows)
    bands = pd.concat(band_rows, ignore_index=True) if band_rows else pd.DataFrame(
        columns=["metric", "init", "n_train", "fit", "band_low", "band_high"])
    points = points[["metric", "init", "ratio", "split", "n_train", "n_train_source", "n_full", "n_test_images",
                     "n_repeats", "repeats", "median", "ci_low", "ci_high"]].rename(columns={"ratio": "train_pct"})
    return LearningCurves(summary, pd.DataFrame(back_rows), points, bands, fits, backtest_fits, options,
                          int(main_ratio), n_full)


def _target_text(n_star: float, low: float, high: float, horizon_n: float, n_min: float, options: CurveOptions) -> str:
    def count(v):
        return "never" if not math.isfinite(v) else f"< {n_min:,.0f}" if v < n_min else f"{v:,.0f}"

    if math.isnan(n_star):
        return "no fit"
    ci = f" (CI {count(low)} to {count(high)}{'; upper end beyond ' + f'{options.horizon:g}x' if high > horizon_n else ''})"
    if n_star > horizon_n:
        return f"not reached within {options.horizon:g}x ({horizon_n:,.0f} images){ci}"
    if n_star < n_min:
        return f"already reached at the smallest training set ({n_min:,.0f} images){ci}"
    return f"{count(n_star)} images{ci}"


def _summary_row(metric, init, p: pd.DataFrame, fit, reps, n_full: float, options: CurveOptions) -> dict:
    ok = [r for r in reps if r is not None]
    row = {"metric": metric, "init": init, "model": fit.model if fit else "none",
           "law": lc.MODEL_NAMES[fit.model] if fit else "", "n_points": int(np.isfinite(p["median"]).sum()),
           "train_pct": ";".join(str(int(r)) for r in p["ratio"]),
           "n_train": ";".join(f"{v:.0f}" for v in p["n_train"]), "n_train_source": p["n_train_source"].iloc[0],
           "a": fit.a if fit else math.nan, "b": fit.b if fit else math.nan, "c": fit.c if fit else math.nan,
           "n_ref": fit.n_ref if fit else math.nan, "rmse": fit.rmse if fit else math.nan, "n_full": n_full}
    for k in MULTIPLES:
        col = "median_at_full" if k == 1 else f"median_at_{k}x"
        row[col] = float(fit.predict(k * n_full)) if fit else math.nan
        row[f"{col}_ci_low"], row[f"{col}_ci_high"] = _interval([float(r.predict(k * n_full)) for r in ok], options)
    horizon_n = options.horizon * n_full
    n_star = fit.images_for(options.target) if fit else math.nan
    low, high = _interval([r.images_for(options.target) for r in ok], options)
    row.update({"target": options.target, "images_for_target": n_star, "images_for_target_ci_low": low,
                "images_for_target_ci_high": high, "target_within_horizon": bool(n_star <= horizon_n),
                "target_result": _target_text(n_star, low, high, horizon_n, float(p["n_train"].min()), options),
                "n_boot": len(reps), "n_boot_ok": len(ok)})
    if fit is None:
        row["note"] = f"no fit: {row['n_points']} training % with a defined median (at least 2 needed)"
    elif fit.model == lc.IPL2:
        row["note"] = (f"{row['n_points']} points (< {options.min_points_3p}): asymptote fixed at 1, 2 parameters"
                       + ("; exact through both points" if row["n_points"] == 2 else ""))
    else:
        row["note"] = ""
    return row


def _band(metric, init, fit, reps, n_grid, options: CurveOptions) -> pd.DataFrame:
    ok = [r for r in reps if r is not None]
    frame = pd.DataFrame({"metric": metric, "init": init, "n_train": n_grid, "fit": fit.predict(n_grid)})
    if ok:
        preds = np.vstack([r.predict(n_grid) for r in ok])
        alpha = (1 - options.confidence) / 2
        frame["band_low"], frame["band_high"] = np.quantile(preds, [alpha, 1 - alpha], axis=0)
    else:
        frame["band_low"] = frame["band_high"] = np.nan
    return frame


def _backtest(metric, init, p: pd.DataFrame, bmat: np.ndarray, below: list, main_ratio: int, options: CurveOptions):
    """Fit on the training % below ``main_ratio`` and predict its median (fit, row)."""
    row = {"metric": metric, "init": init, "fit_train_pct": ";".join(map(str, below)), "target_train_pct": main_ratio,
           "n_points": 0, "model": "none", "n_train_target": math.nan, "observed": math.nan, "predicted": math.nan,
           "predicted_ci_low": math.nan, "predicted_ci_high": math.nan, "error": math.nan, "abs_error": math.nan,
           "within_ci": False, "status": ""}
    at_main = p.loc[p["ratio"] == main_ratio]
    use = p["ratio"].isin(below).to_numpy() & np.isfinite(p["median"].to_numpy(float))
    row["n_points"] = int(use.sum())
    if at_main.empty:
        row["status"] = f"the study has no {main_ratio}% training to predict"
        return None, row
    if row["n_points"] < 2:
        row["status"] = f"backtest needs >= 2 training % below {main_ratio} with a defined median (has {row['n_points']})"
        return None, row
    n = p["n_train"].to_numpy(float)
    fit, reps = _fit_all(n[use], p["median"].to_numpy(float)[use], bmat[use], options, n_ref=n[use].max())
    n_target = float(at_main["n_train"].iloc[0])
    observed = float(at_main["median"].iloc[0])
    row.update({"n_train_target": n_target, "observed": observed})
    if fit is None:
        row["status"] = "the fit failed"
        return None, row
    predicted = float(fit.predict(n_target))
    low, high = _interval([float(r.predict(n_target)) for r in reps if r is not None], options)
    row.update({"model": fit.model, "predicted": predicted, "predicted_ci_low": low, "predicted_ci_high": high,
                "error": predicted - observed, "abs_error": abs(predicted - observed),
                "within_ci": bool(low <= observed <= high), "status": "ok"})
    return fit, row


def _crossing_columns(rows: list, metric: str, fits: dict, boot_fits: dict, points: pd.DataFrame, n_full: float,
                      options: CurveOptions) -> None:
    """Where the TII and LMI curves of ``metric`` cross in [1, horizon x the dataset]: added to both rows."""
    mine = [r for r in rows if r["metric"] == metric]
    tii, lmi = fits.get((metric, "tii")), fits.get((metric, "lmi"))
    high = options.horizon * n_full
    observed = points.loc[points["metric"] == metric, "n_train"]
    cross: list[float] = lc.crossings(tii, lmi, 1.0, high) if tii and lmi else []
    pairs = [(t, m) for t, m in zip(boot_fits.get((metric, "tii"), []), boot_fits.get((metric, "lmi"), []))
             if t is not None and m is not None]
    share = float(np.mean([bool(lc.crossings(t, m, 1.0, high, grid=100)) for t, m in pairs])) if pairs else math.nan
    if not (tii and lmi):
        note = "no crossing: a curve could not be fitted"
    elif not cross:
        ahead = "TII" if tii.predict(n_full) > lmi.predict(n_full) else "LMI"
        note = f"no crossing between 1 and {options.horizon:g}x the dataset ({high:,.0f} images): {ahead} ahead throughout"
    else:
        where = ["inside the observed range" if observed.min() <= c <= observed.max() else "extrapolated" for c in cross]
        above = "TII" if tii.predict(cross[-1] * 2) > lmi.predict(cross[-1] * 2) else "LMI"
        note = "; ".join(f"cross at {c:,.0f} images ({w})" for c, w in zip(cross, where)) + f"; {above} ahead above"
    for r in mine:
        r.update({"crossing_n": cross[0] if cross else math.nan, "crossing_note": note, "crossing_share": share})
