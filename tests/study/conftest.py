"""Fixtures of the study tests: a tiny synthetic project (32x32, few images) and fresh MLflow stores."""

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
    "profiles.demo.inits=[tii,lmi]",
    "datasets.skin.n_images=15",
    "train.val_fraction=0",
    "profiles.demo.depletion=null",  # the demo's depleted trainings would double these tiny studies
]


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("MEDSEGLAB_NO_PROGRESS", "1")
    monkeypatch.setenv("MEDSEGLAB_OFFLINE", "1")


def tiny_params(*extra: str) -> dict:
    from medseglab.config import load_params

    return load_params(PARAMS, [*TINY, *extra])


def new_store(folder: Path, template: Path, monkeypatch) -> Path:
    """Make ``folder`` the cwd with a fresh mlflow.db that MLFLOW_TRACKING_URI points at."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(template, folder / "mlflow.db")
    monkeypatch.chdir(folder)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
    return folder
