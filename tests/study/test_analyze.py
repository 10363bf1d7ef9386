"""`medseglab study --analyze` (what `mlflow run .` does): the study, then stats, ensemble and
explain on that very study, all logged to its parent run."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlflow.tracking import MlflowClient

from medseglab.cli import main
from medseglab.tracking import conventions as C

from .conftest import PARAMS, TINY, new_store


def _artifact_dirs(client: MlflowClient, run_id: str) -> set[str]:
    return {a.path for a in client.list_artifacts(run_id)}


def test_study_analyze_runs_stats_ensemble_explain_on_the_study(tmp_path, mlflow_db_template, monkeypatch):
    new_store(tmp_path / "project", mlflow_db_template, monkeypatch)
    sets = [f"--set={item}" for item in [*TINY, "profiles.demo.repeats=[0,1]", "datasets.skin.n_images=20"]]
    assert main(["study", "--dataset", "skin", "--params", str(PARAMS), "--analyze", *sets]) == 0

    client = MlflowClient()
    exp = client.get_experiment_by_name(C.experiment_name("skin"))
    (study,) = client.search_runs([exp.experiment_id], filter_string=C.tag_filter({C.KIND: "study"}))
    assert {"study", "stats", "ensemble", "explain"} <= _artifact_dirs(client, study.info.run_id)
    assert "table1.dice.median.tii" in study.data.metrics

    reports = Path("reports/skin")
    assert (reports / "tables").is_dir() and any((reports / "tables").glob("table1*.md"))
    assert (reports / "ensemble" / "choices.parquet").is_file()
    assert any((reports / "explain").glob("*.png"))
    import json

    explained = json.loads((reports / "explain" / "explain.json").read_text())
    assert explained["split"] == int(study.data.metrics["stats.chosen_split"]), "explain shows the Table S1 split"


def test_analyze_calls_the_stage_functions_on_the_study_not_the_cli(monkeypatch, capsys):
    """`study --analyze` runs stats, ensemble and explain as library calls on the parent run it got."""
    import argparse

    import medseglab.cli
    from medseglab.ensemble import stage as ensemble_stage
    from medseglab.explain import stage as explain_stage
    from medseglab.stats import stage as stats_stage
    from medseglab.study.cli import analyze

    calls = []

    class Done:
        def describe(self):
            return "described"

    def fake(name, result):
        def run(params, dataset, run_id, **kwargs):
            calls.append((name, dataset, run_id))
            return result
        return run

    monkeypatch.setattr(medseglab.cli, "main", lambda *a, **k: pytest.fail("analyze re-entered medseglab.cli.main"))
    monkeypatch.setattr(stats_stage, "study_stats", fake("stats", (object(), "parent-1")))
    monkeypatch.setattr(stats_stage, "describe", lambda report: "table 1")
    monkeypatch.setattr(ensemble_stage, "study_ensemble", fake("ensemble", Done()))
    monkeypatch.setattr(explain_stage, "study_explain", fake("explain", Done()))
    args = argparse.Namespace(dataset="skin", params=str(PARAMS), overrides=[])
    assert analyze(args, "parent-1") == 0
    assert calls == [("stats", "skin", "parent-1"), ("ensemble", "skin", "parent-1"), ("explain", "skin", "parent-1")]
    assert "table 1" in capsys.readouterr().out


def test_analyze_stops_at_a_failing_stage_with_exit_2(monkeypatch, capsys):
    import argparse

    from medseglab.errors import UserError
    from medseglab.stats import stage as stats_stage
    from medseglab.study.cli import analyze

    def broken(*args, **kwargs):
        raise UserError("no prepared dataset")

    monkeypatch.setattr(stats_stage, "study_stats", broken)
    args = argparse.Namespace(dataset="skin", params=str(PARAMS), overrides=[])
    assert analyze(args, "parent-1") == 2
    assert "medseglab stats: error: no prepared dataset" in capsys.readouterr().err
