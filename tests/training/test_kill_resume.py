"""`medseglab train` killed for real (SIGKILL) and relaunched: it resumes the same MLflow run from its
last complete checkpoint and ends with the per-image metrics of an uninterrupted training.

One 2-epoch training of a 15-image synthetic dataset at 32x32, in a temporary project with its
own sqlite store, launched as a subprocess three times:

1. paused right after its epoch-1 checkpoint is written (before the upload and the epoch's
   metrics); meanwhile a second launch of the same key must be refused (the run is alive);
   then SIGKILL;
2. resumes after epoch 1; paused inside the epoch-2 checkpoint write, between atomic_dir's two
   renames (the old checkpoint moved aside, the new one not yet in place); then SIGKILL;
3. the plain `medseglab` console script: must again resume after epoch 1 (the previous
   checkpoint survived the kill) and finish.

Launches 1 and 2 run `medseglab.cli.main` under a small harness that only adds the pause; the
pause writes a marker file so that the kill lands exactly there (no timing guesses).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
KEY = "skin-lmi-s0-r80-rep0"
ARGS = ["train", "--dataset", "skin", "--init", "lmi", "--split", "0", "--ratio", "80", "--repeat", "0",
        "--set", "profiles.demo.image_size=[32,32]", "--set", "profiles.demo.epochs=2",
        "--set", "datasets.skin.n_images=15", "--set", "train.val_fraction=0.2",
        "--set", "tracking.register_models=false",
        "--set", "train.checkpoint_interval_s=0"]  # a checkpoint every epoch: the kills land on exact epochs
METRICS = ["tp", "fp", "fn", "tn", "dice", "sensitivity", "specificity", "precision", "fpr", "auroc_mask",
           "auroc_prob"]
WAIT_S = 420

# Runs the real CLI; KILL_AT=saved:N pauses once checkpoint N is written, KILL_AT=renaming:N pauses
# inside the write of checkpoint N after the old one was moved aside. Either writes KILL_MARKER first.
HARNESS = r"""
import json, os, sys, time
from pathlib import Path

mode, epoch = os.environ["KILL_AT"].split(":")
epoch, marker = int(epoch), Path(os.environ["KILL_MARKER"])

def pause():
    marker.write_text(str(os.getpid()))
    time.sleep(3600)

if mode == "saved":
    import medseglab.training.checkpoint as ck
    real_save = ck.save_checkpoint
    def save_checkpoint(directory, model, epochs_done, *args, **kwargs):
        out = real_save(directory, model, epochs_done, *args, **kwargs)
        if epochs_done == epoch:
            pause()
        return out
    ck.save_checkpoint = save_checkpoint
elif mode == "renaming":
    real_replace = os.replace
    def replace(src, dst, *args, **kwargs):
        src, dst = Path(src), Path(dst)
        if (dst.parent.name == "checkpoints" and src.name.endswith(".tmp") and not dst.exists()
                and dst.with_name(f".{dst.name}.old").is_dir()
                and json.loads((src / "state.json").read_text())["epochs_done"] == epoch):
            pause()
        return real_replace(src, dst, *args, **kwargs)
    os.replace = replace
else:
    raise SystemExit(f"KILL_AT={os.environ['KILL_AT']!r}")

from medseglab.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _project(folder: Path, template: Path) -> dict:
    """A project folder (params.yaml, an empty sqlite store) and the environment of its launches."""
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "params.yaml", folder / "params.yaml")
    shutil.copy(template, folder / "mlflow.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(MLFLOW_TRACKING_URI=f"sqlite:///{folder / 'mlflow.db'}", MEDSEGLAB_OFFLINE="1",
               MEDSEGLAB_NO_PROGRESS="1", TF_CPP_MIN_LOG_LEVEL="2",
               PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return env


class Launch:
    """One `medseglab train` subprocess; its output goes to files (no pipe to fill up)."""

    def __init__(self, cwd: Path, env: dict, name: str, kill_at: str | None = None):
        self.cwd, self.name = cwd, name
        self.marker = cwd / f"{name}.paused"
        self.out, self.err = cwd / f"{name}.out", cwd / f"{name}.err"
        if kill_at:
            cmd = [sys.executable, "-c", HARNESS, *ARGS]
            env = dict(env, KILL_AT=kill_at, KILL_MARKER=str(self.marker))
        else:
            cmd = [str(BIN / "medseglab"), *ARGS]
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err)

    def output(self) -> str:
        return self.out.read_text() + self.err.read_text()

    def wait_paused(self) -> None:
        deadline = time.monotonic() + WAIT_S
        while not self.marker.exists():
            if self.proc.poll() is not None:
                pytest.fail(f"{self.name} exited ({self.proc.returncode}) before its pause:\n{self.output()[-4000:]}")
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"{self.name} did not reach its pause in {WAIT_S} s:\n{self.output()[-4000:]}")
            time.sleep(0.2)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=60)

    def finish(self) -> int:
        try:
            return self.proc.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{self.name} did not finish in {WAIT_S} s:\n{self.output()[-4000:]}")


def _client(env: dict):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])


def _runs(env: dict):
    client = _client(env)
    exp = client.get_experiment_by_name("medseglab/skin")
    return [] if exp is None else client.search_runs([exp.experiment_id])


def _per_image(env: dict, run_id: str) -> pd.DataFrame:
    import mlflow

    from medseglab.io import temp_dir

    with temp_dir() as tmp:
        path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="evaluation/per_image.parquet",
                                                   dst_path=str(tmp), tracking_uri=env["MLFLOW_TRACKING_URI"])
        return pd.read_parquet(path).set_index("image_id").sort_index()[METRICS]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory, mlflow_db_template):
    out = {}
    ref_dir = tmp_path_factory.mktemp("uninterrupted") / "project"
    ref_env = _project(ref_dir, mlflow_db_template)
    ref = Launch(ref_dir, ref_env, "reference")
    assert ref.finish() == 0, ref.output()[-4000:]
    (ref_run,) = _runs(ref_env)
    out["reference"] = _per_image(ref_env, ref_run.info.run_id)

    proj = tmp_path_factory.mktemp("killed") / "project"
    env = _project(proj, mlflow_db_template)
    out["proj"], out["env"] = proj, env

    first = Launch(proj, env, "first", kill_at="saved:1")
    try:
        first.wait_paused()
        (run,) = _runs(env)
        out["run_id"], out["first_pid"] = run.info.run_id, first.proc.pid
        out["while_alive"] = run
        rival = Launch(proj, env, "rival")
        out["rival_code"], out["rival_output"] = rival.finish(), rival.output()
    finally:
        first.kill()
    ckpt = proj / "checkpoints" / out["run_id"]
    out["after_first"] = json.loads((ckpt / "state.json").read_text())
    out["status_after_first"] = _client(env).get_run(out["run_id"]).info.status

    second = Launch(proj, env, "second", kill_at="renaming:2")
    try:
        second.wait_paused()
    finally:
        second.kill()
    out["second_output"] = second.output()
    out["after_second"] = sorted(p.name for p in ckpt.parent.iterdir())

    third = Launch(proj, env, "third")
    out["third_code"], out["third_output"] = third.finish(), third.output()
    out["runs"] = _runs(env)
    out["resumed"] = _per_image(env, out["run_id"])
    out["loss_steps"] = sorted(m.step for m in _client(env).get_metric_history(out["run_id"], "loss"))
    out["checkpoints_left"] = sorted(p.name for p in ckpt.parent.iterdir()) if ckpt.parent.exists() else []
    return out


def test_a_launch_of_a_live_run_is_refused(scenario):
    assert scenario["while_alive"].info.status == "RUNNING"
    assert scenario["rival_code"] == 2, scenario["rival_output"][-3000:]
    (line,) = [ln for ln in scenario["rival_output"].splitlines() if "error:" in ln]
    assert line.startswith("medseglab train: error: ")
    assert scenario["run_id"] in line and f"process {scenario['first_pid']}" in line, line


def test_first_kill_leaves_the_epoch_one_checkpoint_and_a_running_run(scenario):
    assert scenario["after_first"]["epochs_done"] == 1
    assert scenario["status_after_first"] == "RUNNING"  # SIGKILL: MLflow never heard of it


def test_relaunch_resumes_the_same_run(scenario):
    assert f"{KEY}: resuming run {scenario['run_id']} after epoch 1/2" in scenario["second_output"]


def test_kill_inside_a_checkpoint_write_keeps_the_previous_checkpoint(scenario):
    run_id = scenario["run_id"]
    # The kill landed between the renames: only the moved-aside epoch-1 checkpoint was left ...
    assert run_id not in scenario["after_second"] and f".{run_id}.old" in scenario["after_second"]
    # ... and the third launch resumed from it instead of starting over.
    assert scenario["third_code"] == 0, scenario["third_output"][-4000:]
    assert f"{KEY}: resuming run {run_id} after epoch 1/2" in scenario["third_output"]
    assert "from epoch 0" not in scenario["third_output"]
    assert f"{KEY}: resumed (run {run_id}" in scenario["third_output"]


def test_one_finished_run_with_every_epoch_logged_once(scenario):
    (run,) = scenario["runs"]
    assert run.info.run_id == scenario["run_id"] and run.info.status == "FINISHED"
    assert run.data.tags["medseglab.epochs_done"] == "2"
    assert scenario["loss_steps"] == [0, 1]


def test_resumed_training_has_the_per_image_metrics_of_an_uninterrupted_one(scenario):
    pd.testing.assert_frame_equal(scenario["resumed"], scenario["reference"])


def test_finished_training_leaves_no_checkpoint_behind(scenario):
    assert scenario["checkpoints_left"] == []
