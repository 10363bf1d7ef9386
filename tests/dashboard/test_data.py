"""The dashboard's data layer reads MLflow through medseglab.tracking and caches on the run's stamp."""

from __future__ import annotations

from medseglab.dashboard import data


def test_studies_are_listed_with_their_data_source(fake_store):
    store = data.StudyStore(fake_store["uri"])
    studies = store.studies()
    assert list(studies["run_id"]) == [fake_store["run_id"]]
    row = studies.iloc[0]
    assert row["synthetic"] and row["source"] == "SYNTHETIC demo data" and row["status"] == "FINISHED"
    assert row["expected"] == 2 and row["dataset"] == "skin"
    assert store.progress(fake_store["run_id"])["expected"] == 2


def test_a_table_is_read_once_until_the_run_changes(fake_store, monkeypatch):
    from mlflow.tracking import MlflowClient

    store = data.StudyStore(fake_store["uri"], ttl=0)
    reads = []
    original = data.compact  # every read of the per-image table ends in it
    monkeypatch.setattr(data, "compact", lambda frame: reads.append(len(frame)) or original(frame))
    first = store.per_image(fake_store["run_id"])
    assert store.per_image(fake_store["run_id"]) is first and len(reads) == 1
    MlflowClient(tracking_uri=fake_store["uri"]).log_metric(fake_store["run_id"], "table1.dice.median.tii", 0.9)
    store.per_image(fake_store["run_id"])  # a stage wrote to the run: read again
    assert len(reads) == 2


def test_artifacts_outside_the_run_are_not_read(fake_store):
    store = data.StudyStore(fake_store["uri"])
    rid = fake_store["run_id"]
    assert store.local_file(rid, "explain/pic.png") is not None
    for path in ("explain/leak.png", "explain/up/secret.png", "../../secret.png", "%2e%2e/x", "/etc/passwd"):
        assert store.local_file(rid, path) is None, path
    assert store.local_file("not-a-run", "explain/pic.png") is None
    assert store.csv(rid, "stats/tables/table1.csv") is None  # absent: the page says which stage to run
