"""MLproject: entry points and their parameters; `mlflow run -e train` end to end (slow)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_mlproject_entry_points_render_medseglab_commands():
    from mlflow.projects._project_spec import load_project

    project = load_project(str(ROOT))
    assert project.name == "medseglab"
    assert set(project._entry_points) >= {"main", "train", "prepare", "split"}
    main = project.get_entry_point("main")
    assert {p: main.parameters[p].default for p in main.parameters} == {
        "dataset": "skin", "profile": "demo", "source": "", "format": "", "analyze": "true"}
    command = main.compute_command({"dataset": "kidney"}, storage_dir=None)
    assert " study --dataset kidney --profile demo --source '' --format ''" in command
    for analyze, flag in (("true", "--analyze"), ("false", "")):
        command = main.compute_command({"dataset": "kidney", "analyze": analyze}, storage_dir=None)
        tail = command[command.index("--format"):]
        shown = subprocess.run(["bash", "-c", f"echo {tail}"], capture_output=True, text=True, check=True).stdout
        assert shown.split() == ["--format", *([flag] if flag else [])], (analyze, shown)
    train = project.get_entry_point("train")
    assert set(train.parameters) == {"dataset", "init", "split", "ratio", "repeat", "profile", "source", "format"}
    command = train.compute_command({"init": "lmi", "split": "1", "ratio": "60", "repeat": "2"}, storage_dir=None)
    assert " train --dataset skin --init lmi --split 1 --ratio 60 --repeat 2 " in command
    env = yaml.safe_load((ROOT / "python_env.yaml").read_text())
    assert project.env_config_path.endswith("python_env.yaml") and env["python"].startswith("3.11")


@pytest.mark.slow
def test_mlflow_run_train_entry_point(tmp_path, mlflow_db_template):
    project = tmp_path / "project"
    project.mkdir()
    for name in ("MLproject", "python_env.yaml"):
        shutil.copy(ROOT / name, project / name)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["profiles"]["demo"].update(image_size=[32, 32], epochs=1)
    params["datasets"]["skin"]["n_images"] = 15
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    shutil.copy(mlflow_db_template, project / "mlflow.db")
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{project / 'mlflow.db'}", MEDSEGLAB_OFFLINE="1",
               MEDSEGLAB_NO_PROGRESS="1", PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    mlflow = Path(sys.executable).parent / "mlflow"
    cmd = [str(mlflow), "run", str(project), "-e", "train", "-P", "dataset=skin", "-P", "init=tii", "-P", "split=0",
           "-P", "ratio=80", "-P", "repeat=0", "--env-manager", "local"]
    done = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "skin-tii-s0-r80-rep0: trained" in done.stdout

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("medseglab/skin")
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.run_name == "skin-tii-s0-r80-rep0" and run.info.status == "FINISHED"
    outer = client.get_run(run.data.tags["medseglab.launcher_run_id"])
    assert outer.info.status == "FINISHED" and outer.data.tags["medseglab.training_run_id"] == run.info.run_id
    again = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "skin-tii-s0-r80-rep0: skipped" in again.stdout
