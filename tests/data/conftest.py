"""Fixtures of the data-stage tests (helpers live in helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import SHARED


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("MEDSEGLAB_NO_PROGRESS", "1")


@pytest.fixture
def shared():
    """Path of a sample dataset under ../shared/datasets, or skip when it is not there."""

    def get(name: str) -> Path:
        path = SHARED / name
        if not path.exists():
            pytest.skip(f"sample data {path} not available")
        return path

    return get
