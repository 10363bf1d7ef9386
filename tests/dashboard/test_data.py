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


def test_concurrent_reads_of_one_key_make_it_once(tmp_path):
    import threading
    import time

    store = data.StudyStore("sqlite:///unused.db", cache_dir=tmp_path)
    made, results = [], []

    def slow():
        made.append(1)
        time.sleep(0.3)
        return object()

    threads = [threading.Thread(target=lambda: results.append(store._cached(("k",), slow))) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 1 and len(results) == 5 and all(r is results[0] for r in results)


def test_a_failed_read_lets_the_next_caller_read(tmp_path):
    import pytest

    store = data.StudyStore("sqlite:///unused.db", cache_dir=tmp_path)
    with pytest.raises(OSError):
        store._cached(("k",), lambda: (_ for _ in ()).throw(OSError("disk")))
    assert store._cached(("k",), lambda: 42) == 42


def test_the_app_reads_the_newest_study_as_it_starts(fake_store, tmp_path, monkeypatch):
    import threading

    from dashboards import context as ctx
    from dashboards.app import create_app

    reads = []
    original = data.compact
    monkeypatch.setattr(data, "compact", lambda frame: reads.append(len(frame)) or original(frame))
    create_app(fake_store["uri"], queue_path=tmp_path / "review.db")
    for thread in threading.enumerate():
        if thread.name == "medseglab-dashboard-warm":
            thread.join(60)
    assert len(reads) == 1  # read in the background...
    ctx.current().store.per_image(fake_store["run_id"])
    assert len(reads) == 1  # ...so the first page finds it read


def _join_warm_thread() -> None:
    import threading

    for thread in threading.enumerate():
        if thread.name == "medseglab-dashboard-warm":
            thread.join(60)


def test_ready_answers_503_while_the_warm_up_runs_then_200(fake_store, tmp_path, monkeypatch):
    import threading

    from dashboards import app as app_module

    release = threading.Event()
    monkeypatch.setattr(app_module, "_warm_pages", lambda study_id: release.wait(30))
    client = app_module.create_app(fake_store["uri"], queue_path=tmp_path / "review.db").server.test_client()
    answer = client.get("/ready")
    assert answer.status_code == 503 and b"warming up" in answer.data
    release.set()
    _join_warm_thread()
    assert client.get("/ready").status_code == 200
    cold = app_module.create_app(fake_store["uri"], queue_path=tmp_path / "review.db", warm=False)
    assert cold.server.test_client().get("/ready").status_code == 200  # nothing to wait for


def test_ready_answers_200_when_the_warm_up_fails(fake_store, tmp_path, monkeypatch):
    from dashboards import app as app_module

    monkeypatch.setattr(app_module, "_warm_pages", lambda study_id: 1 / 0)
    client = app_module.create_app(fake_store["uri"], queue_path=tmp_path / "review.db").server.test_client()
    _join_warm_thread()
    assert client.get("/ready").status_code == 200  # a failed warm-up only leaves the reads to the pages


def test_the_warm_up_computes_each_pages_first_callbacks(fake_store, tmp_path, monkeypatch):
    """Each page's warm() runs with the newest study (the layout's defaults: the depletion page's metric),
    and a page whose warm() fails does not stop the others."""
    import sys

    import dash

    from dashboards import app as app_module

    app_module.create_app(fake_store["uri"], queue_path=tmp_path / "review.db", warm=False)
    modules = {page["path"]: sys.modules[page["module"]] for page in dash.page_registry.values()}
    graph_pages = {"/depletion", "/distributions", "/splits", "/ensemble", "/umap", "/statistics", "/gradcam"}
    assert graph_pages <= {path for path, module in modules.items() if hasattr(module, "warm")}
    calls = []
    depletion = modules["/depletion"]
    monkeypatch.setattr(depletion, "show", lambda study, metric: calls.append(("show", study, metric)))
    monkeypatch.setattr(depletion, "show_learning_curve", lambda study, metric: calls.append(("curve", study, metric)))
    monkeypatch.setattr(modules["/splits"], "show", lambda study: 1 / 0)
    umap_calls = []
    monkeypatch.setattr(modules["/umap"], "show", lambda study, colour, panel: umap_calls.append((colour, panel)))
    app_module._warm_pages(fake_store["run_id"])
    rid = fake_store["run_id"]
    assert calls == [("show", rid, "dice"), ("curve", rid, "dice")]
    assert umap_calls == [("clinical_label", "tii-1")]  # whether it came before or after the failing splits page


def test_initial_reads_a_components_value_from_a_layout():
    import pytest
    from dash import dcc, html

    from dashboards.components import initial

    layout = html.Div([html.H2("x"), html.Div([dcc.Dropdown(id="a", value="dice", options=["dice"])]),
                       dcc.Graph(id="g")])
    assert initial(layout, "a") == "dice"
    assert initial(layout, "g", "id") == "g"
    with pytest.raises(KeyError, match="no component 'b'"):
        initial(layout, "b")
