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


class _FakeRay:
    """Just enough of the `ray` module for `_submit`: tasks end in submission order with given outcomes."""

    def __init__(self, outcomes: dict):
        self.outcomes, self.cancelled, self.options = outcomes, [], {}

    def remote(self, function):
        fake = self

        class Task:
            def options(self, **kwargs):
                fake.options = kwargs
                return self

            def remote(self, payload):
                return payload["task"].split("/", 1)[1]  # the ref: the key's name

        return Task()

    def wait(self, refs, num_returns=1):
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref):
        outcome = self.outcomes[ref]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def cancel(self, ref, force=False):
        self.cancelled.append(ref)


def _submit_with(outcomes: dict):
    import types

    from medseglab.study.ray_executor import DEFAULTS, _submit
    from medseglab.tracking.conventions import TrainingKey

    keys = [TrainingKey.make("skin", init, 0, 80, 0) for init in ("tii", "lmi")]
    tracking = types.SimpleNamespace(uri="http://127.0.0.1:1", experiment_id="1", parent_run_id="p", profile="demo",
                                     keep_checkpoints=False, checkpoint_root="checkpoints")
    progress = types.SimpleNamespace(set_postfix_str=lambda text: None, update=lambda n: None)
    fake = _FakeRay(outcomes)
    conf = {**DEFAULTS, "cpus_per_training": 1.0, "gpus_per_training": 1.0}
    return fake, (lambda: _submit(fake, conf, {"name": "skin"}, keys, tracking, None, progress, None))


def test_tasks_reserve_the_configured_resources_and_retries():
    from medseglab.study.ray_executor import TaskResult

    done = TaskResult("r", "trained", "node", 1)
    fake, submit = _submit_with({"skin-tii-s0-r80-rep0": done, "skin-lmi-s0-r80-rep0": done})
    assert {key.name: r.status for key, r in submit().items()} == {"skin-tii-s0-r80-rep0": "trained",
                                                                   "skin-lmi-s0-r80-rep0": "trained"}
    assert fake.options["num_gpus"] == 1.0 and fake.options["max_retries"] == 3 and fake.cancelled == []


def test_a_failed_task_names_its_key_and_cancels_the_others():
    from medseglab.errors import DataError, UserError

    fake, submit = _submit_with({"skin-tii-s0-r80-rep0": RuntimeError("boom")})
    with pytest.raises(UserError, match=r"skin-tii-s0-r80-rep0 failed on Ray \(RuntimeError: boom\)"):
        submit()
    assert fake.cancelled == ["skin-lmi-s0-r80-rep0"]
    fake, submit = _submit_with({"skin-tii-s0-r80-rep0": DataError("no such folder")})
    with pytest.raises(DataError, match="skin-tii-s0-r80-rep0: no such folder"):  # a user's error stays one
        submit()
