"""Fixtures of the tracking tests: a fresh MLflow store per test, copied from a template database."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("MEDSEGLAB_NO_PROGRESS", "1")


@pytest.fixture
def tracking_dir(tmp_path, monkeypatch, mlflow_db_template):
    """cwd = tmp_path with a fresh mlflow.db; MLFLOW_TRACKING_URI points at it."""
    shutil.copy(mlflow_db_template, tmp_path / "mlflow.db")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return tmp_path
