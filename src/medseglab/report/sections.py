"""What the study report shows, declared once: each section, the parent-run artifacts it reads and the
command that makes them. A section whose artifacts are all absent says so and names that command."""

from __future__ import annotations

import dataclasses

STATS = "medseglab stats --dataset {dataset} --run-id {run_id}"
ENSEMBLE = "medseglab ensemble --dataset {dataset} --run-id {run_id}"
EXPLAIN = "medseglab explain --dataset {dataset} --run-id {run_id}"
STUDY = "medseglab study --dataset {dataset}"  # a finished study logs its split tables

# Part kinds: "table" = a stats table (``<path>.md`` with its title and notes, else ``<path>.csv``);
# "csv", "markdown", "image" (PNG), "json" = one artifact file of that kind.
KINDS = ("table", "csv", "markdown", "image", "json")


@dataclasses.dataclass(frozen=True)
class Part:
    path: str  # artifact path on the study's parent run ("table": without the extension)
    kind: str
    caption: str = ""
    fallback: str = ""  # "table": another table shown when this one is absent

    def candidates(self) -> tuple[str, ...]:
        """The artifact files that can stand for this part, preferred first."""
        if self.kind != "table":
            return (self.path,)
        return tuple(f"{base}.{ext}" for base in (self.path, self.fallback) if base for ext in ("md", "csv"))


@dataclasses.dataclass(frozen=True)
class Section:
    key: str  # the HTML id
    title: str
    parts: tuple[Part, ...]
    command: str  # what makes the artifacts; {dataset} and {run_id} are filled in
    intro: str = ""
    datasets: tuple[str, ...] = ()  # only these datasets have it (empty: every dataset)


def _t(name: str, caption: str = "", fallback: str = "") -> Part:
    return Part(f"stats/tables/{name}", "table", caption, f"stats/tables/{fallback}" if fallback else "")


SECTIONS: tuple[Section, ...] = (
    Section("table1", "Table 1: TII vs LMI at 80:20, beside the paper",
            (_t("table1"), _t("table1_tests")), STATS),
    Section("challenge", "ISIC challenge score",
            (_t("isic2018"),), STATS,
            "The ISIC 2018 Task 1 score (mean Jaccard, 0 below 0.65) of this study's models.", ("skin",)),
    Section("table2", "Table 2: median Dice by training data, beside the paper",
            (_t("table2"), _t("table2_all_metrics"), _t("table2_tests")), STATS),
    Section("tableS1", "Table S1: choice of the 80:20 split", (_t("tableS1"),), STATS),
    Section("tableS2", "Table S2: test sets of the splits, clinical labels and overlap", (_t("tableS2"),), STATS),
    Section("tableS3", "Table S3: per clinical label (median, mean)", (_t("tableS3"),), STATS),
    Section("tableS4", "Table S4: TII vs LMI per clinical label (delta_m and tests)", (_t("tableS4"),), STATS),
    Section("depletion", "Depletion curves",
            (Part("stats/plots/depletion.png", "image", "medians by % of the data used for training"),), STATS),
    Section("learning", "Learning curves",
            (Part("stats/plots/learning_curves.png", "image", "median score by training images, inverse power law fits"),
             _t("learning_curves_summary", fallback="learning_curves"), _t("learning_curve_backtest", "backtest: fitted below the main training %, predicting its median")), STATS),
    Section("distributions", "Distributions",
            (Part("stats/plots/distributions.png", "image", "per-image values per init"),
             Part("stats/plots/delta_m.png", "image", "delta_m = TII - LMI per image")), STATS),
    Section("galleries", "Galleries: predictions, overlays and Grad-CAM (Figures 2-5)",
            (Part("explain/comparison.png", "image", "Figures 2-4: LMI vs TII, masks, overlays, Grad-CAM"),
             Part("explain/ensemble.png", "image", "Figure 5: Algorithm 1 outputs")), EXPLAIN),
    Section("algorithm1", "Algorithm 1 (oracle: with ground truth)",
            (Part("ensemble/summary.md", "markdown"), Part("ensemble/choices.png", "image", "output chosen per image")),
            ENSEMBLE),
    Section("algorithm1_estimated", "Algorithm 1 (estimated: without ground truth)",
            (Part("ensemble/estimator_evaluation.json", "json", "how well the estimate matches the oracle"),
             Part("ensemble/estimated_vs_oracle.png", "image", "estimated vs oracle choice"),
             Part("ensemble/estimated_choice.csv", "csv", "estimated choice per image")), ENSEMBLE),
    Section("umap", "UMAP of penultimate-layer features",
            (Part("explain/umap.png", "image", "UMAP 1 / UMAP 2 per init and class, coloured by clinical label"),),
            EXPLAIN),
    Section("splits", "Split report",
            (Part("splits/split_report.csv", "csv", "clinical labels per split, ratio and subset"),
             Part("splits/split_overlap.csv", "csv", "pairwise overlap of the 80:20 test sets")), STUDY),
)

# The two sections every report has, made from the run itself rather than from artifacts.
OVERVIEW_TITLE = "Study"
PROVENANCE_TITLE = "Provenance"


def titles() -> list[str]:
    """Every section heading of a report, in order."""
    return [OVERVIEW_TITLE, *(s.title for s in SECTIONS), PROVENANCE_TITLE]


def folders() -> list[str]:
    """The artifact folders the sections read (each listed once per report)."""
    return sorted({p.path.rsplit("/", 1)[0] for s in SECTIONS for p in s.parts})
