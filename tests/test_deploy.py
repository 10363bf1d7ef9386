"""deploy/: the cluster files parse, say they are not tested here, and agree with the code they drive."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
FILES = sorted(p for p in DEPLOY.rglob("*") if p.is_file() and p.name != "README.md")


def test_there_are_cluster_files():
    names = {p.relative_to(DEPLOY).as_posix() for p in FILES}
    assert {"kuberay/rayjob.yaml", "mlflow/docker-compose.yaml", "mlflow/kubernetes.yaml", "ray/Dockerfile"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_each_file_says_it_is_not_tested_here(path):
    if path.name.startswith(".env"):
        return  # an example of values, not a file anyone applies
    assert "NOT TESTED HERE" in path.read_text()


@pytest.mark.parametrize("path", [p for p in FILES if p.suffix == ".yaml"], ids=lambda p: p.name)
def test_yaml_parses(path):
    assert all(doc is not None for doc in yaml.safe_load_all(path.read_text()))


def test_the_rayjob_runs_the_study_on_ray_with_the_pinned_ray():
    job = yaml.safe_load((DEPLOY / "kuberay" / "rayjob.yaml").read_text())
    assert job["kind"] == "RayJob"
    assert "medseglab study" in job["spec"]["entrypoint"] and "--executor ray" in job["spec"]["entrypoint"]
    pyproject = (DEPLOY.parent / "pyproject.toml").read_text()
    assert f"ray[default]=={job['spec']['rayClusterSpec']['rayVersion']}" in pyproject


def test_the_mlflow_server_uses_postgresql_and_s3_artifacts():
    compose = yaml.safe_load((DEPLOY / "mlflow" / "docker-compose.yaml").read_text())
    command = compose["services"]["mlflow"]["command"]
    assert "postgresql://" in command and "--artifacts-destination s3://" in command
    assert {"postgres", "minio", "mlflow"} <= set(compose["services"])
