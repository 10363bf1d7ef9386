"""`medseglab tune` flags, `--set-file`, and the MLproject's `tune` entry point."""

from __future__ import annotations

import subprocess
import sys

import pytest

from medseglab.cli import build_parser, main

from .conftest import ROOT, project


def test_set_file_adds_overrides_in_order(tmp_path):
    best = tmp_path / "best.yaml"
    best.write_text("# tuned\ntrain.learning_rate: 0.25\nprofiles.demo.image_size: [64, 96]\ntrain.optimizer: adam\n")
    args = build_parser().parse_args(["train", "--dataset", "skin", "--init", "lmi", "--set", "train.seed=3",
                                      "--set-file", str(best), "--set", "train.optimizer=sgd"])
    from medseglab.config import apply_overrides

    params = apply_overrides({}, args.overrides)
    assert params["train"] == {"seed": 3, "learning_rate": 0.25, "optimizer": "sgd"}
    assert params["profiles"]["demo"]["image_size"] == [64, 96]


@pytest.mark.parametrize("text", ["[1, 2]", "a: [", ""])
def test_set_file_that_is_not_a_mapping_is_a_usage_error(tmp_path, text, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["split", "--dataset", "skin", "--set-file", str(bad)])
    assert exc.value.code == 2 and "--set-file" in capsys.readouterr().err


def test_tune_refuses_parallel_workers_without_ray_or_on_sqlite(tmp_path, monkeypatch, capsys, mlflow_db_template):
    project(tmp_path, mlflow_db_template)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert main(["tune", "--dataset", "skin", "--init", "tii", "--workers", "2"]) == 2
    assert "needs --executor ray" in capsys.readouterr().err
    assert main(["tune", "--dataset", "skin", "--init", "tii", "--workers", "2", "--executor", "ray",
                 "--storage", f"sqlite:///{tmp_path / 'o.db'}"]) == 2
    assert "PostgreSQL" in capsys.readouterr().err
    assert main(["tune", "--dataset", "skin", "--init", "xyz"]) == 2
    assert "--init 'xyz'" in capsys.readouterr().err


def test_mlproject_tune_entry_point_renders_the_cli_command():
    from mlflow.projects._project_spec import load_project

    entry = load_project(str(ROOT)).get_entry_point("tune")
    command = entry.compute_command({"dataset": "kidney", "init": "lmi", "trials": "4", "executor": "ray",
                                     "workers": "2"}, storage_dir=None)
    assert " tune --dataset kidney --init lmi --trials 4 " in command and "--executor ray --workers 2" in command
    # MLflow passes '' for a parameter left empty: the CLI takes it as "not given".
    blank = entry.compute_command({}, storage_dir=None)
    tail = blank[blank.index(" tune "):].strip()
    argv = subprocess.run(["bash", "-c", f"printf '%s\\n' {tail}"], capture_output=True, text=True).stdout.splitlines()
    args = build_parser().parse_args(argv)
    assert args.trials is None and args.storage == "" and args.workers == 1 and args.executor == "local"


@pytest.mark.slow
def test_mlflow_run_tune_entry_point_makes_the_launcher_the_tuning_run(tmp_path, mlflow_db_template):
    """`mlflow run . -e tune --experiment-name medseglab/skin`: the run MLflow opens is the tuning run and
    the trial is its nested run (a one-trial tuning of the tiny set)."""
    import shutil
    from pathlib import Path

    import yaml
    from mlflow.tracking import MlflowClient

    from medseglab.config import apply_overrides

    from .conftest import TINY

    folder = tmp_path / "project"
    env = project(folder, mlflow_db_template)
    for name in ("MLproject", "python_env.yaml"):
        shutil.copy(ROOT / name, folder / name)
    params = apply_overrides(yaml.safe_load((ROOT / "params.yaml").read_text()), TINY)
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    bin_dir = Path(sys.executable).parent
    env["PATH"] = f"{bin_dir}:{env.get('PATH', '')}"
    cmd = [str(bin_dir / "mlflow"), "run", str(folder), "-e", "tune", "-P", "dataset=skin", "-P", "init=lmi",
           "-P", "trials=1", "--env-manager", "local", "--experiment-name", "medseglab/skin"]
    done = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert "1 complete, 0 pruned, 0 failed trials" in done.stdout
    client = MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("medseglab/skin")
    runs = client.search_runs([exp.experiment_id])
    (tuning,) = [r for r in runs if r.data.tags.get("medseglab.kind") == "tuning"]
    (trial,) = [r for r in runs if r.data.tags.get("medseglab.kind") == "tuning-trial"]
    assert len(runs) == 2 and trial.data.tags["mlflow.parentRunId"] == tuning.info.run_id
    assert tuning.data.tags.get("mlflow.project.entryPoint") == "tune" and tuning.info.status == "FINISHED"
    assert (folder / "tuning" / "skin-lmi.yaml").is_file()
