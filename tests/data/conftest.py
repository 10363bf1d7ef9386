"""Fixtures of the data-stage tests (helpers live in helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import SHARED


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("MEDSEGLAB_NO_PROGRESS", "1")


@pytest.fixture
def shared(shared_dataset):
    """Path of a sample dataset under ../shared/datasets (skips when missing; fails under CI)."""

    def get(name: str) -> Path:
        return shared_dataset(name, root=SHARED)

    return get
