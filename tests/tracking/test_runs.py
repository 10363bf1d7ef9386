"""Experiments, finding runs by tag, telling dead RUNNING runs from live ones, reading studies."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from medseglab.tracking import conventions as C


@pytest.fixture
def client(tracking_dir):
    from medseglab.tracking.runs import open_client

    return open_client({})


def test_experiment_artifacts_live_under_the_resolved_root(client, tmp_path):
    from medseglab.tracking.runs import ensure_experiment

    exp_id = ensure_experiment(client, "skin", {"tracking": {"artifact_root": "store"}})
    exp = client.get_experiment(exp_id)
    assert exp.name == "medseglab/skin"
    assert exp.artifact_location == (tmp_path / "store" / "skin").as_uri()
    assert ensure_experiment(client, "skin", {}) == exp_id  # found, not created again


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_running_run_is_alive_only_while_its_process_lives(client):
    from medseglab.tracking.runs import ensure_experiment, is_alive, process_tags

    exp_id = ensure_experiment(client, "skin", {})
    mine = client.get_run(client.create_run(exp_id, tags=process_tags()).info.run_id)
    assert not is_alive(mine)  # this very process: a run it left open, resumable
    parent = client.get_run(client.create_run(exp_id, tags={C.PID: str(os.getppid()), C.HOST: process_tags()[C.HOST]})
                            .info.run_id)
    assert is_alive(parent)
    dead = client.get_run(client.create_run(exp_id, tags={**process_tags(), C.PID: str(_dead_pid())}).info.run_id)
    assert not is_alive(dead)
    elsewhere = client.get_run(client.create_run(exp_id, tags={C.PID: "1", C.HOST: "another-host"}).info.run_id)
    assert is_alive(elsewhere)
    client.set_terminated(elsewhere.info.run_id, "FAILED")
    assert not is_alive(client.get_run(elsewhere.info.run_id))


def test_find_trainings_matches_key_and_hashes(client):
    from medseglab.tracking.runs import ensure_experiment, find_trainings

    exp_id = ensure_experiment(client, "skin", {})
    key = C.TrainingKey.make("skin", "tii", 0, 80, 0)
    tags = {C.KIND: "training", **key.tags(), C.CONFIG_HASH: "c1", C.DATA_HASH: "d1", C.SPLITS_HASH: "s1"}
    wanted = client.create_run(exp_id, tags=tags).info.run_id
    client.create_run(exp_id, tags={**tags, C.CONFIG_HASH: "c2"})
    client.create_run(exp_id, tags={**tags, **C.TrainingKey.make("skin", "lmi", 0, 80, 0).tags()})
    found = find_trainings(client, exp_id, key, "c1", "d1", "s1")
    assert [r.info.run_id for r in found] == [wanted]


def test_find_study_names_the_fix_when_there_is_none(client):
    from medseglab.cli import UserError
    from medseglab.tracking.runs import find_study

    with pytest.raises(UserError, match="medseglab study --dataset skin"):
        find_study("skin")


def test_study_readers_use_the_parent_artifacts(client, tmp_path):
    from medseglab.tracking.runs import ensure_experiment, find_study, find_study_parent, study_children, study_table

    exp_id = ensure_experiment(client, "skin", {})
    tags = {C.KIND: "study", C.DATASET: "skin", C.CONFIG_HASH: "h"}
    old = client.create_run(exp_id, tags=tags).info.run_id
    client.set_terminated(old, "FINISHED")
    run_id = client.create_run(exp_id, tags=tags).info.run_id
    assert find_study_parent(client, exp_id, "skin", "h").info.run_id == run_id  # unfinished first
    table = pd.DataFrame({"image_id": ["a", "b"], "dice": [0.5, 0.75]})
    runs = pd.DataFrame({"key": ["skin-tii-s0-r80-rep0"], "run_id": ["0123"], "status": ["trained"]})
    folder = tmp_path / "study"
    folder.mkdir()
    table.to_parquet(folder / "per_image.parquet")
    runs.to_csv(folder / "runs.csv", index=False)
    client.log_artifacts(run_id, str(folder), "study")
    client.set_terminated(run_id, "FINISHED")
    assert find_study("skin").info.run_id == run_id  # the newest finished
    pd.testing.assert_frame_equal(study_table(run_id), table)
    assert study_children(run_id)["run_id"].tolist() == ["0123"]
    with pytest.raises(Exception, match="not a medseglab study"):
        find_study("skin", run_id=client.create_run(exp_id).info.run_id)
