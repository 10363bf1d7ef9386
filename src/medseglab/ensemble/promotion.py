"""Which trainings of a finished study to promote: rank the candidates, then let the registry move aliases.

Candidates: the finished trainings of the split the statistics chose (``stats.selection.chosen_split``,
Table S1) at its ratio (80, the 80:20 sets). Criterion ``<metric>_<median|mean>`` of the per-image
test table (default ``dice_median``: median per-image test Dice); ties go to the lower SD of that
metric, then to the lower repeat. The registry work is ``tracking.registry.promote``.
"""

from __future__ import annotations

import pandas as pd

from medseglab.errors import UserError

METRICS = ("dice", "auroc_mask", "auroc_prob", "sensitivity", "specificity", "precision")  # higher is better
STATS = ("median", "mean")
DEFAULT_CRITERION = "dice_median"


def parse_criterion(criterion: str) -> tuple[str, str]:
    """``dice_median`` -> (``dice``, ``median``); UserError listing the choices otherwise."""
    metric, _, stat = str(criterion).rpartition("_")
    if metric not in METRICS or stat not in STATS:
        choices = ", ".join(f"{m}_{s}" for m in METRICS for s in STATS)
        raise UserError(f"--criterion {criterion!r}: choose one of {choices}")
    return metric, stat


def rank_trainings(table: pd.DataFrame, criterion: str = DEFAULT_CRITERION) -> pd.DataFrame:
    """One row per training (``run_id``) of the per-image ``table``: ``init``, ``split``, ``ratio``,
    ``repeat``, ``run_id``, ``score``, ``sd``, ``n_images``, ``rank`` (1 = best within its init)."""
    metric, stat = parse_criterion(criterion)
    rows = []
    for (init, split, ratio, repeat, run_id), part in table.groupby(["init", "split", "ratio", "repeat", "run_id"]):
        values = part[metric].dropna()
        rows.append({"init": init, "split": int(split), "ratio": int(ratio), "repeat": int(repeat), "run_id": run_id,
                     "score": float(getattr(values, stat)()) if len(values) else float("nan"),
                     "sd": float(values.std(ddof=1)) if len(values) > 1 else float("nan"), "n_images": len(values)})
    ranked = pd.DataFrame(rows, columns=["init", "split", "ratio", "repeat", "run_id", "score", "sd", "n_images"])
    ranked = ranked.sort_values(["init", "score", "sd", "repeat"], ascending=[True, False, True, True],
                                na_position="last")
    ranked["rank"] = ranked.groupby("init").cumcount() + 1
    return ranked.reset_index(drop=True)


def candidate_table(study, params: dict, *, uri: str) -> pd.DataFrame:
    """The per-image test rows of the chosen split's finished trainings (ratio of the selection)."""
    from mlflow.exceptions import MlflowException

    from medseglab import tracking
    from medseglab.stats.selection import chosen_split
    from medseglab.tracking.repeats import finished_trainings

    run_id = study.info.run_id
    chosen = chosen_split(study, params, uri=uri)
    children = tracking.study_children(run_id, uri=uri)
    split = chosen.split if chosen.split is not None else int(children["split"].min())
    rows = finished_trainings(children, chosen.ratio, [split])
    if rows.empty:
        raise UserError(f"study {run_id} has no finished trainings at split {split} ratio {chosen.ratio}; "
                        "finish the study (`medseglab study`) before promoting")
    ids = set(rows["run_id"].astype(str))
    try:
        table = tracking.study_table(run_id, uri=uri)
        table = table[table["run_id"].astype(str).isin(ids)]
    except (MlflowException, OSError):  # an unfinished study has no table yet: read each training's
        table = pd.DataFrame()
    if set(table.get("run_id", pd.Series(dtype=str)).astype(str)) != ids:
        table = pd.concat([tracking.training_table(rid, uri=uri) for rid in sorted(ids)], ignore_index=True)
    return table


def promote_study(params: dict, dataset: str, run_id: str | None = None, *, criterion: str = DEFAULT_CRITERION,
                  dry_run: bool = False, uri: str | None = None):
    """Rank a finished study's candidates and promote them (``tracking.registry.promote``); returns the
    registry's ``Promotion`` (``describe()`` prints the ranking and what changed)."""
    from medseglab import tracking
    from medseglab.ensemble.stage import ensemble_settings
    from medseglab.tracking import registry

    parse_criterion(criterion)  # a wrong flag fails before MLflow is read
    settings = ensemble_settings(params)
    uri = uri or tracking.tracking_uri(params)
    study = tracking.find_study(dataset, run_id, params, uri=uri)
    ranking = rank_trainings(candidate_table(study, params, uri=uri), criterion)
    estimator, note = study_estimator(study, int(ranking["split"].iloc[0]), int(ranking["ratio"].iloc[0]), settings,
                                      uri=uri)
    promotion = registry.promote(study, ranking, criterion=criterion, combine=settings["combine"],
                                 threshold=settings["mask_threshold"], dry_run=dry_run, uri=uri, estimator=estimator)
    promotion.actions.append(note)
    return promotion


def study_estimator(study, split: int, ratio: int, settings: dict, *, uri: str) -> tuple[dict | None, str]:
    """The Dice estimator ``medseglab ensemble`` stored on the study (``ensemble/estimator.json``) when it
    was fitted for ``split`` and ``ratio`` with the settings' combine and mask threshold; else None.
    Returns (estimator dict, a line saying which)."""
    import json

    from medseglab import tracking
    from medseglab.ensemble.estimator import DiceEstimator

    run_id = study.info.run_id
    try:
        data = tracking.read_artifact(run_id, "ensemble/estimator.json", lambda p: json.loads(p.read_text()), uri=uri)
        estimator = DiceEstimator.from_dict(data)
    except Exception:  # noqa: BLE001 - no estimator on the study (no ensemble run yet, or a one-split study)
        return None, ("no Dice estimator on the study (`medseglab ensemble` fits one on a study with two or more "
                      "splits): no Dice estimates")
    want = {"split": split, "ratio": ratio}
    have = {"split": estimator.info.get("split"), "ratio": estimator.info.get("ratio")}
    if have != want or estimator.combine != settings["combine"] or estimator.threshold != settings["mask_threshold"]:
        return None, (f"the study's Dice estimator was fitted for {have}, combine {estimator.combine}, threshold "
                      f"{estimator.threshold}, not the pair's {want}, combine {settings['combine']}, threshold "
                      f"{settings['mask_threshold']}: no Dice estimates (rerun `medseglab ensemble`)")
    return estimator.to_dict(), f"Dice estimator of study {run_id} (split {split}, ratio {ratio})"
