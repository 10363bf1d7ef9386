"""Optuna storage URLs: relative SQLite made absolute, several workers refused on SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest

from medseglab.errors import ConfigError
from medseglab.tuning.storage import absolute_url, check_workers, open_storage
from medseglab.tuning.tune import quotas, safe_url


def test_relative_sqlite_becomes_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert absolute_url("sqlite:///optuna.db") == f"sqlite:///{tmp_path / 'optuna.db'}"
    assert absolute_url("sqlite:////abs/o.db") == "sqlite:////abs/o.db"
    url = "postgresql+psycopg2://u:secret@h:5432/db"
    assert absolute_url(url) == url
    assert "secret" not in safe_url(url) and "***" in safe_url(url)
    with pytest.raises(ConfigError, match="give an RDB URL"):
        absolute_url("optuna.db")


def test_parallel_workers_need_a_server_database():
    check_workers("sqlite:///x.db", 1)
    check_workers("postgresql+psycopg2://u@h/db", 4)
    with pytest.raises(ConfigError, match="PostgreSQL"):
        check_workers("sqlite:///x.db", 2)


def test_storage_checks_heartbeat_and_reports_an_unreachable_server(tmp_path):
    with pytest.raises(ConfigError, match="grace_s=1 must exceed"):
        open_storage(f"sqlite:///{tmp_path / 'o.db'}", 2, 1)
    with pytest.raises(ConfigError, match="cannot be opened"):
        open_storage("postgresql+psycopg2://nobody@127.0.0.1:1/none", 1, 3)
    assert Path(tmp_path / "o.db").exists() is False


@pytest.mark.parametrize("remaining, workers, expected", [(4, 2, [2, 2]), (5, 2, [3, 2]), (1, 3, [1]), (3, 1, [3])])
def test_remaining_trials_are_shared_evenly(remaining, workers, expected):
    assert quotas(remaining, workers) == expected


def test_best_file_path_names_dataset_and_init():
    from medseglab.tuning.tune import best_path

    assert best_path("tuning/{dataset}-{init}.yaml", "skin", "tii") == Path("tuning/skin-tii.yaml")
    with pytest.raises(ConfigError, match="only {dataset} and {init}"):
        best_path("tuning/{study}.yaml", "skin", "tii")
