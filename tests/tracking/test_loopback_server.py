"""`tracking.server.loopback_server`: a real `mlflow server` over a local SQLite store, for a block's duration."""

from __future__ import annotations

import shutil
import urllib.request

import pytest

from medseglab.errors import TrackingError


def test_serves_the_local_store_and_stops(tmp_path, mlflow_db_template):
    from mlflow.tracking import MlflowClient

    from medseglab.tracking.server import loopback_server

    shutil.copy(mlflow_db_template, tmp_path / "mlflow.db")
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with loopback_server(store, tmp_path / "mlartifacts") as url:
        assert url.startswith("http://127.0.0.1:")
        experiment = MlflowClient(tracking_uri=url).create_experiment("through-the-server")
    assert MlflowClient(tracking_uri=store).get_experiment(experiment).name == "through-the-server"
    with pytest.raises(OSError):  # stopped: nothing answers on its port any more
        urllib.request.urlopen(f"{url}/health", timeout=2)


def test_only_a_local_sqlite_store_is_served(tmp_path):
    from medseglab.tracking.server import loopback_server

    with pytest.raises(TrackingError, match="sqlite"):
        with loopback_server("http://mlflow:5000", tmp_path):
            pass
