"""The paper's tables (Tables 1, 2, S1-S4) from a study's statistics, the paper's values beside.

Each builder returns a :class:`Table`: a display frame (strings, with the marks) plus notes that
say how to read it. Marks, on the better model's cell: ``*`` Mood's median test p < alpha;
``†`` the better model's median beats the other's by more than ``margin`` (relative to the worse
median). Holm-adjusted p-values are computed over the tests a table shows (its family).

Cells hold numbers and marks only: an explanation (why a p-value is undefined) is a lettered
footnote (``n/aᵃ``, the sentence once below the table, :class:`Footnotes`). Counts are integers.
Every builder takes a :class:`~medseglab.stats.provenance.Provenance`: synthetic data and the TII
weights are said in the caption, the study's row and the notes.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np
import pandas as pd

from medseglab import names
from medseglab.stats import paper
from medseglab.stats.provenance import UNKNOWN, Provenance
from medseglab.stats.significance import holm
from medseglab.stats.summary import ALL_LABELS, INITS, StatsOptions, StudyStatistics

METRIC_NAMES = {
    "auroc_mask": "AUROC",
    "dice": "Dice",
    "sensitivity": "Sens",
    "specificity": "Spec",
    "auroc_prob": "AUROC(prob)",
    "precision": "Precision",
    "fpr": "FPR",
}
INIT_NAMES = {"lmi": "LMI", "tii": "TII"}
PAPER_METRICS = ("auroc_mask", "dice", "sensitivity", "specificity")
SIG_MARK = "*"
MARGIN_MARK = "†"
SELECTION_METRICS = ("dice", "auroc_mask")


@dataclasses.dataclass
class Table:
    name: str  # file stem, e.g. "table1"
    title: str
    frame: pd.DataFrame
    notes: list[str] = dataclasses.field(default_factory=list)


FOOTNOTE_MARKS = "ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖ"


class Footnotes:
    """Lettered footnotes of one table: ``mark(text)`` gives the cell's mark (the same text, the
    same letter), ``notes()`` the lines to print once below the table."""

    def __init__(self) -> None:
        self._texts: list[str] = []

    def mark(self, text: str) -> str:
        if text not in self._texts:
            self._texts.append(text)
        k = self._texts.index(text)
        return FOOTNOTE_MARKS[k] if k < len(FOOTNOTE_MARKS) else f"[{k + 1}]"

    def notes(self) -> list[str]:
        return [f"{self.mark(t)} {t}" for t in self._texts]


def _text(value) -> str:
    """A note column's value as text ("" for None/NaN: a merge leaves NaN where no note was set)."""
    return value if isinstance(value, str) else ""


def mood_note_text(note: str) -> str:
    """The footnote of an undefined Mood p-value (significance.mood_median_test's note)."""
    return f"Mood's test undefined: {note.replace('try stats.', 'try --set stats.')}."


def fmt_count(value) -> str:
    """A count as an integer ("n/a" when missing): counts never print as 40.0 or 40.0000."""
    if value is None or pd.isna(value):
        return "n/a"
    return f"{int(round(float(value))):,}"


def fmt(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    return f"{float(value):.{digits}f}"


def fmt_p(p) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "n/a"
    return f"{p:.2e}" if p < 1e-3 else f"{p:.4f}"


def marks(row: pd.Series, init: str, alpha: float) -> str:
    """The marks of ``init``'s cell in a comparison row (only the better model gets marks)."""
    if row.get("better") != init:
        return ""
    out = ""
    p = row.get("mood_p")
    if p is not None and not pd.isna(p) and p < alpha:
        out += SIG_MARK
    if bool(row.get("margin_mark", False)):
        out += MARGIN_MARK
    return out


def cell(median, mean, mark: str = "") -> str:
    return f"{fmt(median)} ({fmt(mean)}){mark}"


def _labelled(table: Table, provenance: Provenance, *, tii: bool = True) -> Table:
    """The caption and first notes say where the numbers come from (``tii``: the table shows TII results)."""
    table.title = provenance.caption(table.title)
    first = [provenance.data_note()] + ([provenance.weights_note()] if tii else [])
    table.notes = [n for n in first if n and n not in table.notes] + table.notes
    return table


def _legend(options: StatsOptions, level: str, combine: str | None = None) -> list[str]:
    source = (
        f"per-image values of each model's combined output over its repeats ({combine or options.combine}, SPEC 4)"
        if level == "combined"
        else "per-image values averaged over each model's repeats (probability maps were not available "
        "to combine the repeats' masks)"
    )
    return [
        f"Cells: median (mean) of {source}.",
        f"{SIG_MARK} Mood's median test TII vs LMI p < {options.alpha} (ties at the grand median counted "
        f"'{options.mood_ties}'), on the better model's cell.",
        f"{MARGIN_MARK} the better model's median exceeds the other's by more than {options.margin:.0%} of the "
        "worse median.",
        "Undefined values (empty ground truth: Dice, sensitivity, AUROC) are dropped per metric; "
        "n counts the images left.",
    ]


def main_ratio(stats: StudyStatistics) -> int:
    """Table 1's ratio: 80 when the study has it, else its largest (``stats.selection.main_ratio``)."""
    from medseglab.stats.selection import main_ratio as ratio_of

    return ratio_of(stats.compare["ratio"].unique())


def overall(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.loc[frame["clinical_label"] == ALL_LABELS]


# ----------------------------------------------------------------------------- split selection


def select_split(stats: StudyStatistics, metrics: Sequence[str] = SELECTION_METRICS) -> tuple[int, pd.DataFrame]:
    """Table S1's choice: among the 80:20 splits whose LMI and TII medians are not more than
    ``margin`` apart on every selection metric, the one with the best mean of the two models'
    median Dice (ties: the lowest split id). If no split qualifies, the best by that score."""
    opts = stats.options
    comp = overall(stats.compare)
    comp = comp.loc[comp["ratio"] == main_ratio(stats)]
    rows = []
    for split, g in comp.groupby("split", sort=True):
        g = g.set_index(g["metric"].astype(str))
        dice = g.loc["dice"] if "dice" in g.index else None
        score = np.nanmean([dice["median_tii"], dice["median_lmi"]]) if dice is not None else np.nan
        gaps = [float(g.loc[m, "rel_diff"]) for m in metrics if m in g.index]
        gap = max(gaps) if gaps else np.nan
        rows.append({"split": int(split), "score": float(score), "max_gap": gap, "eligible": bool(gap <= opts.margin)})
    sel = pd.DataFrame(rows)
    if sel.empty:
        raise ValueError("no 80:20 split in the statistics")
    pool = sel.loc[sel["eligible"]] if sel["eligible"].any() else sel
    best = pool.sort_values(["score", "split"], ascending=[False, True], na_position="last").iloc[0]
    chosen = int(best["split"])
    names = " and ".join(METRIC_NAMES[m] for m in metrics)
    if sel["eligible"].any():
        reason = (
            f"split {chosen}: highest mean of LMI and TII median Dice ({best['score']:.4f}) among the splits whose "
            f"LMI and TII medians are within {opts.margin:.0%} on {names}"
        )
    else:
        reason = (
            f"split {chosen}: highest mean of LMI and TII median Dice ({best['score']:.4f}); no split had LMI and "
            f"TII within {opts.margin:.0%} on {names}, so the best one is used"
        )
    sel["chosen"] = sel["split"] == chosen
    sel["reason"] = np.where(sel["chosen"], reason, "")
    return chosen, sel


def regime_split(stats: StudyStatistics, ratio: int, chosen: int) -> int:
    """The split that represents ``ratio``: the chosen split when it was run at that ratio."""
    splits = sorted(stats.compare.loc[stats.compare["ratio"] == ratio, "split"].unique())
    return chosen if chosen in splits else int(splits[0])


# ----------------------------------------------------------------------------- Table 1


def _rows(frame: pd.DataFrame, ratio: int, split: int, label: str = ALL_LABELS) -> pd.DataFrame:
    sel = frame.loc[(frame["ratio"] == ratio) & (frame["split"] == split) & (frame["clinical_label"] == label)]
    return sel.set_index(sel["metric"].astype(str))


def table1(stats: StudyStatistics, split: int, metrics: Sequence[str] | None = None,
           provenance: Provenance = UNKNOWN) -> Table:
    """The paper's Table 1: 80:20, median (mean) per metric, LMI vs TII, this study and the paper.
    The study's row says when its data are synthetic and, as a footnote, which weights its TII used."""
    opts = stats.options
    foot = Footnotes()
    ratio = main_ratio(stats)
    metrics = [m for m in (metrics or opts.metrics) if m in METRIC_NAMES]
    comp = _rows(stats.compare, ratio, split)
    dataset = str(comp["dataset"].iloc[0])
    n_images = int(_rows(stats.describe, ratio, split)["n_images"].max())
    source = f"this study (split {split}, {ratio}:{100 - ratio})"
    if provenance.synthetic:
        source += f", {provenance.data_label()}"
    paper_source = "paper (Ghosal & Shah 2021)"
    if provenance.weights_note():
        source += foot.mark(provenance.weights_note())
        paper_source += foot.mark("The paper's TII: encoder initialised with ImageNet VGG16 weights.")
    record: dict[str, str] = {"dataset": dataset, "source": source, "n": fmt_count(n_images)}
    ref = paper.table1(dataset)
    paper_row: dict[str, str] = {"dataset": dataset, "source": paper_source,
                                 "n": fmt_count(ref["n"]) if ref else "n/a"}
    for m in metrics:
        row = comp.loc[m] if m in comp.index else None
        for init in names.INITS:
            col = f"{METRIC_NAMES[m]} {INIT_NAMES[init]}"
            record[col] = "n/a" if row is None else cell(row[f"median_{init}"], row[f"mean_{init}"], marks(row, init, opts.alpha))
            if ref and m in ref:
                med, mean = ref[m][init]
                paper_row[col] = cell(med, mean)
            else:
                paper_row[col] = "—"
    frame = pd.DataFrame([record, paper_row])
    notes = ([provenance.data_note()] if provenance.synthetic else []) + _legend(opts, stats.level)
    desc = _rows(stats.describe, ratio, split)
    dropped = []
    for m in metrics:
        if m in desc.index:
            per_init = desc.loc[desc.index == m].set_index("init")["n_dropped"]
            dropped.append(f"{METRIC_NAMES[m]}: " + ", ".join(f"{INIT_NAMES[i]} {int(per_init.get(i, 0))}" for i in names.INITS))
    notes.append("Images dropped as undefined, per metric: " + "; ".join(dropped) + ".")
    notes.append("The paper's AUROC is computed from the binary mask (auroc_mask); AUROC(prob) is this "
                 "platform's addition (no paper value). The paper's marks are not reproduced on its row.")
    notes += foot.notes()
    title = f"Table 1. {dataset}: {ratio}:{100 - ratio} data, median (mean) per metric, LMI vs TII"
    return Table("table1", provenance.caption(title), frame, notes)


def tests_table(stats: StudyStatistics, selector: pd.Series, by: Sequence[str], name: str, title: str,
                provenance: Provenance = UNKNOWN) -> Table:
    """Per group (rows of ``stats.compare`` picked by ``selector``): delta_m summary and tests,
    Holm-adjusted over the rows shown. An undefined Mood p reads ``n/aᵃ`` with the reason below."""
    opts = stats.options
    foot = Footnotes()
    comp = stats.compare.loc[selector].copy()
    comp["mood_p_holm"] = holm(comp["mood_p"].to_numpy())
    comp["wilcoxon_p_holm"] = holm(comp["wilcoxon_p"].to_numpy())
    rows = []
    for _, r in comp.iterrows():
        rec = {k: (str(r[k]) if k != "ratio" else f"{int(r[k])}:{100 - int(r[k])}") for k in by}
        rec.update({
            "metric": METRIC_NAMES.get(str(r["metric"]), str(r["metric"])),
            "median LMI": fmt(r["median_lmi"]),
            "median TII": fmt(r["median_tii"]),
            "better": INIT_NAMES.get(r["better"], "tie") + marks(r, r["better"], opts.alpha) if r["better"] else "tie",
            "gap": f"{r['rel_diff']:.1%}" if not pd.isna(r["rel_diff"]) else "n/a",
            "n pairs": fmt_count(r["n_pairs"]),
            "Δ median [95% CI]": f"{fmt(r['delta_median'])} [{fmt(r['delta_ci_low'])}, {fmt(r['delta_ci_high'])}]",
            "Δ>0 %": fmt(r["pct_pos"], 1),
            "Δ=0 %": fmt(r["pct_zero"], 1),
            "Δ<0 %": fmt(r["pct_neg"], 1),
            "Mood p": fmt_p(r["mood_p"]) + (foot.mark(mood_note_text(_text(r.get("mood_note"))))
                                            if _text(r.get("mood_note")) else ""),
            "Mood p Holm": fmt_p(r["mood_p_holm"]),
            "Wilcoxon p": fmt_p(r["wilcoxon_p"]),
            "Wilcoxon p Holm": fmt_p(r["wilcoxon_p_holm"]),
        })
        rows.append(rec)
    notes = [
        "Δ = delta_m = S_m(TII) - S_m(LMI) per test image, paired by image id within the regime "
        f"({'combined outputs' if stats.level == 'combined' else 'repeat means'}); images where either value is "
        "undefined are dropped. Δ=0 counts exact equality.",
        f"CI: percentile bootstrap ({opts.bootstrap} resamples, seed {opts.seed}) of the median Δ.",
        f"Mood's median test (scipy.stats.median_test, ties '{opts.mood_ties}', Yates-corrected); Wilcoxon "
        "signed-rank on Δ (zero differences dropped). Holm: adjusted over the rows of this table.",
        f"{SIG_MARK} Mood p < {opts.alpha}; {MARGIN_MARK} gap > {opts.margin:.0%} (gap = |TII - LMI| / worse median).",
        *foot.notes(),
    ]
    return _labelled(Table(name, title, pd.DataFrame(rows), notes), provenance)


def describe_table(stats: StudyStatistics, selector: pd.Series, by: Sequence[str], name: str, title: str,
                   provenance: Provenance = UNKNOWN) -> Table:
    """Every descriptive statistic per model (rows of ``stats.describe`` picked by ``selector``)."""
    opts = stats.options
    desc = stats.describe.loc[selector]
    rows = []
    for _, r in desc.iterrows():
        rec = {k: (str(r[k]) if k != "ratio" else f"{int(r[k])}:{100 - int(r[k])}") for k in by}
        rec.update({
            "metric": METRIC_NAMES.get(str(r["metric"]), str(r["metric"])),
            "init": INIT_NAMES.get(r["init"], r["init"]),
            "n images": fmt_count(r["n_images"]),
            "n dropped": fmt_count(r["n_dropped"]),
            "mean": fmt(r["mean"]),
            "median [95% CI]": f"{fmt(r['median'])} [{fmt(r['median_ci_low'])}, {fmt(r['median_ci_high'])}]",
            "SD": fmt(r["sd"]),
            "grand median": fmt(r.get("grand_median", np.nan)),
            f"count ≥ {opts.high_value}": f"{fmt_count(r['count_high'])} ({fmt(r['pct_high'], 1)}%)",
            "Shapiro p": fmt_p(r.get("shapiro_p", np.nan)),
            "Shapiro p (Yeo-Johnson)": fmt_p(r.get("shapiro_p_yeojohnson", np.nan)),
        })
        rows.append(rec)
    notes = [
        f"count ≥ {opts.high_value}: images whose value is greater than or equal to {opts.high_value} "
        "(the paper's header says '> 0.9'; we count ties at 0.9 as high), % of the images with a defined value.",
        "grand median: median over the repeats of each repeat's median (per-repeat per-image values).",
        "n dropped: images whose value is undefined (empty ground truth for Dice, sensitivity, AUROC; "
        "empty prediction for precision).",
        "Shapiro-Wilk p before and after a Yeo-Johnson transform (NaN for n < 3 or constant values; for "
        "n > 5000 scipy's p is approximate). Small p: not normal, hence the median tests.",
    ]
    return _labelled(Table(name, title, pd.DataFrame(rows), notes), provenance)


# ----------------------------------------------------------------------------- Table 2


def table2(stats: StudyStatistics, split: int, provenance: Provenance = UNKNOWN) -> tuple[Table, Table, pd.DataFrame]:
    """Table 2 (median Dice by train %, study and paper), the same for all metrics, and the
    depletion curve frame (train_pct, init, <metric>_median, paper_dice_median)."""
    opts = stats.options
    comp = overall(stats.compare)
    dataset = str(comp["dataset"].iloc[0])
    ref = paper.table2_dice(dataset) or {}
    rows, rows_all, curve = [], [], []
    elsewhere: dict[int, list[int]] = {}  # split shown -> training % not run on the chosen split
    for ratio in sorted(comp["ratio"].unique()):
        s = regime_split(stats, int(ratio), split)
        if s != split:
            elsewhere.setdefault(s, []).append(int(ratio))
        g = _rows(comp, int(ratio), s)
        dice = g.loc["dice"] if "dice" in g.index else None
        rec = {"train %": str(int(ratio)), "split": str(s)}
        for init in names.INITS:
            rec[f"Dice {INIT_NAMES[init]}"] = "n/a" if dice is None else fmt(dice[f"median_{init}"]) + marks(dice, init, opts.alpha)
        for init in names.INITS:
            rec[f"paper Dice {INIT_NAMES[init]}"] = fmt(ref[int(ratio)][init]) if int(ratio) in ref else "—"
        rows.append(rec)
        rec_all = {"train %": str(int(ratio)), "split": str(s)}
        for m in opts.metrics:
            if m not in g.index:
                continue
            for init in names.INITS:
                rec_all[f"{METRIC_NAMES.get(m, m)} {INIT_NAMES[init]}"] = fmt(g.loc[m, f"median_{init}"]) + marks(g.loc[m], init, opts.alpha)
        rows_all.append(rec_all)
        for init in INITS:
            point = {"train_pct": int(ratio), "init": init, "split": s}
            for m in opts.metrics:
                point[f"{m}_median"] = float(g.loc[m, f"median_{init}"]) if m in g.index else np.nan
            point["paper_dice_median"] = ref[int(ratio)][init] if int(ratio) in ref else np.nan
            curve.append(point)
    notes = [f"Medians of the per-image values of each training % (the chosen split {split} where it was run; "
             "depletion chains start from it).", *_legend(opts, stats.level)[1:3]]
    for s, pcts in sorted(elsewhere.items()):
        notes.insert(1, f"Training % {', '.join(map(str, pcts))} were not run on the chosen split {split}: their "
                        f"rows come from split {s} (the split the depleted trainings were run on), so that part of the "
                        f"curve continues split {s}'s depletion chain, not the chosen split's.")
    t2 = Table("table2", f"Table 2. {dataset}: median Dice by % of the data used for training", pd.DataFrame(rows), notes)
    t2_all = Table("table2_all_metrics", f"Table 2 (all metrics). {dataset}: medians by % of the data used for training",
                   pd.DataFrame(rows_all), notes)
    return _labelled(t2, provenance), _labelled(t2_all, provenance), pd.DataFrame(curve)


# ----------------------------------------------------------------------------- Tables S1-S4


def table_s1(stats: StudyStatistics, selection: pd.DataFrame, provenance: Provenance = UNKNOWN) -> Table:
    opts = stats.options
    ratio = main_ratio(stats)
    comp = overall(stats.compare)
    comp = comp.loc[comp["ratio"] == ratio]
    desc = overall(stats.describe)
    rows = []
    for _, sel in selection.iterrows():
        s = int(sel["split"])
        g = _rows(comp, ratio, s)
        n = int(_rows(desc, ratio, s)["n_images"].max())
        rec = {"split": str(s), "n test": fmt_count(n)}
        for m in opts.metrics:
            if m not in g.index:
                continue
            r = g.loc[m]
            for init in names.INITS:
                rec[f"{METRIC_NAMES.get(m, m)} {INIT_NAMES[init]}"] = cell(r[f"median_{init}"], r[f"mean_{init}"], marks(r, init, opts.alpha))
        rec["mean median Dice"] = fmt(sel["score"])
        rec["max LMI/TII gap"] = f"{sel['max_gap']:.1%}" if not pd.isna(sel["max_gap"]) else "n/a"
        rec["chosen"] = "yes" if sel["chosen"] else ""
        rows.append(rec)
    reason = selection.loc[selection["chosen"], "reason"].iloc[0]
    notes = [f"Chosen: {reason}.",
             "gap = |TII - LMI| / worse median, the largest over Dice and AUROC; the chosen split feeds Table 1 "
             "and the depletion study (Table 2).", *_legend(opts, stats.level)]
    dataset = str(comp["dataset"].iloc[0])
    return _labelled(Table("tableS1", f"Table S1. {dataset}: the {ratio}:{100 - ratio} sets and the choice of split",
                           pd.DataFrame(rows), notes), provenance)


def table_s2(per_repeat: pd.DataFrame, ratio: int, provenance: Provenance = UNKNOWN) -> Table:
    """Test-set clinical labels per split, and pairwise test-set overlap (from the per-image table)."""
    tests = per_repeat.loc[per_repeat["ratio"] == ratio, ["split", "image_id", "clinical_label"]].drop_duplicates(["split", "image_id"])
    counts = tests.groupby(["split", "clinical_label"], observed=True).size().unstack(fill_value=0)
    rows = []
    sets = {int(s): set(g["image_id"]) for s, g in tests.groupby("split")}
    for s, r in counts.iterrows():
        total = int(r.sum())
        rec = {"split": str(int(s)), "n test": fmt_count(total)}
        for label, c in r.items():
            rec[str(label)] = f"{int(c):,} ({100.0 * c / total:.1f}%)"
        others = [sets[o] for o in sets if o != int(s)]
        shared = len(sets[int(s)] & set().union(*others)) if others else 0
        rec["shared with another split"] = f"{shared:,} ({100.0 * shared / total:.1f}%)"
        rows.append(rec)
    common = set.intersection(*sets.values()) if sets else set()
    notes = ["Test-set clinical labels per split (count and %); train sets are the complement in the prepared "
             "dataset (data/splits/<dataset>/split_report.csv has both).",
             f"Images in every test set: {len(common):,}. Test sets of a K-fold + random subsampling mixture overlap partly."]
    return _labelled(Table("tableS2", f"Table S2. Test sets of the {ratio}:{100 - ratio} splits: clinical labels and overlap",
                           pd.DataFrame(rows), notes), provenance, tii=False)


def table_s3(stats: StudyStatistics, split: int, provenance: Provenance = UNKNOWN) -> Table:
    """Per clinical label: median (mean) LMI vs TII with marks, n."""
    opts = stats.options
    ratio = main_ratio(stats)
    comp = stats.compare.loc[(stats.compare["ratio"] == ratio) & (stats.compare["split"] == split)
                             & (stats.compare["clinical_label"] != ALL_LABELS)]
    rows = []
    for label, g in comp.groupby("clinical_label", sort=True, observed=True):
        g = g.set_index(g["metric"].astype(str))
        n = g["n_lmi"].max(), g["n_tii"].max()
        rec = {"clinical label": str(label), "n (LMI/TII)": f"{fmt_count(n[0])}/{fmt_count(n[1])}"}
        for m in opts.metrics:
            if m in g.index:
                r = g.loc[m]
                for init in names.INITS:
                    rec[f"{METRIC_NAMES.get(m, m)} {INIT_NAMES[init]}"] = cell(r[f"median_{init}"], r[f"mean_{init}"], marks(r, init, opts.alpha))
        rows.append(rec)
    dataset = str(stats.compare["dataset"].iloc[0])
    notes = _legend(opts, stats.level) + ["n (LMI/TII): the largest per-metric count of images with a defined value."]
    return _labelled(Table("tableS3", f"Table S3. {dataset}: median (mean) per clinical label, split {split}, "
                           f"{ratio}:{100 - ratio}", pd.DataFrame(rows), notes), provenance)


def table_s4(stats: StudyStatistics, split: int, provenance: Provenance = UNKNOWN) -> Table:
    ratio = main_ratio(stats)
    c = stats.compare
    selector = (c["ratio"] == ratio) & (c["split"] == split) & (c["clinical_label"] != ALL_LABELS)
    dataset = str(c["dataset"].iloc[0])
    t = tests_table(stats, selector, ["clinical_label"], "tableS4",
                    f"Table S4. {dataset}: TII vs LMI per clinical label (delta_m and tests), split {split}, {ratio}:{100 - ratio}",
                    provenance)
    t.frame = t.frame.rename(columns={"clinical_label": "clinical label"})
    return t


def build_tables(stats: StudyStatistics, per_repeat: pd.DataFrame, provenance: Provenance = UNKNOWN,
                 ) -> tuple[dict[str, Table], pd.DataFrame, int, pd.DataFrame]:
    """All tables; returns (tables by name, the split selection, the chosen split, the depletion curve).
    ``provenance`` (synthetic data, TII weights) is said in every table's caption and notes."""
    chosen, selection = select_split(stats)
    ratio = main_ratio(stats)
    c, d = stats.compare, stats.describe
    dataset = str(c["dataset"].iloc[0])
    main_c = (c["ratio"] == ratio) & (c["split"] == chosen) & (c["clinical_label"] == ALL_LABELS)
    main_d = (d["ratio"] == ratio) & (d["split"] == chosen) & (d["clinical_label"] == ALL_LABELS)
    prov = provenance
    t2, t2_all, curve = table2(stats, chosen, prov)
    tables = [
        table1(stats, chosen, provenance=prov),
        tests_table(stats, main_c, [], "table1_tests",
                    f"Table 1 (tests). {dataset}: TII vs LMI, split {chosen}, {ratio}:{100 - ratio}", prov),
        describe_table(stats, main_d, [], "table1_statistics",
                       f"Table 1 (statistics). {dataset}: every statistic per metric and init, split {chosen}, "
                       f"{ratio}:{100 - ratio}", prov),
        t2,
        t2_all,
        tests_table(stats, (c["clinical_label"] == ALL_LABELS) & (c["split"] == c["ratio"].map(lambda r: regime_split(stats, int(r), chosen))),
                    ["ratio"], "table2_tests", f"Table 2 (tests). {dataset}: TII vs LMI by training %", prov),
        table_s1(stats, selection, prov),
        table_s2(per_repeat, ratio, prov),
        table_s3(stats, chosen, prov),
        table_s4(stats, chosen, prov),
    ]
    return {t.name: t for t in tables}, selection, chosen, curve
