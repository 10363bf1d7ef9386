"""MLflow naming conventions: tracking URI, experiment names, training keys, tags, config hashes.

Pure Python (no MLflow import) so that CLIs and tests can use the names cheaply.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from typing import Any, NamedTuple

from medseglab.config import config_hash, flatten

DEFAULT_URI = "sqlite:///mlflow.db"
DEFAULT_ARTIFACT_ROOT = "mlartifacts"

# Tags of the contract (docs/ARCHITECTURE.md "Trainings in MLflow").
KIND = "medseglab.kind"
DATASET = "medseglab.dataset"
PROFILE = "medseglab.profile"
CONFIG_HASH = "medseglab.config_hash"
DATA_HASH = "medseglab.data_hash"
SPLITS_HASH = "medseglab.splits_hash"
INIT = "medseglab.init"
SPLIT = "medseglab.split"
RATIO = "medseglab.ratio"
REPEAT = "medseglab.repeat"
KEY = "medseglab.key"
PARENT = "mlflow.parentRunId"
# Added by this package (extensions of the contract; documented in docs/TRACKING.md).
PID = "medseglab.pid"                 # process that last ran the run, to tell a dead RUNNING run
HOST = "medseglab.host"
PROC_START = "medseglab.proc_start"   # that process's start time, so a reused pid is not mistaken
EPOCHS_DONE = "medseglab.epochs_done"
WEIGHTS_SOURCE = "medseglab.weights.source"  # with .sha256, .path, .md5, .note (models.WeightsInfo.as_tags)
WEIGHTS_SHA256 = "medseglab.weights.sha256"
LAUNCHER = "medseglab.launcher_run_id"  # the `mlflow run` outer run that started a study
STUDY_RUN = "medseglab.study_run_id"    # on that outer run: the study parent it started
TASK = "medseglab.task"               # the study task (launch + key) training the run on Ray: its retry takes the run over

# Keys of an effective config that choose the grid, not what one training does.
GRID_KEYS = ("splits", "repeats", "inits", "ratios", "depletion", "profile")
# Keys that change how a training is fed or checkpointed, not what it computes.
NON_RESULT_TRAIN_KEYS = ("in_memory_mb", "workers", "checkpoint_interval_s")

MLFLOW_PARAM_MAX = 6000


class TrainingKey(NamedTuple):
    """One training of the study: (dataset, init, split, ratio, repeat)."""

    dataset: str
    init: str
    split: int
    ratio: int
    repeat: int

    @classmethod
    def make(cls, dataset: str, init: str, split: int, ratio: int, repeat: int) -> "TrainingKey":
        return cls(str(dataset), str(init), int(split), int(ratio), int(repeat))

    @property
    def name(self) -> str:
        """The MLflow run name, e.g. ``skin-tii-s0-r80-rep0``."""
        return f"{self.dataset}-{self.init}-s{self.split}-r{self.ratio}-rep{self.repeat}"

    def tags(self) -> dict[str, str]:
        return {
            DATASET: self.dataset,
            INIT: self.init,
            SPLIT: str(self.split),
            RATIO: str(self.ratio),
            REPEAT: str(self.repeat),
            KEY: self.name,
        }

    def seed(self, base_seed: int) -> int:
        """The seed of this training: distinct per (split, ratio, repeat), shared by both inits."""
        return int(base_seed) + 1000 * self.repeat + 100 * self.split + self.ratio


def tracking_uri(params: dict | None = None) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else params ``tracking.uri`` (default ``sqlite:///mlflow.db``)."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    section = (params or {}).get("tracking") or {}
    return section.get("uri") or DEFAULT_URI


def artifact_root(params: dict | None = None) -> str:
    section = (params or {}).get("tracking") or {}
    return section.get("artifact_root") or DEFAULT_ARTIFACT_ROOT


def experiment_name(dataset: str) -> str:
    return f"medseglab/{dataset}"


def study_run_name(dataset: str, profile: str, cfg_hash: str) -> str:
    return f"study-{dataset}-{profile}-{cfg_hash}"


def training_config(cfg: dict) -> dict:
    """The part of an effective config that decides what one training computes."""
    out = {k: copy.deepcopy(v) for k, v in cfg.items() if k not in GRID_KEYS}
    train = dict(out.get("train") or {})
    for key in NON_RESULT_TRAIN_KEYS:
        train.pop(key, None)
    out["train"] = train
    return out


def training_config_hash(cfg: dict) -> str:
    """Hash of a training's config: the grid (and profile name) is left out, so the same
    training found by a bigger study or by `medseglab train` is recognised as done."""
    return config_hash(training_config(cfg))


def study_config_hash(cfg: dict) -> str:
    """Hash of a whole study's config: the training config and the grid."""
    return config_hash(cfg)


def mlflow_params(cfg: dict) -> dict[str, str]:
    """Flattened config as MLflow params: lists/dicts as JSON, values cut to MLflow's limit."""
    out: dict[str, str] = {}
    for key, value in flatten(cfg).items():
        if isinstance(value, (list, tuple, dict)):
            text = json.dumps(value, sort_keys=True, default=str)
        else:
            text = "null" if value is None else str(value)
        if len(text) > MLFLOW_PARAM_MAX:
            digest = hashlib.sha256(text.encode()).hexdigest()[:12]
            text = text[: MLFLOW_PARAM_MAX - 40] + f"...(sha256 {digest})"
        out[key] = text
    return out


def tag_filter(tags: dict[str, Any]) -> str:
    """An MLflow search filter matching every tag exactly."""
    parts = []
    for key, value in tags.items():
        text = str(value).replace("'", "\\'")
        parts.append(f"tags.`{key}` = '{text}'")
    return " and ".join(parts)
