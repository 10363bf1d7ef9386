"""The ensemble stage as functions: Algorithm 1 on a finished study's test sets -> ``reports/<dataset>/
ensemble/`` and the study's parent run. ``medseglab ensemble`` and ``medseglab study --analyze`` call
:func:`study_ensemble`; ``medseglab predict`` shares :func:`ensemble_settings`.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import pandas as pd

from medseglab.names import CANDIDATES, INITS, mask_threshold


def ensemble_settings(params: dict) -> dict:
    """The ``ensemble`` section checked: Dice ``threshold``, repeat ``combine`` method, ``review_fewest``
    (fp | fn) and the mask threshold (``train.threshold``); ConfigError naming the key otherwise."""
    from medseglab.config import ConfigError
    from medseglab.stats.combine import METHODS

    section = params.get("ensemble") or {}
    threshold = section.get("threshold", 0.9)
    if not isinstance(threshold, (int, float)) or not 0.0 <= float(threshold) <= 1.0:
        raise ConfigError(f"ensemble.threshold = {threshold!r}: give a Dice threshold in [0, 1] (the paper uses 0.9)")
    combine = section.get("combine", (params.get("stats") or {}).get("combine", "intersection"))
    if combine not in METHODS:
        raise ConfigError(f"ensemble.combine = {combine!r}: choose one of {', '.join(METHODS)}")
    fewest = section.get("review_fewest", "fp")
    if fewest not in ("fp", "fn"):
        raise ConfigError(f"ensemble.review_fewest = {fewest!r}: choose fp or fn")
    return {"threshold": float(threshold), "combine": combine, "review_fewest": fewest,
            "mask_threshold": mask_threshold(params)}


@dataclasses.dataclass
class EnsembleRun:
    """What :func:`study_ensemble` did: the study, the choice table, the written files and notes."""

    dataset: str
    run_id: str
    choices: pd.DataFrame
    result: dict  # ensemble.report.write_reports: paths, metrics, counts, gains
    out_dir: Path
    notes: list[str]
    logged: bool
    ratio: int = 80
    split: int | None = None  # the chosen split: the headline metrics are its images'
    chosen_line: str = ""

    def describe(self) -> str:
        """The lines the CLI prints: the split and ratio, chosen counts, median Dice gains, written files."""
        counts = self.result["counts"]
        overall = counts[counts["branch"] == "all"].set_index("output")["count"]
        lines = [f"note: {note}" for note in self.notes]
        if self.chosen_line:
            lines.append(self.chosen_line)
        lines.append(f"ensemble {self.dataset}: ratio {self.ratio} ({self.ratio}:{100 - self.ratio} sets), "
                     f"{len(self.choices)} image-split rows from study {self.run_id}; chosen "
                     + ", ".join(f"{c} {int(overall[c])}" for c in CANDIDATES))
        gains = self.result["gains"]
        scope = f"split {self.split}" if f"split {self.split}" in set(gains["scope"]) else "all"
        scopes = [scope] + (["all"] if scope != "all" else [])
        for name in scopes:
            label = "all splits pooled" if name == "all" else name
            for row in gains[gains["scope"] == name].itertuples():
                lines.append(f"  {label}: median Dice chosen {row.median_chosen:.4f} vs {row.baseline.upper()} "
                             f"{row.median_baseline:.4f} (oracle median gain {row.median_gain:+.4f}, "
                             f"Wilcoxon p = {row.p_value:.3g}, n = {row.n})")
        lines.append("  (oracle: Algorithm 1 with ground truth reads each image's true Dice; where Dice decides its gain "
                     "is never negative, where every Dice >= the threshold AUROC decides and can cost a little Dice)")
        estimated = self.result.get("estimated")
        if estimated and "median_dice" in estimated:
            med = estimated["median_dice"]
            lines.append(f"  without ground truth, {estimated['scope']}: median Dice estimated choice "
                         f"{med['estimated_choice']:.4f} vs oracle {med['oracle_choice']:.4f} vs best single "
                         f"({estimated['best_single'].upper()}) {med['best_single']:.4f} (Wilcoxon p vs oracle "
                         f"{estimated['estimated_vs_oracle']['p_value']:.3g}, vs best single "
                         f"{estimated['estimated_vs_best_single']['p_value']:.3g}); Spearman estimated vs true Dice "
                         f"{estimated['spearman']:.3f}; same choice as the oracle on "
                         f"{estimated['agreement_rate']:.1%} of {estimated['n_images']} images")
        lines.append(f"wrote {self.out_dir}/" + "{" + ",".join(self.result["paths"]) + "}")
        return "\n".join(lines)


def study_ratio(children: pd.DataFrame, ratio: int | None) -> tuple[int, str]:
    """The ratio to analyse: ``ratio`` when given, else the study's main one (80, else its largest:
    ``stats.selection.main_ratio``) among its finished LMI/TII trainings; and how it was picked."""
    from medseglab.errors import UserError
    from medseglab.stats.selection import main_ratio

    if ratio is not None:
        return int(ratio), "--ratio"
    rows = children[children["init"].isin(INITS)] if "init" in children else children
    have = sorted({int(r) for r in rows.get("ratio", [])})
    if not have:
        raise UserError("the study has no LMI/TII trainings")
    picked = main_ratio(have)
    return picked, f"the study's {'80:20 sets' if picked == 80 else 'largest ratio'}; it has ratios {have}"


def study_ensemble(params: dict, dataset: str, run_id: str | None = None, *, ratio: int | None = None,
                   splits: list[int] | None = None, prepared: str | Path | None = None,
                   out: str | Path | None = None, log: bool = True) -> EnsembleRun:
    """Algorithm 1 on study ``run_id`` (default the newest finished study of ``dataset``): choices per
    test image of every split of the ``ratio`` sets (default: 80, else the study's largest ratio),
    reports in ``out`` (default ``reports/<dataset>/ensemble``), and with ``log`` the files, the
    chosen split's headline metrics and the settings on the study's parent run. The chosen split is
    the one `stats`/`report` recorded (``stats.selection.chosen_split``), else computed the same way."""
    from medseglab import tracking
    from medseglab.config import resolve
    from medseglab.ensemble.report import log_to_study, write_reports
    from medseglab.ensemble.source import study_choices
    from medseglab.errors import UserError
    from medseglab.stats.provenance import study_provenance
    from medseglab.stats.selection import chosen_split
    from medseglab.tracking.repeats import load_study_data

    resolve(params, dataset)  # unknown dataset -> ConfigError naming the choices
    settings = ensemble_settings(params)
    uri = tracking.tracking_uri(params)
    study = tracking.find_study(dataset, run_id, params)
    run_id = study.info.run_id
    data = load_study_data(study, params, prepared)
    children = tracking.study_children(run_id, uri=uri)
    ratio, why = study_ratio(children, ratio)
    notes = [f"ratio {ratio} ({why})"]
    features: list[pd.DataFrame] = []
    try:
        choices, skipped = study_choices(
            children, functools.partial(tracking.load_probabilities, uri=uri),
            data.load_masks, ratio=ratio, splits=splits, combine=settings["combine"],
            mask_threshold=settings["mask_threshold"], threshold=settings["threshold"],
            on_split=functools.partial(_collect_features, features, settings),
        )
        chosen = chosen_split(study, params, uri=uri)
        split, note = chosen.for_ratio(ratio, choices["split"].astype(int).unique())
    except ValueError as exc:
        raise UserError(f"study {run_id}: {exc}") from exc
    notes += list(skipped) + ([note] if note else [])
    out_dir = Path(out or Path("reports") / dataset / "ensemble")
    provenance = study_provenance(study, params, children, uri=uri)
    result = write_reports(choices, out_dir, dataset=dataset, threshold=settings["threshold"],
                           combine=settings["combine"], split=split, provenance=provenance)
    estimated = _estimate_without_gt(choices, pd.concat(features, ignore_index=True), out_dir, settings, split,
                                     dataset=dataset, info={"study_run_id": run_id, "ratio": ratio},
                                     provenance=provenance)
    notes += estimated.pop("notes")
    result["paths"].update(estimated.pop("paths"))
    result["metrics"].update(estimated.pop("metrics"))
    result["estimated"] = estimated.get("report")
    if log:
        tags = {"medseglab.ensemble.threshold": settings["threshold"], "medseglab.ensemble.combine": settings["combine"],
                "medseglab.ensemble.ratio": ratio, "medseglab.ensemble.split": split}
        log_to_study(run_id, result["paths"], result["metrics"], tags, uri=uri)
    return EnsembleRun(dataset, run_id, choices, result, out_dir, notes, log, ratio, split, chosen.line(dataset, split))


def _collect_features(into: list, settings: dict, split: int, image_ids, lmi, tii) -> None:
    """``study_choices``' per-split hook: the Dice estimator's features of the split's test images."""
    from medseglab.ensemble.estimator import image_features

    table = image_features(lmi, tii, combine=settings["combine"], threshold=settings["mask_threshold"])
    table.insert(0, "image_id", [str(i) for i in image_ids])
    table.insert(0, "split", split)
    into.append(table)


def _estimate_without_gt(choices: pd.DataFrame, features: pd.DataFrame, out_dir: Path, settings: dict,
                         split: int | None, *, dataset: str, info: dict, provenance) -> dict:
    """Algorithm 1 without ground truth (``ensemble.estimation``): the cross-fitted estimators' choices on
    every split's test images, the evaluation, its figure, and the chosen split's estimator (what
    ``promote`` puts in the pair model). Returns paths, metrics, notes and the report; no files when
    no split could get an estimator (a one-split study)."""
    from medseglab.ensemble import estimation
    from medseglab.io import atomic_path, write_csv, write_json

    table, estimators, notes = estimation.cross_fit(features, choices, combine=settings["combine"],
                                                    threshold=settings["mask_threshold"], info=info)
    if table.empty:
        for name in estimation.FILES:  # an earlier run's files would pass for this run's
            (out_dir / name).unlink(missing_ok=True)
        return {"paths": {}, "metrics": {}, "notes": notes, "report": None}
    main = split if split is not None and int(split) in estimators else None
    report = estimation.evaluation_report(table, main, estimators, notes)
    paths = {name: out_dir / name for name in estimation.FILES}
    write_csv(paths["estimated_choice.csv"], table)
    write_json(paths["estimator_evaluation.json"], report)
    shown = table if main is None else table[table["split"].astype(int) == int(main)]  # the report's top level
    with atomic_path(paths["estimated_vs_oracle.png"]) as tmp:
        estimation.estimated_figure(shown, report, tmp, provenance.figure_title(
            f"Algorithm 1 on {dataset} without ground truth ({report['scope']}): estimated vs oracle choice"))
    deployable = estimators[main] if main is not None else estimators[min(estimators)]
    deployable.save(paths["estimator.json"])
    return {"paths": paths, "metrics": estimation.headline_metrics(report), "notes": notes, "report": report}
