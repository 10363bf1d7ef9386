"""`medseglab split`: reads a prepared folder by contract, writes the splits folder, fails clearly."""

import json
from pathlib import Path

import pytest

from medseglab.cli import main

PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


@pytest.fixture
def prepared(tmp_path, manifest_factory):
    folder = tmp_path / "prepared"
    folder.mkdir()
    manifest_factory(60, 30).to_parquet(folder / "manifest.parquet")
    (folder / "dataset.json").write_text(json.dumps({"name": "skin", "content_hash": "feed"}))
    return folder


def _split(prepared, out, *extra):
    args = ["split", "--dataset", "skin", "--params", str(PARAMS), "--prepared", str(prepared), "--out", str(out)]
    return main(args + list(extra))


def test_cli_writes_splits_and_seed_changes_them(prepared, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MEDSEGLAB_NO_PROGRESS", "1")
    assert _split(prepared, tmp_path / "a", "--no-plot") == 0
    info = json.loads((tmp_path / "a" / "splits.json").read_text())
    assert info["dataset_content_hash"] == "feed"
    assert set(info["params"]) == {"n_splits", "test_fraction", "depletion", "depletion_from", "seed", "overlap"}
    assert "in two or more test sets" in capsys.readouterr().out
    assert _split(prepared, tmp_path / "b", "--no-plot") == 0
    assert json.loads((tmp_path / "b" / "splits.json").read_text())["content_hash"] == info["content_hash"]
    assert _split(prepared, tmp_path / "c", "--no-plot", "--set", "split.seed=7") == 0
    assert json.loads((tmp_path / "c" / "splits.json").read_text())["content_hash"] != info["content_hash"]


def test_cli_warns_when_groups_cannot_reach_a_ratio(tmp_path, manifest_factory, monkeypatch, capsys):
    monkeypatch.setenv("MEDSEGLAB_NO_PROGRESS", "1")
    folder = tmp_path / "prepared"
    folder.mkdir()
    manifest_factory(12, 6, seed=1).to_parquet(folder / "manifest.parquet")
    (folder / "dataset.json").write_text("{}")
    assert _split(folder, tmp_path / "out", "--no-plot") == 0
    assert "warning" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra,message",
    [
        (("--set", "split.n_splits=1"), "split.n_splits"),
        (("--set", "split.seeed=1"), "unknown key"),
        (("--set", "split.n_splits=40"), "n_splits <= 10"),
        (("--set", "split.n_splits=40", "--set", "split.test_fraction=0.025"), "30 group"),
    ],
)
def test_cli_user_errors_exit_2_with_the_fix(prepared, tmp_path, capsys, extra, message):
    assert _split(prepared, tmp_path / "out", *extra) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_without_prepared_data_says_run_prepare(tmp_path, capsys):
    assert _split(tmp_path / "missing", tmp_path / "out") == 2
    assert "medseglab prepare" in capsys.readouterr().err
