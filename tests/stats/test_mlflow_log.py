import mlflow
import pytest

from medseglab.stats.report import write_report
from medseglab.stats.summary import StatsOptions
from medseglab.stats.synthetic import synthetic_study


def test_report_logged_on_parent_run(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from medseglab.stats.report import log_to_mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    exp = client.create_experiment("medseglab/skin", artifact_location=(tmp_path / "art").as_uri())
    parent = client.create_run(exp, tags={"medseglab.kind": "study"}).info.run_id
    client.set_terminated(parent)

    table = synthetic_study(n_images=12, splits=(0,), repeats=(0, 1), seed=2)
    report = write_report(table, tmp_path / "rep", StatsOptions(bootstrap=20), make_plots=False)
    log_to_mlflow(report, parent)

    run = client.get_run(parent)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["table1.dice.median.tii"] == pytest.approx(report.metrics["table1"]["dice"]["median"]["tii"])
    assert "table1.auroc_mask.mood_p" in run.data.metrics
    names = {a.path for a in client.list_artifacts(parent, "stats")}
    assert {"stats/tables", "stats/metrics.json", "stats/depletion.csv"} <= names
    assert "stats/tables/table1.md" in {a.path for a in client.list_artifacts(parent, "stats/tables")}
