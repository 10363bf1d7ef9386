"""`medseglab study --analyze` (what `mlflow run .` does): the study, then stats, ensemble and
explain on that very study, all logged to its parent run."""

from __future__ import annotations

from pathlib import Path

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
