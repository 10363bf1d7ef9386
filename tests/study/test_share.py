"""A study's inputs through a local-folder DVC remote: pushed from one project, pulled into a fresh
git clone of the project, trained from there with the same data hash.

The training in the clone also meets a RUNNING run of its key left by a Ray task attempt on another
host: with the same task id (a retry of that task) it takes the run over instead of refusing it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from medseglab.errors import ConfigError, DataError
from medseglab.tracking import conventions as C

from .conftest import new_store, tiny_params

ROOT = Path(__file__).resolve().parents[2]
KEY = ("skin", "lmi", 0, 80, 0)
TASK = "0123456789ab/skin-lmi-s0-r80-rep0"


@pytest.fixture(scope="module")
def shared(tmp_path_factory, mlflow_db_template, required_tool):
    from medseglab.study import share
    from medseglab.study.inputs import ensure_prepared_dataset, ensure_splits, study_config

    remote = tmp_path_factory.mktemp("dvc-remote")
    params = tiny_params(f"ray.data_remote={remote}")
    out = {"params": params, "remote": remote}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDSEGLAB_NO_PROGRESS", "1")
        mp.setenv("MEDSEGLAB_OFFLINE", "1")
        source = new_store(tmp_path_factory.mktemp("driver"), mlflow_db_template, mp)
        cfg = study_config(params, "skin")
        prepared = ensure_prepared_dataset(cfg)
        _, splits_dir = ensure_splits(cfg, prepared)
        out["pushed"] = share.push_inputs(params, prepared.root, splits_dir, "skin", source)
        out["cfg"], out["data_hash"] = cfg, str(prepared.info["content_hash"])
        out["splits_hash"] = json.loads((Path(splits_dir) / "splits.json").read_text())["content_hash"]

        clone = tmp_path_factory.mktemp("worker") / "project"
        subprocess.run([required_tool("git"), "clone", "--quiet", str(ROOT), str(clone)], check=True)
        assert not (clone / "data" / "prepared" / "skin").exists()
        new_store(clone, mlflow_db_template, mp)
        out["clone"] = clone
        out["fetched"] = share.fetch(out["pushed"], clone)
        out["again"] = share.fetch(out["pushed"], clone)
        out["trained"] = _train_in(clone, out, mp)
    return out


def _train_in(clone: Path, out: dict, mp) -> dict:
    """`train_one` in the clone from the pulled folders, after a dead attempt of the same task on another host."""
    from medseglab.data import load_prepared
    from medseglab.splits import load_splits, splits_hash
    from medseglab.tracking.session import Tracking
    from medseglab.training.train import train_one

    prepared_dir, splits_dir, _ = out["fetched"]
    prepared, splits = load_prepared(prepared_dir), load_splits(splits_dir)
    tracking = Tracking.open(out["params"], "skin", profile="demo")
    key = C.TrainingKey.make(*KEY)
    tags = {C.KIND: "training", C.PROFILE: "demo", **key.tags(), C.CONFIG_HASH: C.training_config_hash(out["cfg"]),
            C.DATA_HASH: str(prepared.info["content_hash"]), C.SPLITS_HASH: splits_hash(splits),
            C.TASK: TASK, C.PID: "4242", C.HOST: "another-node", C.PROC_START: "1"}
    planted = tracking.client.create_run(tracking.experiment_id, run_name=key.name, tags=tags).info.run_id
    from medseglab.errors import UserError

    with pytest.raises(UserError, match="another-node"):  # no task id: a run of another host counts as alive
        train_one(out["cfg"], key, prepared, splits, tracking=tracking)
    tracking.task = TASK
    result = train_one(out["cfg"], key, prepared, splits, tracking=tracking)
    run = tracking.client.get_run(result.run_id)
    return {"planted": planted, "result": result, "run": run}


def test_a_fresh_clone_pulls_both_inputs_once(shared):
    prepared_dir, splits_dir, pulled = shared["fetched"]
    assert sorted(pulled) == sorted([shared["pushed"].prepared.label, shared["pushed"].splits.label])
    assert prepared_dir.is_relative_to(shared["clone"]) and splits_dir.is_relative_to(shared["clone"])
    assert json.loads((prepared_dir / "dataset.json").read_text())["content_hash"] == shared["data_hash"]
    assert json.loads((splits_dir / "splits.json").read_text())["content_hash"] == shared["splits_hash"]
    assert shared["again"][2] == []  # found in the clone now: not pulled again
    assert any(Path(shared["remote"]).rglob("*.dir"))  # the remote holds DVC's folder listings


def test_training_from_the_pulled_data_has_the_same_data_hash(shared):
    run = shared["trained"]["run"]
    assert run.info.status == "FINISHED"
    assert run.data.tags[C.DATA_HASH] == shared["data_hash"]
    assert run.data.tags[C.SPLITS_HASH] == shared["splits_hash"]
    table = shared["trained"]["result"].table
    assert len(table) > 0 and table["dice"].notna().any()


def test_a_retried_task_takes_over_its_dead_attempts_run_from_another_host(shared):
    trained = shared["trained"]
    assert trained["result"].status == "resumed"
    assert trained["result"].run_id == trained["planted"]


def test_a_pointer_whose_content_differs_is_refused(shared, tmp_path):
    import dataclasses

    from medseglab.study import share

    pushed = shared["pushed"]
    wrong = dataclasses.replace(pushed, prepared=dataclasses.replace(pushed.prepared, content_hash="0" * 64))
    with pytest.raises(DataError, match="expected 0000"):
        share.fetch(wrong, tmp_path)


def test_a_folder_remote_on_a_multi_machine_cluster_is_refused(monkeypatch):
    from medseglab.study import share

    monkeypatch.delenv("MEDSEGLAB_SHARED_MOUNT", raising=False)
    with pytest.raises(ConfigError, match="s3://"):
        share.check_remote_reachable({"url": "/data/remote", "endpointurl": None}, remote_nodes=True)
    share.check_remote_reachable({"url": "/data/remote", "endpointurl": None}, remote_nodes=False)
    share.check_remote_reachable({"url": "s3://bucket/x", "endpointurl": None}, remote_nodes=True)
