"""The chosen split (Table S1): one record on the study's parent run that every stage reads.

``medseglab stats`` and the DVC ``report`` stage both log it: artifact ``stats/selection.json``
(split, ratio, level, reason, every split's score) and metrics ``stats.chosen_split`` /
``stats.chosen_ratio``. ``ensemble``, ``explain`` (and the dashboard) read it with
:func:`chosen_split`; when no stage has recorded one yet, the same rule is computed on the study's
per-image table (:func:`compute_selection`), never a default split.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable

ARTIFACT = "stats/selection.json"
SPLIT_METRIC = "stats.chosen_split"
RATIO_METRIC = "stats.chosen_ratio"
FILE = "selection.json"  # also written into the report folder (reports/<dataset>/selection.json)


def main_ratio(ratios: Iterable[int]) -> int:
    """The ratio whose splits Table 1 and the selection compare: 80 (the 80:20 sets) when the study
    has it, else its largest. Ensemble and explain default to it too."""
    ratios = sorted({int(r) for r in ratios})
    if not ratios:
        raise ValueError("the study has no trainings")
    return 80 if 80 in ratios else ratios[-1]


@dataclasses.dataclass(frozen=True)
class ChosenSplit:
    """The selection: ``split`` of the ``ratio`` sets, and where it comes from (``source``, printed)."""

    split: int | None  # None: nothing to choose from (a study without a per-image table)
    ratio: int
    source: str
    recorded: bool = False

    def line(self, dataset: str, split: int | None = None) -> str:
        """``skin: split 1 chosen (source)``; ``split``: the one a stage uses (default the chosen one)."""
        return f"{dataset}: split {self.split if split is None else split} chosen ({self.source})"

    def for_ratio(self, ratio: int, splits: Iterable[int]) -> tuple[int, str | None]:
        """The split that represents ``ratio`` among the ``splits`` run at it, as Table 2 does: the chosen
        split when it was run there, else the lowest (with a note saying so)."""
        splits = sorted({int(s) for s in splits})
        if not splits:
            raise ValueError(f"no split at ratio {ratio} has finished LMI and TII trainings")
        if self.split is None or self.split in splits:
            return (splits[0] if self.split is None else self.split), None
        return splits[0], (f"the chosen split {self.split} has no finished LMI and TII trainings among those used at "
                           f"ratio {ratio} (splits {splits}); using split {splits[0]}, the lowest (as Table 2 does)")


def selection_record(dataset: str, selection, chosen: int, ratio: int, level: str, stage: str,
                     run_id: str | None = None) -> dict:
    """The content of ``selection.json``: from ``stats.tables.select_split``'s table."""
    rows = selection.to_dict("records")
    reason = next((str(r.get("reason") or "") for r in rows if r.get("chosen")), "")
    return {
        "dataset": dataset, "split": int(chosen), "ratio": int(ratio), "level": level, "stage": stage,
        "study_run_id": run_id, "reason": reason,
        "splits": [{"split": int(r["split"]), "score": _num(r["score"]), "max_gap": _num(r["max_gap"]),
                    "eligible": bool(r["eligible"]), "chosen": bool(r["chosen"])} for r in rows],
    }


def _num(value):
    value = float(value)
    return None if value != value else value  # NaN -> null


def recorded_selection(run, *, uri: str | None = None) -> ChosenSplit | None:
    """The selection logged on study ``run`` (a parent run from ``tracking.find_study``), else None."""
    import json

    from mlflow.exceptions import MlflowException

    from medseglab.tracking.runs import list_artifacts, read_artifact

    run_id = run.info.run_id
    try:
        logged = ARTIFACT in list_artifacts(run_id, "stats", uri=uri)
        record = read_artifact(run_id, ARTIFACT, lambda p: json.loads(p.read_text()), uri=uri) if logged else None
    except (MlflowException, OSError, ValueError):
        record = None
    if record and record.get("split") is not None:
        stage = record.get("stage") or "stats"
        return ChosenSplit(int(record["split"]), int(record.get("ratio") or 80),
                           f"Table S1, recorded by `medseglab {stage}` on study run {run_id} ({ARTIFACT})", True)
    metrics = run.data.metrics
    if metrics.get(SPLIT_METRIC) is not None:  # a study analysed before selection.json existed
        return ChosenSplit(int(metrics[SPLIT_METRIC]), int(metrics.get(RATIO_METRIC, 80)),
                           f"Table S1, metric {SPLIT_METRIC} on study run {run_id}", True)
    return None


def compute_selection(run, params: dict, *, uri: str | None = None, table=None) -> ChosenSplit:
    """Table S1's rule on the study's per-image table, as ``medseglab stats`` applies it (level auto:
    the repeats' combined outputs when their maps and the prepared masks can be read)."""
    from mlflow.exceptions import MlflowException

    from medseglab import tracking
    from medseglab.stats.stage import combined_or_none
    from medseglab.stats.summary import StatsOptions, compute_statistics
    from medseglab.stats.tables import select_split

    run_id = run.info.run_id
    if table is None:
        try:
            table = tracking.study_table(run_id, uri=uri)
        except (MlflowException, OSError) as exc:  # a study that never wrote its table: nothing to rank
            return ChosenSplit(None, 80, f"study run {run_id} has no per-image table (study/per_image.parquet: "
                                         f"{str(exc).splitlines()[0]}), so no Table S1 choice: the lowest split "
                                         "with LMI and TII trainings")
    ratio = main_ratio(table["ratio"].unique())
    table = table.loc[table["ratio"].astype(int) == ratio]
    options = dataclasses.replace(StatsOptions.from_params(params), bootstrap=0)  # the choice needs no CIs
    params = {**params, "tracking": {**(params.get("tracking") or {}), "uri": uri}} if uri else params
    combined = combined_or_none(table, "auto", params, run.data.tags.get("medseglab.profile"), options, run_id)
    stats = compute_statistics(table, options, combined=combined)
    chosen, _ = select_split(stats)
    return ChosenSplit(chosen, ratio, f"Table S1 computed now on {stats.level} values of study run {run_id}; "
                                      "no `medseglab stats`/`report` has recorded it yet")


def chosen_split(run, params: dict, *, uri: str | None = None) -> ChosenSplit:
    """The study's chosen split: the recorded selection, else the same rule computed now."""
    return recorded_selection(run, uri=uri) or compute_selection(run, params, uri=uri)
