"""What a run records about where it ran, and how the report reads it back from many runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from medseglab.tracking import environment as E

ROOT = Path(__file__).resolve().parents[2]


def test_environment_names_the_commit_versions_and_machine(required_tool):
    required_tool("git")
    env = E.environment()
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert env["code_commit"].startswith(head)
    import mlflow

    assert env["version.mlflow"] == mlflow.__version__ and env["python"] == ".".join(map(str, sys.version_info[:3]))
    assert int(env["cpus"]) >= 1 and env["host"]
    assert ("accelerator" in env) == ("tensorflow" in sys.modules)  # never loads TensorFlow just to look
    assert set(E.environment_tags()) == {E.PREFIX + k for k in env}


def test_code_commit_outside_a_checkout(tmp_path):
    assert E.code_commit(tmp_path).startswith("unknown")


def test_recorded_counts_values_over_runs():
    runs = [{"medseglab.env.code_commit": "abc", "medseglab.device": "gpu"},
            {"mlflow.source.git.commit": "abc", "medseglab.device": "cpu"},
            {"medseglab.env.code_commit": "def", "mlflow.source.git.commit": "abc"}]
    found = E.recorded(runs)
    assert found["code_commit"] == {"abc": 2, "def": 1}  # medseglab's own tag wins over MLflow's
    assert found["training.device"] == {"gpu": 1, "cpu": 1}
    assert E.recorded([{}]) == {}
