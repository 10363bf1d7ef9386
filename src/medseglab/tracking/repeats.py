"""What stats, ensemble and explain all read from a finished study, in one place.

- :func:`finished_trainings`: the LMI/TII trainings of one ratio that have usable outputs;
- :func:`stack_repeats`: the repeats' probability maps of one model, aligned by image id;
- :func:`find_prepared` / :func:`study_prepared`: the prepared dataset (ground truth) a study used,
  found by its content hash, so a study pointed at real data (``--source``) is found too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from medseglab.names import INITS

UNFINISHED = ("RUNNING", "SCHEDULED", "FAILED", "KILLED")  # MLflow run states without usable outputs
ProbLoader = Callable[[str], tuple[np.ndarray, np.ndarray]]


def finished_trainings(children: pd.DataFrame, ratio: int, splits: Sequence[int] | None = None) -> pd.DataFrame:
    """Finished LMI/TII trainings of one ratio (and the given splits) of ``tracking.study_children``."""
    need = {"init", "split", "ratio", "repeat", "run_id"}
    if not need <= set(children.columns):
        raise ValueError(f"study children table lacks columns {sorted(need - set(children.columns))}")
    rows = children[children["init"].isin(INITS) & (children["ratio"].astype(int) == int(ratio))]
    if "status" in rows.columns:
        # study/runs.csv says trained | resumed | skipped (all finished); the tag search gives MLflow's status
        rows = rows[~rows["status"].fillna("FINISHED").astype(str).str.upper().isin(UNFINISHED)]
    if splits is not None:
        rows = rows[rows["split"].astype(int).isin([int(s) for s in splits])]
    return rows.sort_values(["split", "init", "repeat"]).reset_index(drop=True)


def stack_repeats(run_ids: Sequence[str], load: ProbLoader) -> tuple[np.ndarray, np.ndarray]:
    """(image_ids, uint8 (R, N, H, W)) of several repeats, aligned on the first repeat's image order.

    uint8 is how probabilities.npz stores the maps and keeps R x N maps in memory at paper scale;
    ``stats.combine.combine_repeats`` reads it as q / 255.
    """
    from medseglab.data.errors import DataError

    ids0: np.ndarray | None = None
    stacked: list[np.ndarray] = []
    for run_id in run_ids:
        ids, prob = load(run_id)
        ids = np.asarray(ids).astype(str)
        prob = np.asarray(prob)
        prob8 = prob if prob.dtype == np.uint8 else np.rint(np.clip(prob, 0.0, 1.0) * 255).astype(np.uint8)
        if ids0 is None:
            ids0 = ids
        elif not np.array_equal(ids, ids0):
            if set(ids) != set(ids0):
                raise DataError(
                    f"run {run_id} was tested on other images than run {run_ids[0]} "
                    f"({len(set(ids) ^ set(ids0))} differ); the repeats of one model must share a test set. "
                    "Re-run these trainings' evaluation"
                )
            prob8 = prob8[pd.Index(ids).get_indexer(ids0)]
        stacked.append(prob8)
    if ids0 is None:
        raise ValueError("no runs to stack")
    shapes = {p.shape for p in stacked}
    if len(shapes) != 1:
        raise DataError(f"runs {list(run_ids)} have different probability-map shapes {sorted(shapes)}")
    return ids0, np.stack(stacked)


def find_prepared(dataset: str, params: dict | None = None, profile: str | None = None,
                  data_hash: str | None = None, base: str | Path = "data/prepared") -> Path:
    """The prepared dataset whose ``content_hash`` is ``data_hash`` (any, when None), among the
    config's own folder, ``<base>/<dataset>`` and the study caches ``<base>/../cache/<dataset>-*``."""
    from medseglab.config import ConfigError, resolve
    from medseglab.data.errors import DataError
    from medseglab.data.prepared import prepared_dir_for

    candidates: list[Path] = []
    if params is not None:
        try:
            candidates.append(Path(prepared_dir_for(resolve(params, dataset, profile), base)))
        except ConfigError:
            pass  # a dataset the study declared on its command line: look in the usual places
    candidates.append(Path(base) / dataset)
    candidates += sorted((Path(base).parent / "cache").glob(f"{dataset}-*"))
    seen = []
    for folder in dict.fromkeys(candidates):
        try:
            info = json.loads((folder / "dataset.json").read_text())
        except (OSError, ValueError):
            continue
        seen.append(f"{folder} ({str(info.get('content_hash'))[:12]})")
        if data_hash is None or info.get("content_hash") == data_hash:
            return folder
    wanted = f"with content hash {data_hash[:12]} " if data_hash else ""
    raise DataError(
        f"{dataset}: no prepared dataset {wanted}for the ground-truth masks "
        f"(looked at {seen or [str(c) for c in candidates]}); rerun `medseglab study` with the study's "
        "--profile/--source/--format (it re-imports the data and skips finished trainings), or pass --prepared DIR"
    )


def study_prepared(study, params: dict | None = None, base: str | Path = "data/prepared") -> Path:
    """The prepared dataset a study run (``find_study``) trained and tested on."""
    from medseglab.tracking import conventions as C

    tags = study.data.tags
    return find_prepared(tags.get(C.DATASET), params, tags.get(C.PROFILE), tags.get(C.DATA_HASH), base)


def load_study_data(study, params: dict | None = None, prepared: str | Path | None = None):
    """The ``PreparedDataset`` of a study: ``prepared`` if given (it must hold the study's data),
    else the one :func:`study_prepared` finds."""
    from medseglab.data import load_prepared
    from medseglab.data.errors import DataError
    from medseglab.tracking import conventions as C

    folder = Path(prepared) if prepared else study_prepared(study, params)
    if not folder.is_dir():
        raise DataError(f"{folder}: no prepared dataset there; pass the folder the study used as --prepared DIR")
    data = load_prepared(folder)
    study_hash = study.data.tags.get(C.DATA_HASH)
    have = (data.info or {}).get("content_hash")
    if study_hash and have and study_hash != have:
        raise DataError(
            f"{folder} (content_hash {have[:12]}) is not the data study {study.info.run_id} used ({study_hash[:12]}); "
            "pass the prepared folder the study used as --prepared DIR, or leave --prepared out"
        )
    return data
