"""`medseglab tune` killed for real (SIGKILL) mid-tuning and launched again: it continues the same Optuna
study and the same MLflow tuning run, the killed trial is failed by its missing heartbeat and retried in
the same nested MLflow run, and the tuning ends with 4 trials in one study and 4 nested runs.

A 4-trial tuning of a 16-image 32x32 synthetic set (1-2 epochs per trial) in a temporary project with
its own SQLite stores (MLflow and Optuna), launched as a subprocess twice: killed once 2 trials are
done and the third is training, then relaunched with the same command.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml

from .conftest import project, set_args

pytestmark = pytest.mark.slow

MEDSEGLAB = str(Path(sys.executable).with_name("medseglab"))
WAIT_S = 600


def _states(db: Path) -> dict:
    """Trial states straight from Optuna's tables (read-only; no lock held while the tuning runs)."""
    if not db.exists():
        return {}
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        try:
            rows = dict(conn.execute("select state, count(*) from trials group by state").fetchall())
            rows["RUNNING_WITH_RUN"] = conn.execute(
                "select count(*) from trials t join trial_user_attributes a on a.trial_id = t.trial_id "
                "where t.state = 'RUNNING' and a.key = 'mlflow_run_id'").fetchone()[0]
        except sqlite3.OperationalError:  # tables not created yet
            return {}
    return rows


def _launch(folder: Path, env: dict, name: str) -> tuple[subprocess.Popen, Path]:
    log = folder / f"{name}.log"
    with open(log, "w") as out:
        cmd = [MEDSEGLAB, "tune", "--dataset", "skin", "--init", "lmi", "--trials", "4", *set_args()]
        return subprocess.Popen(cmd, cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT), log


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory, mlflow_db_template):
    folder = tmp_path_factory.mktemp("tune-kill") / "project"
    env = project(folder, mlflow_db_template)
    db = folder / "optuna.db"
    out = {"folder": folder, "env": env, "db": db}

    first, log = _launch(folder, env, "first")
    start = time.monotonic()
    try:
        while True:
            states = _states(db)
            done = states.get("COMPLETE", 0) + states.get("PRUNED", 0)
            if done >= 2 and states.get("RUNNING_WITH_RUN", 0) >= 1:
                break
            if first.poll() is not None:
                pytest.fail(f"the first launch exited ({first.returncode}) before 2 trials:\n{log.read_text()[-4000:]}")
            if time.monotonic() - start > WAIT_S:
                pytest.fail(f"2 trials not done in {WAIT_S} s:\n{log.read_text()[-4000:]}")
            time.sleep(0.2)
        out["at_kill"] = states
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    out["first_code"], out["first_s"] = first.returncode, time.monotonic() - start

    start = time.monotonic()
    second, log = _launch(folder, env, "second")
    try:
        out["second_code"] = second.wait(timeout=WAIT_S)
    finally:
        if second.poll() is None:
            second.kill()
    out["second_s"], out["second_log"] = time.monotonic() - start, log.read_text()
    print(f"\nfirst launch to the kill: {out['first_s']:.1f} s; resumed launch: {out['second_s']:.1f} s")
    return out


def test_the_kill_landed_mid_trial(killed_and_resumed):
    assert killed_and_resumed["first_code"] == -signal.SIGKILL
    at_kill = killed_and_resumed["at_kill"]
    assert at_kill.get("COMPLETE", 0) + at_kill.get("PRUNED", 0) == 2 and at_kill["RUNNING"] == 1


def test_resume_ends_with_four_trials_in_one_study(killed_and_resumed):
    out = killed_and_resumed
    assert out["second_code"] == 0, out["second_log"][-4000:]
    assert "2 of 4 trials done; running 2" in out["second_log"]
    storage = f"sqlite:///{out['db']}"
    (summary,) = optuna.get_all_study_summaries(storage)
    trials = optuna.load_study(study_name=summary.study_name, storage=storage).get_trials()
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert len(finished) == 4 and len(failed) == 1 and len(trials) == 5
    # The killed trial (failed by its stale heartbeat) was run again with its values and its MLflow run.
    (retry,) = [t for t in finished if t.system_attrs.get("failed_trial") == failed[0].number]
    assert retry.params == failed[0].params
    assert retry.user_attrs["mlflow_run_id"] == failed[0].user_attrs["mlflow_run_id"]
    assert len({t.user_attrs["mlflow_run_id"] for t in finished}) == 4


def test_one_tuning_run_with_four_nested_trial_runs(killed_and_resumed):
    from mlflow.tracking import MlflowClient

    out = killed_and_resumed
    storage = f"sqlite:///{out['db']}"
    (summary,) = optuna.get_all_study_summaries(storage)
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    client = MlflowClient(tracking_uri=out["env"]["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("medseglab/skin")
    (tuning,) = client.search_runs([exp.experiment_id], "tags.`medseglab.kind` = 'tuning'")
    assert tuning.info.status == "FINISHED" and tuning.info.run_name == study.study_name
    children = client.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{tuning.info.run_id}'")
    assert len(children) == 4 and {r.info.status for r in children} == {"FINISHED"}
    finished = {t.number: t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")}
    assert {int(r.data.tags["medseglab.tuning.trial"]) for r in children} == set(finished)
    for run in children:
        trial = finished[int(run.data.tags["medseglab.tuning.trial"])]
        assert run.info.run_id == trial.user_attrs["mlflow_run_id"]
        assert run.data.tags["medseglab.tuning.state"] == trial.state.name
        assert float(run.data.params["train.learning_rate"]) == pytest.approx(trial.params["train.learning_rate"])
        if trial.state.name == "COMPLETE":
            assert run.data.metrics["val_dice_median"] == pytest.approx(trial.value)
    best = study.best_trial
    assert tuning.data.metrics["best_val_dice_median"] == pytest.approx(best.value)
    assert tuning.data.tags["medseglab.tuning.best_trial"] == str(best.number)
    logged = {a.path for a in client.list_artifacts(tuning.info.run_id, "tuning")}
    assert logged == {"tuning/skin-lmi.yaml", "tuning/trials.csv"}


def test_best_file_sets_the_best_values_through_set_file(killed_and_resumed):
    from medseglab.cli import build_parser
    from medseglab.config import load_params
    from medseglab.study.inputs import study_config

    out = killed_and_resumed
    best_file = out["folder"] / "tuning" / "skin-lmi.yaml"
    storage = f"sqlite:///{out['db']}"
    (summary,) = optuna.get_all_study_summaries(storage)
    best = optuna.load_study(study_name=summary.study_name, storage=storage).best_trial
    text = best_file.read_text()
    assert "validation part of the train set (no test image seen)" in text and f"best trial {best.number}" in text
    # The demo profile sets epochs, so the tuned epochs go there; the rest is the train section.
    assert set(yaml.safe_load(text)) == {"train.learning_rate", "profiles.demo.epochs", "train.augment.hflip"}
    args = build_parser().parse_args(["study", "--dataset", "skin", "--set-file", str(best_file)])
    cfg = study_config(load_params(out["folder"] / "params.yaml", args.overrides), "skin", "demo")
    assert cfg["train"]["learning_rate"] == pytest.approx(best.params["train.learning_rate"])
    assert cfg["epochs"] == best.params["epochs"]
    assert cfg["train"]["augment"] == {"hflip": best.params["train.augment.hflip"]}
    # Without the file the paper profile keeps the paper's values.
    paper = study_config(load_params(out["folder"] / "params.yaml"), "skin", "paper")
    assert paper["epochs"] == 40 and paper["train"]["learning_rate"] == 1.0 and "augment" not in paper["train"]
