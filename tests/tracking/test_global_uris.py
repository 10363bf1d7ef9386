"""global_uris leaves no MLflow URI behind: a leaked MLFLOW_REGISTRY_URI sent a later `medseglab promote`
subprocess's registrations into an earlier store (found by the full suite: the server test's pair
was registered in another test's registry)."""

from __future__ import annotations

import os

import mlflow

from medseglab.tracking.session import global_uris


def test_global_uris_sets_both_and_restores_the_variables(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///outer.db")
    uri = f"sqlite:///{tmp_path / 'inner.db'}"
    with global_uris(uri):
        assert mlflow.get_tracking_uri() == uri and mlflow.get_registry_uri() == uri
    assert "MLFLOW_REGISTRY_URI" not in os.environ  # MLflow's setter wrote it; it must not survive
    assert os.environ["MLFLOW_TRACKING_URI"] == "sqlite:///outer.db"
    assert mlflow.get_registry_uri() == mlflow.get_tracking_uri() == "sqlite:///outer.db"


def test_open_client_pins_the_registry_to_its_store(tmp_path, monkeypatch, mlflow_db_template):
    import shutil

    from medseglab.tracking.store import open_client

    shutil.copy(mlflow_db_template, tmp_path / "mlflow.db")
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", f"sqlite:///{tmp_path / 'elsewhere.db'}")  # a leaked variable
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = open_client(uri=uri)
    client.create_registered_model("m")
    from mlflow.tracking import MlflowClient

    assert [m.name for m in MlflowClient(tracking_uri=uri, registry_uri=uri).search_registered_models()] == ["m"]
    assert not (tmp_path / "elsewhere.db").exists()
