"""From a study's per-image table to the report folder: tables, metrics.json, depletion.csv, plots.

``reports/<dataset>/``:
- ``tables/``: Tables 1, 2, S1-S4 (+ their tests/statistics companions) as CSV, Markdown and
  HTML, ``index.md``/``index.html`` with all of them, and the full numeric statistics
  (``statistics_describe.csv``, ``statistics_compare.csv``, ``split_selection.csv``);
- ``selection.json``: the chosen split (Table S1), also logged as ``stats/selection.json`` on the
  study's parent run, the record ensemble and explain read (``stats.selection``);
- ``metrics.json``: the headline numbers (``dvc metrics show``), numbers only, NaN -> null, counts
  (``n_test``, ``n``, ``count_high``) as integers; ``synthetic`` 1/0 when the data source is known;
  for skin ``isic2018`` (the ISIC 2018 Task 1 score per init, ``stats.challenge``; ``tables/isic2018.*``);
- ``depletion.csv``: train_pct, init, split, <metric>_median, paper_dice_median (``dvc plots``);
- ``plots/*.png``: distributions per init, delta_m histograms, depletion curves, learning curves;
- ``tables/learning_curves.csv`` (+ ``learning_curve_backtest``, ``_points``, ``_bands``, the display table
  ``learning_curves_summary``): the inverse power law of median score against training images
  (``stats.learning_study``), ``learning_curve`` in metrics.json;
- ``delta_m.parquet``: the per-image TII - LMI differences; ``combined_per_image.parquet``
  when the repeats were combined from their probability maps.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd

from medseglab.io import atomic_dir, write_csv, write_json, write_parquet
from medseglab.stats import challenge, learning_report, plots
from medseglab.stats import selection as chosen_split
from medseglab.stats.provenance import UNKNOWN, Provenance
from medseglab.stats.summary import ALL_LABELS, INITS, StatsOptions, StudyStatistics, compute_statistics
from medseglab.stats.learning_study import CurveOptions, LearningCurves, learning_curves
from medseglab.stats.tables import build_tables, main_ratio
from medseglab.stats.render import write_tables


@dataclasses.dataclass
class Report:
    dataset: str
    out_dir: Path
    level: str
    chosen_split: int
    metrics: dict  # nested, what metrics.json holds
    headline: dict[str, float]  # flat "table1.dice.median.tii" -> value, for MLflow
    files: list[Path]
    ratio: int = 80  # the ratio of the split selection (Table 1's)
    selection: dict = dataclasses.field(default_factory=dict)  # selection.json's content
    logged_to: str | None = None  # the study run the report was logged on
    learning: LearningCurves | None = None  # the learning curves (tables/learning_curves.csv)

    def chosen_line(self) -> str:
        """``skin: split 1 chosen (source)``: where the selection is recorded."""
        where = (f"Table S1, recorded on study run {self.logged_to} as {chosen_split.ARTIFACT}" if self.logged_to
                 else "Table S1; not recorded in MLflow: ensemble and explain compute it again the same way")
        return f"{self.dataset}: split {self.chosen_split} chosen ({where})"


def _num(value):
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def headline_metrics(stats: StudyStatistics, chosen: int, curve: pd.DataFrame) -> dict:
    """The nested metrics.json content."""
    ratio = main_ratio(stats)
    c = stats.compare
    main = c.loc[(c["ratio"] == ratio) & (c["split"] == chosen) & (c["clinical_label"] == ALL_LABELS)]
    d = stats.describe
    main_d = d.loc[(d["ratio"] == ratio) & (d["split"] == chosen) & (d["clinical_label"] == ALL_LABELS)]
    table1: dict = {}
    for _, r in main.iterrows():
        m = str(r["metric"])
        dm = main_d.loc[main_d["metric"].astype(str) == m].set_index("init")
        table1[m] = {
            "median": {i: _num(r[f"median_{i}"]) for i in INITS},
            "mean": {i: _num(r[f"mean_{i}"]) for i in INITS},
            "grand_median": {i: _num(dm["grand_median"].get(i)) if "grand_median" in dm else None for i in INITS},
            "count_high": {i: _count(dm["count_high"].get(i)) for i in INITS},
            "n": {i: _count(r[f"n_{i}"]) for i in INITS},
            "delta_median": _num(r["delta_median"]),
            "pct_delta_pos": _num(r["pct_pos"]),
            "pct_delta_zero": _num(r["pct_zero"]),
            "pct_delta_neg": _num(r["pct_neg"]),
            "mood_p": _num(r["mood_p"]),
            "wilcoxon_p": _num(r["wilcoxon_p"]),
        }
    depletion: dict = {}
    for _, row in curve.iterrows():
        pct = str(int(row["train_pct"]))
        for col in curve.columns:
            if col.endswith("_median") and not col.startswith("paper"):
                depletion.setdefault(pct, {}).setdefault(col, {})[row["init"]] = _num(row[col])
    n_test = main_d["n_images"].max() if not main_d.empty else np.nan
    return {"split": int(chosen), "ratio": int(ratio), "n_test": _count(n_test),
            "combined": 1 if stats.level == "combined" else 0, "table1": table1, "depletion": depletion}


def _count(value):
    """A count for metrics.json: an int (9, not 9.0); None when missing."""
    value = _num(value)
    return None if value is None else int(round(value))


def flatten_numbers(tree: dict, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten_numbers(value, name + "."))
        elif value is not None and not isinstance(value, str):
            out[name] = float(value)
    return out


def write_report(
    per_repeat: pd.DataFrame,
    out_dir: str | Path,
    options: StatsOptions,
    *,
    combined: pd.DataFrame | None = None,
    dataset: str | None = None,
    make_plots: bool = True,
    provenance: Provenance = UNKNOWN,
    stage: str = "stats",
    run_id: str | None = None,
    curve_options: CurveOptions | None = None,
    train_sizes: pd.DataFrame | None = None,
) -> Report:
    """Compute the statistics of one dataset's study and write the report folder (see module doc).

    ``provenance`` (``stats.provenance.study_provenance``): synthetic data and the TII weights are
    said in every table and plot; unknown by default. ``stage`` (stats | report) and ``run_id`` (the
    study run) go into ``selection.json``. ``curve_options`` (params ``stats.learning_curve``) and
    ``train_sizes`` (split, ratio, n_train, n_test: the split report; None = estimated from the test
    sets) are the learning curves'."""
    from medseglab.errors import UserError

    if dataset is not None:
        per_repeat = per_repeat.loc[per_repeat["dataset"] == dataset]
        if combined is not None:
            combined = combined.loc[combined["dataset"] == dataset]
        if per_repeat.empty:
            raise UserError(f"the per-image table has no rows of dataset {dataset!r}")
    names = sorted(map(str, per_repeat["dataset"].unique()))
    if len(names) != 1:
        raise UserError(f"the per-image table holds datasets {names}; pass --dataset to pick one")
    dataset = names[0]
    stats = compute_statistics(per_repeat, options, combined=combined)
    tables, selection, chosen, curve = build_tables(stats, per_repeat, provenance)
    isic = challenge.isic_2018(per_repeat if combined is None else combined, stats.level, dataset, chosen,
                               main_ratio(stats), provenance)  # skin only: the ISIC 2018 Task 1 score beside Dice
    if isic is not None:
        tables[isic.table.name] = isic.table
    learning = learning_curves(stats, per_repeat, curve, main_ratio(stats), curve_options or CurveOptions(), train_sizes)
    tables["learning_curves_summary"] = learning_report.summary_table(learning, dataset, provenance)
    out_dir = Path(out_dir)
    title = provenance.caption(
        f"medseglab statistics: {dataset} ({'combined outputs' if stats.level == 'combined' else 'repeat means'})")
    with atomic_dir(out_dir / "tables") as tmp:  # no stale table of an earlier run survives
        names = write_tables(
            tables, tmp, title,
            extra={"statistics_describe": stats.describe, "statistics_compare": stats.compare, "split_selection": selection,
                   "learning_curves": learning.summary, "learning_curve_backtest": learning.backtest,
                   "learning_curve_points": learning.points, "learning_curve_bands": learning.bands},
        )
    files = [out_dir / "tables" / f.name for f in names]
    metrics = headline_metrics(stats, chosen, curve)
    metrics["learning_curve"] = learning_report.headline(learning)
    if provenance.synthetic is not None:
        metrics["synthetic"] = int(provenance.synthetic)
    if isic is not None:
        metrics[challenge.NAME] = isic.metrics
    write_json(out_dir / "metrics.json", metrics)
    ratio = main_ratio(stats)
    record = chosen_split.selection_record(dataset, selection, chosen, ratio, stats.level, stage, run_id)
    write_json(out_dir / chosen_split.FILE, record)
    write_csv(out_dir / "depletion.csv", curve)
    write_csv(out_dir / "depletion_dice.csv", depletion_wide(curve, chosen))
    write_parquet(out_dir / "delta_m.parquet", stats.deltas.assign(metric=stats.deltas["metric"].astype(str)))
    files += [out_dir / "metrics.json", out_dir / chosen_split.FILE, out_dir / "depletion.csv", out_dir / "depletion_dice.csv",
              out_dir / "delta_m.parquet"]
    if combined is not None:
        write_parquet(out_dir / "combined_per_image.parquet", combined)
        files.append(out_dir / "combined_per_image.parquet")
    if make_plots:
        v = stats.values
        main_v = v.loc[(v["ratio"] == ratio) & (v["split"] == chosen)]
        main_delta = stats.deltas.loc[(stats.deltas["ratio"] == ratio) & (stats.deltas["split"] == chosen)]
        label = f"{dataset}, split {chosen}, {ratio}:{100 - ratio}"
        with atomic_dir(out_dir / "plots") as plot_dir:
            made = [
                plots.distributions(main_v, options.metrics, f"{label}: per-image values", plot_dir / "distributions.png",
                                    provenance=provenance),
                plots.delta_histograms(main_delta, ["dice", "auroc_mask"], f"{label}: delta_m per image",
                                       plot_dir / "delta_m.png", provenance=provenance),
                plots.depletion(curve, ["dice", "auroc_mask", "sensitivity", "specificity"],
                                f"{dataset}: medians by training data", plot_dir / "depletion.png",
                                provenance=provenance),
                learning_report.plot(learning, f"{dataset}: learning curves (median score vs training images)",
                                     plot_dir / "learning_curves.png", provenance=provenance),
            ]
        files += [out_dir / "plots" / f.name for f in made]
    headline = flatten_numbers({k: metrics[k] for k in ("table1", challenge.NAME, "learning_curve") if k in metrics})
    headline = {k: v for k, v in headline.items() if not k.endswith(".n.tii") and not k.endswith(".n.lmi")}
    headline[chosen_split.SPLIT_METRIC] = float(chosen)
    headline[chosen_split.RATIO_METRIC] = float(ratio)
    return Report(dataset, out_dir, stats.level, chosen, metrics, headline, files, ratio, record, learning=learning)


def depletion_wide(curve: pd.DataFrame, split: int) -> pd.DataFrame:
    """Median Dice by train % with one column per init (and the paper's), for `dvc plots`:
    DVC draws one line per y column, not per value of an `init` column. ``curve`` has one split per
    training % already (the chosen one where it was run, else the lowest: ``tables.regime_split``), so
    a % trained only on another split keeps its point."""
    rows = curve
    wide = rows.pivot_table(index="train_pct", columns="init", values="dice_median", aggfunc="first")
    wide.columns = [str(c) for c in wide.columns]
    if "paper_dice_median" in rows:
        paper = rows.pivot_table(index="train_pct", columns="init", values="paper_dice_median", aggfunc="first")
        for init in paper.columns:
            wide[f"paper_{init}"] = paper[init]
    return wide.reset_index().sort_values("train_pct")


def log_to_mlflow(report: Report, parent_run_id: str, *, uri: str | None = None) -> None:
    """Tables and plots as artifacts under ``stats/`` of the study's parent run, the selection as
    ``stats/selection.json``, headline numbers as its metrics (e.g. ``table1.dice.median.tii``,
    ``stats.chosen_split``); ``uri``: the store (default the project's)."""
    import time

    from mlflow.entities import Metric

    from medseglab.tracking.store import open_client

    client = open_client(uri=uri)
    client.log_artifacts(parent_run_id, str(report.out_dir / "tables"), "stats/tables")
    if (report.out_dir / "plots").is_dir():
        client.log_artifacts(parent_run_id, str(report.out_dir / "plots"), "stats/plots")
    if report.selection.get("study_run_id") != parent_run_id:  # the record names the run it is logged on
        report.selection["study_run_id"] = parent_run_id
        write_json(report.out_dir / chosen_split.FILE, report.selection)
    for name in ("metrics.json", "depletion.csv", chosen_split.FILE):
        client.log_artifact(parent_run_id, str(report.out_dir / name), "stats")
    now = int(time.time() * 1000)
    metrics = [Metric(k, v, now, 0) for k, v in report.headline.items() if math.isfinite(v)]
    for start in range(0, len(metrics), 500):  # MLflow's batch limit is 1000 metrics
        client.log_batch(parent_run_id, metrics=metrics[start:start + 500])
    client.set_tag(parent_run_id, "medseglab.stats_level", report.level)
    report.logged_to = parent_run_id
