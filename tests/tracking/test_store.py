"""The tracking store: created once under a lock, WAL, corrupt files and unwritable artifact folders
as one-line errors, paged searches, no process-global tracking URI."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from medseglab.errors import TrackingError
from medseglab.tracking import conventions as C

PARAMS = str(__import__("pathlib").Path(__file__).resolve().parents[2] / "params.yaml")

_WORKER = textwrap.dedent("""
    import sys, time
    from medseglab.tracking.runs import ensure_experiment
    from medseglab.tracking.store import open_client
    uri = sys.argv[1]
    while time.time() < float(sys.argv[2]):  # start together
        time.sleep(0.01)
    client = open_client(uri=uri)
    exp = ensure_experiment(client, "skin", {"tracking": {"artifact_root": sys.argv[3]}})
    print(client.create_run(exp).info.run_id)
""")


def test_processes_started_together_on_a_new_store_all_succeed(tmp_path):
    import time

    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    start = str(time.time() + 8)  # after the 4 interpreters have imported MLflow
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, uri, start, str(tmp_path / "art")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    for out, err, code in results:
        assert code == 0, err[-2000:]
    assert len({out.strip() for out, _, _ in results}) == 4
    from medseglab.tracking.store import journal_mode, open_client

    assert journal_mode(db) == "wal"
    client = open_client(uri=uri)
    (exp,) = [e for e in client.search_experiments() if e.name == "medseglab/skin"]
    assert len(client.search_runs([exp.experiment_id])) == 4


@pytest.mark.parametrize("damage", ["garbage header", "truncated"])
def test_a_corrupt_database_is_a_tracking_error_naming_the_file(tmp_path, mlflow_db_template, damage):
    from medseglab.tracking.store import open_client

    db = tmp_path / "mlflow.db"
    data = mlflow_db_template.read_bytes()
    db.write_bytes(b"this is not sqlite" * 8 + data[144:] if damage == "garbage header" else data[: len(data) // 3])
    with pytest.raises(TrackingError, match=str(db)) as info:
        open_client(uri=f"sqlite:///{db}")
    assert "backup" in str(info.value) and "MLFLOW_TRACKING_URI" in str(info.value)


def test_a_corrupt_database_is_one_line_from_the_cli(tmp_path, monkeypatch, capsys):
    from medseglab.cli import main

    db = tmp_path / "mlflow.db"
    db.write_bytes(b"garbage" * 1000)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    assert main(["stats", "--dataset", "skin", "--params", PARAMS]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert str(db) in err and "Traceback" not in err


def test_an_artifact_folder_that_cannot_be_written_is_named_before_a_run(tracking_dir):
    from medseglab.tracking.session import Tracking

    blocker = tracking_dir / "file.txt"
    blocker.write_text("a file where a folder should be: no one, root included, can write under it")
    params = {"tracking": {"artifact_root": str(blocker / "sub")}}
    with pytest.raises(TrackingError, match=r"file\.txt/sub/skin.*tracking\.artifact_root"):
        Tracking.open(params, "skin")


def test_an_existing_experiment_with_an_unwritable_location_is_refused(tracking_dir, monkeypatch):
    from medseglab.tracking import store
    from medseglab.tracking.session import Tracking

    Tracking.open({"tracking": {"artifact_root": str(tracking_dir / "art")}}, "skin")
    real = store.tempfile.mkstemp

    def denied(*args, **kwargs):  # what a chmod 0o500 folder does to a non-root user
        if str(tracking_dir / "art") in str(kwargs.get("dir", "")):
            raise PermissionError(13, "Permission denied")
        return real(*args, **kwargs)

    monkeypatch.setattr(store.tempfile, "mkstemp", denied)
    with pytest.raises(TrackingError, match="Permission denied.*chmod"):
        Tracking.open({}, "skin")


def test_searches_page_through_every_run(tracking_dir, monkeypatch):
    from medseglab.tracking import runs

    client = runs.open_client({})
    exp = runs.ensure_experiment(client, "skin", {})
    parent = client.create_run(exp, tags={C.KIND: "study", C.DATASET: "skin"}).info.run_id
    made = {client.create_run(exp, tags={C.KIND: "training", C.PARENT: parent, C.INIT: "tii", C.SPLIT: "0",
                                         C.RATIO: "80", C.REPEAT: str(i)}).info.run_id for i in range(5)}
    monkeypatch.setattr(runs, "PAGE_SIZE", 2)
    found = runs.search_all(client, [exp], C.tag_filter({C.KIND: "training"}))
    assert {r.info.run_id for r in found} == made
    assert set(runs.study_children(parent)["run_id"]) == made
    assert [r.info.run_id for r in runs.list_studies("skin")] == [parent]
    assert runs.list_datasets() == ["skin"]


def test_the_tracking_layer_leaves_the_global_uri_alone(tracking_dir, monkeypatch):
    import mlflow

    from medseglab.tracking import runs
    from medseglab.tracking.session import Tracking, fluent_run

    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    uri = f"sqlite:///{tracking_dir / 'mlflow.db'}"
    tracking = Tracking.open({"tracking": {"uri": uri}}, "skin")
    assert not mlflow.tracking.is_tracking_uri_set()
    run_id = tracking.client.create_run(tracking.experiment_id).info.run_id
    with fluent_run(uri, run_id):
        assert mlflow.active_run().info.run_id == run_id
    assert not mlflow.tracking.is_tracking_uri_set()
    assert tracking.client.get_run(run_id).info.status == "RUNNING"
    assert runs.get_run(run_id, uri=uri).info.run_id == run_id
