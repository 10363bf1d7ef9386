"""The executor's settings and the checks the Ray driver makes before it submits anything (no Ray started)."""

from __future__ import annotations

import argparse
import types

import pytest

from medseglab.errors import ConfigError


def test_executor_defaults_to_local_and_rejects_others():
    from medseglab.study.study import executor_of

    assert executor_of({}) == "local"
    assert executor_of({"executor": "ray"}) == "ray"
    with pytest.raises(ConfigError, match="'dask' is not one of"):
        executor_of({"executor": "dask"})


def test_params_yaml_declares_the_executor_and_its_ray_section():
    from medseglab.config import load_params
    from medseglab.study.ray_executor import DEFAULTS, settings

    from .conftest import PARAMS

    params = load_params(PARAMS)
    assert params["executor"] == "local"
    assert set(DEFAULTS) <= set(params["ray"])
    assert settings(params)["max_retries"] >= 1


@pytest.mark.parametrize("key, value, message", [
    ("gpus_per_training", "one", "not a number"),
    ("cpus_per_training", -1, "negative"),
    ("max_retries", "many", "not a whole number"),
])
def test_bad_ray_settings_name_the_key(key, value, message):
    from medseglab.study.ray_executor import settings

    with pytest.raises(ConfigError, match=f"ray.{key}.*{message}"):
        settings({"ray": {key: value}})


def _args(**given):
    values = {"executor": None, "address": None, "gpus_per_training": None}
    return argparse.Namespace(**{**values, **given})


def test_study_flags_override_params():
    from medseglab.study.cli import executor_params

    params = executor_params({"ray": {"address": None}}, _args(executor="ray", address="h:6379", gpus_per_training=1.0))
    assert params["executor"] == "ray" and params["ray"] == {"address": "h:6379", "gpus_per_training": 1.0}
    with pytest.raises(ConfigError, match="--executor ray"):
        executor_params({}, _args(address="h:6379"))


def _tracking(uri: str, location: str):
    experiment = types.SimpleNamespace(artifact_location=location)
    client = types.SimpleNamespace(get_experiment=lambda _id: experiment)
    return types.SimpleNamespace(uri=uri, client=client, experiment_id="1")


def test_a_multi_machine_cluster_needs_a_reachable_server_and_remote_artifacts():
    from medseglab.study.ray_executor import check_cluster

    check_cluster([], _tracking("http://127.0.0.1:5000", "file:///x"), "skin")  # one machine: anything goes
    with pytest.raises(ConfigError, match="MLFLOW_TRACKING_URI"):
        check_cluster(["10.0.0.7"], _tracking("http://127.0.0.1:5000", "mlflow-artifacts:/1"), "skin")
    with pytest.raises(ConfigError, match="medseglab/skin keeps its artifacts in file:///x"):
        check_cluster(["10.0.0.7"], _tracking("http://mlflow:5000", "file:///x"), "skin")
    check_cluster(["10.0.0.7"], _tracking("http://mlflow:5000", "mlflow-artifacts:/1"), "skin")
