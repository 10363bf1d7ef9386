"""`medseglab tune --executor ray --workers 2` on a real PostgreSQL server: two Ray tasks run trials of
one study at the same time and the study ends with exactly the trials asked for, each once."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from .conftest import project, set_args

pytestmark = pytest.mark.slow

MEDSEGLAB = str(Path(sys.executable).with_name("medseglab"))


def test_two_ray_workers_share_one_postgres_study(tmp_path, mlflow_db_template, postgres_url):
    from mlflow.tracking import MlflowClient

    env = project(tmp_path, mlflow_db_template)
    # Ray's memory monitor counts every process on the machine: on a shared 2-core CI box other jobs can
    # pass its 95% threshold and it would stop these tiny workers; the kernel's OOM killer still applies.
    env["RAY_memory_monitor_refresh_ms"] = "0"
    # No pruning: 4 complete trials. A 60 s grace: on a starved machine the conftest's 3 s would take
    # live trials for dead (worker.run_worker copes, but this test is about sharing one study).
    settings = set_args("tune.pruner.type=none", "tune.heartbeat_s=2", "tune.grace_s=60")
    cmd = [MEDSEGLAB, "tune", "--dataset", "skin", "--init", "lmi", "--trials", "4", "--executor", "ray",
           "--workers", "2", "--storage", postgres_url, *settings]
    start = time.monotonic()
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    print(f"\n2 Ray workers, 4 trials: {time.monotonic() - start:.1f} s")
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert "running 4 on 2 worker(s) (ray)" in done.stderr

    (summary,) = optuna.get_all_study_summaries(postgres_url)
    trials = optuna.load_study(study_name=summary.study_name, storage=postgres_url).get_trials()
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]
    assert {t.state.name for t in trials} == {"COMPLETE"}
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 4  # four different settings

    client = MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("medseglab/skin")
    (tuning,) = client.search_runs([exp.experiment_id], "tags.`medseglab.kind` = 'tuning'")
    runs = client.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{tuning.info.run_id}'")
    assert sorted(int(r.data.tags["medseglab.tuning.trial"]) for r in runs) == [0, 1, 2, 3]
    by_worker: dict[str, list] = {}
    for run in runs:
        by_worker.setdefault(run.data.tags["medseglab.pid"], []).append(run)
    assert sorted(len(v) for v in by_worker.values()) == [2, 2], {k: len(v) for k, v in by_worker.items()}
    first, second = by_worker.values()
    overlap = [(a, b) for a in first for b in second
               if a.info.start_time < b.info.end_time and b.info.start_time < a.info.end_time]
    assert overlap, "the two workers never trained at the same time"
    assert tuning.data.tags["medseglab.tuning.storage"].startswith("postgresql+psycopg2://postgres@127.0.0.1:")
