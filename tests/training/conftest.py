"""Fixtures of the training tests: a tiny synthetic project (32x32, few images) and fresh MLflow stores."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"
TINY = [
    "profiles.demo.image_size=[32,32]",
    "profiles.demo.epochs=1",
    "profiles.demo.splits=[0]",
    "profiles.demo.repeats=[0]",
    "datasets.skin.n_images=15",
    "train.val_fraction=0.2",
]


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("MEDSEGLAB_NO_PROGRESS", "1")
    monkeypatch.setenv("MEDSEGLAB_OFFLINE", "1")  # TII weights: no 3 s network probe


def tiny_params(*extra: str) -> dict:
    from medseglab.config import load_params

    return load_params(PARAMS, [*TINY, *extra])


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """(cfg, prepared, splits) of a 15-image synthetic skin dataset at 32x32, built once per module."""
    from medseglab.study.inputs import ensure_prepared_dataset, ensure_splits, study_config

    root = tmp_path_factory.mktemp("tiny-data")
    cfg = study_config(tiny_params(), "skin")
    prepared = ensure_prepared_dataset(cfg, root / "prepared")
    splits, _ = ensure_splits(cfg, prepared, root / "splits")
    return cfg, prepared, splits


def new_store(folder: Path, template: Path, monkeypatch) -> Path:
    """Make ``folder`` the cwd with a fresh mlflow.db that MLFLOW_TRACKING_URI points at."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(template, folder / "mlflow.db")
    monkeypatch.chdir(folder)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
    return folder
