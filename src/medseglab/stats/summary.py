"""The study's statistics (SPEC 6), computed with grouped, vectorised pandas/numpy operations.

Vocabulary:
- a *regime* is (dataset, ratio, split): one 80:20 set or one depletion step of a split;
- a *model* is a regime x init; its *repeats* are the seeds trained for it;
- a model's per-image value S_m is the metric of the model's combined output (the repeats
  combined by ``stats.combine``, SPEC 4; level ``combined``) or, when the probability maps
  are not available, the mean of the metric over the repeats (level ``repeat_mean``);
- a *group* is a regime x clinical label (``all`` = every image) x metric.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import pandas as pd

from medseglab.names import LMI, TII
from medseglab.stats.bootstrap import grouped_median_ci
from medseglab.stats.normality import grouped_normality
from medseglab.stats.significance import mood_median_test, wilcoxon_signed_rank

METRICS = ("auroc_mask", "dice", "sensitivity", "specificity", "auroc_prob")
LOWER_IS_BETTER = frozenset({"fpr"})
REGIME = ("dataset", "ratio", "split")
INITS = (TII, LMI)  # the statistics' column order: TII first, as in the paper's tables
ALL_LABELS = "all"
LEVELS = ("combined", "repeat_mean")
REQUIRED = ("image_id", "clinical_label", "dataset", "init", "split", "ratio")


@dataclasses.dataclass(frozen=True)
class StatsOptions:
    """The ``stats`` section of params.yaml."""

    combine: str = "intersection"
    high_value: float = 0.9
    alpha: float = 0.05
    margin: float = 0.05
    mood_ties: str = "below"
    bootstrap: int = 2000
    seed: int = 0
    metrics: tuple[str, ...] = METRICS

    @classmethod
    def from_params(cls, params: dict) -> "StatsOptions":
        from medseglab.config import ConfigError

        section = dict(params.get("stats") or {})
        section.pop("learning_curve", None)  # its own options: stats.learning_study.CurveOptions
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(section) - known)
        if unknown:
            raise ConfigError(f"params.yaml stats: unknown key(s) {unknown}; known keys are {sorted(known)}")
        try:
            opts = cls(
                combine=str(section.get("combine", cls.combine)),
                high_value=float(section.get("high_value", cls.high_value)),
                alpha=float(section.get("alpha", cls.alpha)),
                margin=float(section.get("margin", cls.margin)),
                mood_ties=str(section.get("mood_ties", cls.mood_ties)),
                bootstrap=int(section.get("bootstrap", cls.bootstrap)),
                seed=int(section.get("seed", cls.seed)),
                metrics=tuple(section.get("metrics", METRICS)),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"params.yaml stats: {exc}; numbers expected for high_value, alpha, margin, bootstrap, seed") from exc
        opts.validate()
        return opts

    def validate(self) -> None:
        from medseglab.config import ConfigError
        from medseglab.stats.combine import METHODS
        from medseglab.stats.significance import TIES

        if self.combine not in METHODS:
            raise ConfigError(f"params.yaml stats.combine={self.combine!r}: choose one of {METHODS}")
        if self.mood_ties not in TIES:
            raise ConfigError(f"params.yaml stats.mood_ties={self.mood_ties!r}: choose one of {TIES}")
        if not 0 < self.alpha < 1:
            raise ConfigError(f"params.yaml stats.alpha={self.alpha}: must be between 0 and 1 (e.g. 0.05)")
        if self.margin < 0:
            raise ConfigError(f"params.yaml stats.margin={self.margin}: must be >= 0 (e.g. 0.05 for 5%)")
        if self.bootstrap < 0:
            raise ConfigError(f"params.yaml stats.bootstrap={self.bootstrap}: must be >= 0 (0 turns the CIs off)")


def check_table(table: pd.DataFrame, metrics: Sequence[str], source: str = "per-image table") -> None:
    from medseglab.errors import UserError

    missing = [c for c in (*REQUIRED, *metrics) if c not in table.columns]
    if missing:
        raise UserError(
            f"{source}: missing column(s) {missing}; a study's per-image table has the columns of "
            "docs/ARCHITECTURE.md (image_id, clinical_label, dataset, init, split, ratio, repeat, metrics)"
        )
    if table.empty:
        raise UserError(f"{source}: the table has no rows; run the study first (medseglab study)")
    inits = set(table["init"].unique())
    if not inits & set(INITS):
        raise UserError(f"{source}: no rows with init 'tii' or 'lmi' (found {sorted(map(str, inits))})")


def model_values(table: pd.DataFrame, level: str, metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """One row per model and test image: REGIME + init + image_id + clinical_label + metrics + n_repeats."""
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; choose one of {LEVELS}")
    keys = [*REGIME, "init", "image_id"]
    metrics = list(metrics)
    if level == "combined":
        if table.duplicated(keys).any():
            dup = table.loc[table.duplicated(keys), keys].iloc[0].to_dict()
            raise ValueError(f"combined table has several rows for one model and image, e.g. {dup}")
        out = table[keys + ["clinical_label"] + metrics].copy()
        out["n_repeats"] = table["n_repeats"].to_numpy() if "n_repeats" in table else 1
        return out.reset_index(drop=True)
    grouped = table.groupby(keys, sort=False, observed=True)
    out = grouped[metrics].mean()  # NaN-skipping: a repeat with an undefined value does not count
    out["clinical_label"] = grouped["clinical_label"].first()
    out["n_repeats"] = grouped.size()
    return out.reset_index()


def to_long(values: pd.DataFrame, metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """Wide model values -> one row per model, image and metric (``metric``, ``value``)."""
    keys = [*REGIME, "init", "image_id", "clinical_label"]
    long = values.melt(id_vars=keys, value_vars=list(metrics), var_name="metric", value_name="value")
    long["metric"] = pd.Categorical(long["metric"], categories=list(metrics))
    long["value"] = long["value"].astype(float)
    return long


def _by(by_label: bool) -> list[str]:
    return [*REGIME, "clinical_label", "metric"] if by_label else [*REGIME, "metric"]


def _layout(frame: pd.DataFrame, keys: list[str], value: str):
    """(keys frame, values laid out group after group, starts, sizes), sorted by keys: one sort
    instead of one filter per group."""
    grouper = frame.groupby(keys, sort=True, observed=True)
    codes = grouper.ngroup().to_numpy()
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes, minlength=grouper.ngroups)
    starts = np.r_[0, np.cumsum(sizes)[:-1]].astype(np.int64)
    return grouper.size().index.to_frame(index=False), frame[value].to_numpy(dtype=float)[order], starts, sizes


def _loop_groups(frame: pd.DataFrame, keys: list[str], value: str):
    """(keys frame, list of value arrays) per group, sorted by keys."""
    keys_frame, values, starts, sizes = _layout(frame, keys, value)
    return keys_frame, np.split(values, starts[1:])


def grand_medians(per_repeat: pd.DataFrame, metrics: Sequence[str], by_label: bool) -> pd.DataFrame:
    """Median over repeats of the per-repeat medians (NaNs dropped), per model (and label)."""
    if "repeat" not in per_repeat.columns:
        return pd.DataFrame(columns=[*_by(by_label), "init", "grand_median"])
    keys = [*REGIME, "init"] + (["clinical_label"] if by_label else [])
    per_rep = per_repeat.groupby(keys + ["repeat"], sort=False, observed=True)[list(metrics)].median()
    grand = per_rep.groupby(level=list(range(len(keys))), sort=False).median()
    n_rep = per_rep.groupby(level=list(range(len(keys))), sort=False).size()
    grand = grand.reset_index().melt(id_vars=keys, var_name="metric", value_name="grand_median")
    grand["n_repeats"] = n_rep.reindex(pd.MultiIndex.from_frame(grand[keys])).to_numpy()
    if not by_label:
        grand["clinical_label"] = ALL_LABELS
    return grand


def describe(
    long: pd.DataFrame,
    options: StatsOptions,
    *,
    by_label: bool = False,
    per_repeat: pd.DataFrame | None = None,
    normality: bool = True,
) -> pd.DataFrame:
    """Per model x group: n_images, n_dropped (NaN values: empty ground truth), n, mean, median,
    sd (ddof 1), count_high (value >= high_value), pct_high, the bootstrap CI of the median,
    grand_median (from ``per_repeat``), Shapiro-Wilk p before/after Yeo-Johnson and its lambda."""
    keys = _by(by_label) + ["init"]
    grouper = long.groupby(keys, sort=True, observed=True)["value"]
    out = grouper.agg(n_images="size", n="count", mean="mean", median="median", sd="std")
    high = (long["value"] >= options.high_value).groupby([long[k] for k in keys], sort=True, observed=True).sum()
    out["count_high"] = high.reindex(out.index).fillna(0).astype(np.int64)
    out = out.reset_index()
    out["n_dropped"] = out["n_images"] - out["n"]
    out["pct_high"] = 100.0 * out["count_high"] / out["n"].where(out["n"] > 0)
    ci = grouped_median_ci(long, keys, n_boot=options.bootstrap, seed=options.seed)
    out = out.merge(ci.rename(columns={"ci_low": "median_ci_low", "ci_high": "median_ci_high"}), on=keys, how="left")
    if normality:
        frame, flat, starts, sizes = _layout(long.loc[long["value"].notna()], keys, "value")
        tests = grouped_normality(flat, starts, sizes)
        frame["shapiro_p"], frame["shapiro_p_yeojohnson"], frame["yeojohnson_lambda"] = tests.T
        out = out.merge(frame, on=keys, how="left")
    if per_repeat is not None:
        grand = grand_medians(per_repeat, options.metrics, by_label)
        grand["metric"] = grand["metric"].astype(out["metric"].dtype)
        out = out.merge(grand.drop(columns=["clinical_label"]) if not by_label else grand, on=keys, how="left")
    if not by_label:
        out.insert(len(REGIME), "clinical_label", ALL_LABELS)
    return out


def paired_deltas(long: pd.DataFrame) -> pd.DataFrame:
    """delta_m = S_m(TII) - S_m(LMI) per image, paired by image id within a regime; pairs where
    either value is NaN are dropped. Columns: REGIME + image_id, clinical_label, metric, tii, lmi, delta."""
    keys = [*REGIME, "image_id", "metric"]
    tii = long.loc[long["init"] == "tii", keys + ["clinical_label", "value"]].rename(columns={"value": "tii"})
    lmi = long.loc[long["init"] == "lmi", keys + ["value"]].rename(columns={"value": "lmi"})
    pairs = tii.merge(lmi, on=keys, how="inner")
    pairs = pairs.loc[pairs["tii"].notna() & pairs["lmi"].notna()].copy()
    pairs["delta"] = pairs["tii"] - pairs["lmi"]
    return pairs.reset_index(drop=True)


def compare(
    long: pd.DataFrame,
    deltas: pd.DataFrame,
    described: pd.DataFrame,
    options: StatsOptions,
    *,
    by_label: bool = False,
) -> pd.DataFrame:
    """TII vs LMI per group: medians, better model and its relative margin, delta_m summary
    (% > 0, = 0, < 0, median, CI), Mood's median test, paired Wilcoxon signed-rank."""
    by = _by(by_label)
    med = described.pivot_table(index=by if by_label else [*REGIME, "metric"], columns="init",
                                values=["median", "mean", "n"], observed=True, aggfunc="first")
    out = pd.DataFrame(index=med.index)
    for init in INITS:
        for stat in ("median", "mean", "n"):
            out[f"{stat}_{init}"] = med[(stat, init)] if (stat, init) in med.columns else np.nan
    out = out.reset_index()
    lower = out["metric"].astype(str).isin(LOWER_IS_BETTER).to_numpy()
    t, l_ = out["median_tii"].to_numpy(float), out["median_lmi"].to_numpy(float)
    tii_better = np.where(lower, t < l_, t > l_)
    lmi_better = np.where(lower, l_ < t, l_ > t)
    out["better"] = np.select([tii_better, lmi_better], ["tii", "lmi"], default="")
    worse = np.where(tii_better, l_, t)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(t - l_) / np.abs(worse)
    rel[(t == l_)] = 0.0
    out["rel_diff"] = rel
    out["margin_mark"] = (out["better"] != "") & (out["rel_diff"] > options.margin)

    g = deltas.groupby(by, sort=True, observed=True)["delta"]
    dsum = g.agg(n_pairs="size", delta_mean="mean", delta_median="median")
    sign = np.sign(deltas["delta"].to_numpy())
    for name, s in (("pct_pos", 1), ("pct_zero", 0), ("pct_neg", -1)):
        dsum[name] = pd.Series(sign == s, index=deltas.index).groupby([deltas[k] for k in by], sort=True, observed=True).mean() * 100.0
    dsum = dsum.reset_index()
    ci = grouped_median_ci(deltas, by, "delta", n_boot=options.bootstrap, seed=options.seed + 1)
    dsum = dsum.merge(ci.rename(columns={"ci_low": "delta_ci_low", "ci_high": "delta_ci_high"}), on=by, how="left")
    frame, arrays = _loop_groups(deltas, by, "delta")
    wil = np.array([wilcoxon_signed_rank(a) for a in arrays], dtype=float).reshape(-1, 2)
    frame["wilcoxon_stat"], frame["wilcoxon_p"] = wil.T
    dsum = dsum.merge(frame, on=by, how="left")
    mood = mood_median_test(long, by, ties=options.mood_ties)
    for extra in (dsum, mood):
        extra["metric"] = extra["metric"].astype(out["metric"].dtype)
    out = out.merge(dsum, on=by, how="left").merge(mood, on=by, how="left")
    out["n_pairs"] = out["n_pairs"].fillna(0).astype(np.int64)
    out["mood_significant"] = out["mood_p"] < options.alpha
    out["mood_ties"] = options.mood_ties
    if not by_label:
        out.insert(len(REGIME), "clinical_label", ALL_LABELS)
    return out


KEY_STRINGS = ("dataset", "init", "clinical_label", "image_id")


def _categorical(table: pd.DataFrame) -> pd.DataFrame:
    """String key columns as categoricals: every groupby and merge then works on integer codes
    (factorising millions of Arrow strings again for each groupby was most of the run time)."""
    table = table.copy(deep=False)
    for col in KEY_STRINGS:
        if col in table.columns and not isinstance(table[col].dtype, pd.CategoricalDtype):
            table[col] = table[col].astype(str).astype("category")
    return table


@dataclasses.dataclass
class StudyStatistics:
    """Everything the tables need; ``describe``/``compare`` hold the overall rows (label ``all``)
    followed by the per-clinical-label rows."""

    level: str
    options: StatsOptions
    values: pd.DataFrame  # wide: one row per model and image
    describe: pd.DataFrame
    compare: pd.DataFrame
    deltas: pd.DataFrame  # per image: tii, lmi, delta per regime x metric

    def datasets(self) -> list[str]:
        return sorted(map(str, self.values["dataset"].unique()))

    def for_dataset(self, dataset: str) -> "StudyStatistics":
        """The statistics of one dataset (the tables are per dataset)."""
        pick = lambda f: f.loc[f["dataset"] == dataset].reset_index(drop=True)  # noqa: E731
        if dataset not in self.datasets():
            raise ValueError(f"no statistics for dataset {dataset!r}; have {self.datasets()}")
        return StudyStatistics(self.level, self.options, pick(self.values), pick(self.describe),
                               pick(self.compare), pick(self.deltas))


def compute_statistics(
    per_repeat: pd.DataFrame,
    options: StatsOptions,
    *,
    combined: pd.DataFrame | None = None,
    by_label: bool = True,
    normality_by_label: bool = False,
) -> StudyStatistics:
    """All statistics of a study from its per-image table (one row per training and image) and,
    when given, the combined outputs' table (one row per model and image)."""
    metrics = list(options.metrics)
    check_table(per_repeat, metrics)
    per_repeat = _categorical(per_repeat.loc[per_repeat["init"].isin(INITS)])
    level = "combined" if combined is not None else "repeat_mean"
    source = _categorical(combined.loc[combined["init"].isin(INITS)]) if combined is not None else per_repeat
    values = model_values(source, level, metrics)
    long = to_long(values, metrics)
    deltas = paired_deltas(long)
    desc = describe(long, options, per_repeat=per_repeat)
    comp = compare(long, deltas, desc, options)
    if by_label:
        desc_l = describe(long, options, by_label=True, per_repeat=per_repeat, normality=normality_by_label)
        comp_l = compare(long, deltas, desc_l, options, by_label=True)
        desc = pd.concat([desc, desc_l], ignore_index=True)
        comp = pd.concat([comp, comp_l], ignore_index=True)
    return StudyStatistics(level, options, values, desc, comp, deltas)
