"""The ensemble stage as functions: Algorithm 1 on a finished study's test sets -> ``reports/<dataset>/
ensemble/`` and the study's parent run. ``medseglab ensemble`` and ``medseglab study --analyze`` call
:func:`study_ensemble`; ``medseglab predict`` shares :func:`ensemble_settings`.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import pandas as pd

from medseglab.names import CANDIDATES, mask_threshold


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

    def describe(self) -> str:
        """The lines the CLI prints: chosen counts, median Dice gains, written files."""
        counts = self.result["counts"]
        overall = counts[counts["branch"] == "all"].set_index("output")["count"]
        lines = [f"note: {note}" for note in self.notes]
        lines.append(f"ensemble {self.dataset}: {len(self.choices)} image-split rows from study {self.run_id}; chosen "
                     + ", ".join(f"{c} {int(overall[c])}" for c in CANDIDATES))
        for row in self.result["gains"][self.result["gains"]["scope"] == "all"].itertuples():
            lines.append(f"  median Dice chosen {row.median_chosen:.4f} vs {row.baseline.upper()} "
                         f"{row.median_baseline:.4f} (median gain {row.median_gain:+.4f}, "
                         f"Wilcoxon p = {row.p_value:.3g}, n = {row.n})")
        lines.append(f"wrote {self.out_dir}/" + "{" + ",".join(self.result["paths"]) + "}")
        return "\n".join(lines)


def study_ensemble(params: dict, dataset: str, run_id: str | None = None, *, ratio: int = 80,
                   splits: list[int] | None = None, prepared: str | Path | None = None,
                   out: str | Path | None = None, log: bool = True) -> EnsembleRun:
    """Algorithm 1 on study ``run_id`` (default the newest finished study of ``dataset``): choices per
    test image of the ``ratio`` sets, reports in ``out`` (default ``reports/<dataset>/ensemble``),
    and with ``log`` the files, headline metrics and settings on the study's parent run."""
    from medseglab import tracking
    from medseglab.config import resolve
    from medseglab.ensemble.report import log_to_study, write_reports
    from medseglab.ensemble.source import study_choices
    from medseglab.errors import UserError
    from medseglab.tracking.repeats import load_study_data

    resolve(params, dataset)  # unknown dataset -> ConfigError naming the choices
    settings = ensemble_settings(params)
    uri = tracking.tracking_uri(params)
    study = tracking.find_study(dataset, run_id, params)
    run_id = study.info.run_id
    data = load_study_data(study, params, prepared)
    try:
        choices, notes = study_choices(
            tracking.study_children(run_id, uri=uri), functools.partial(tracking.load_probabilities, uri=uri),
            data.load_masks, ratio=ratio, splits=splits, combine=settings["combine"],
            mask_threshold=settings["mask_threshold"], threshold=settings["threshold"],
        )
    except ValueError as exc:
        raise UserError(f"study {run_id}: {exc}") from exc
    out_dir = Path(out or Path("reports") / dataset / "ensemble")
    result = write_reports(choices, out_dir, dataset=dataset, threshold=settings["threshold"],
                           combine=settings["combine"])
    if log:
        tags = {"medseglab.ensemble.threshold": settings["threshold"], "medseglab.ensemble.combine": settings["combine"],
                "medseglab.ensemble.ratio": ratio}
        log_to_study(run_id, result["paths"], result["metrics"], tags, uri=uri)
    return EnsembleRun(dataset, run_id, choices, result, out_dir, list(notes), log)
