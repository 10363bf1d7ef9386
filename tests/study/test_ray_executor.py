"""The grid on a real 2-node Ray cluster on loopback (`ray start --head` + `ray start --address`).

One module-wide scenario, 4 tiny trainings (32x32, 15 phantoms, 1 epoch, 2 inits x 2 repeats):

1. a study through the Ray executor, the project's SQLite store served by a loopback MLflow server;
   one training's worker is SIGKILLed mid-fit (it writes its pid and waits), Ray retries the task, and
   the retry resumes that key's run; the head node runs in the project, the second node in an empty
   checkout, so its tasks pull the prepared data and splits from the DVC remote;
2. the same study again: every key is already finished, nothing is trained and no task is submitted.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import keras
import pytest

from medseglab.tracking import conventions as C

from .conftest import new_store, tiny_params

pytestmark = pytest.mark.slow

RAY = Path(sys.executable).with_name("ray")
KILLED_KEY = "skin-lmi-s0-r80-rep1"
LIGHT = ["--num-cpus=1", "--num-gpus=0", "--object-store-memory=80000000", "--disable-usage-stats",
         "--node-ip-address=127.0.0.1", "--block"]


def _session_pids(sid: int) -> list[int]:
    """Processes of session ``sid`` (the `ray start --block` we started and everything it spawned)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[3]) == sid:
                    pids.append(int(entry.name))
    return pids


def _start_node(args: list[str], cwd: Path, env: dict, log: Path) -> subprocess.Popen:
    """`ray start ... --block` in its own session; ports with fixed defaults get free ones (other Rays may
    run on this machine, and both our nodes are on it)."""
    from medseglab.tracking.server import free_port

    ports = [f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-port={free_port()}"]
    with open(log, "wb") as out:
        return subprocess.Popen([str(RAY), "start", *args, *ports], cwd=cwd, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _stop_node(proc: subprocess.Popen) -> None:
    """SIGTERM our `ray start --block` (it stops its node), then SIGKILL whatever of its session is left:
    only the processes this test started, never `ray stop` (it would stop every Ray on the machine)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=30)
    for pid in _session_pids(proc.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def _wait_for_nodes(address: str, n: int, timeout_s: float = 180) -> None:
    import ray

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            ray.init(address=address, configure_logging=False)
            try:
                alive = [node for node in ray.nodes() if node.get("Alive")]
            finally:
                ray.shutdown()
            if len(alive) >= n:
                return
        except ConnectionError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"the Ray cluster at {address} did not reach {n} nodes")
        time.sleep(2)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, mlflow_db_template):
    """A 2-node Ray cluster on loopback: the head in the project, the second node in an empty checkout."""
    from medseglab.tracking.server import free_port

    project = tmp_path_factory.mktemp("ray-project")
    checkout = tmp_path_factory.mktemp("ray-checkout")  # no data: its tasks pull from the DVC remote
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # short: Ray's socket paths have a length limit
    # Ray >= 2.59 turns token authentication on for local clusters, with ~/.ray/auth_token, which other
    # Rays of this machine may rewrite: this cluster gets its own token, passed to its nodes and driver.
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "RAY_"))}
    env.update({"MEDSEGLAB_OFFLINE": "1", "MEDSEGLAB_NO_PROGRESS": "1", "TF_CPP_MIN_LOG_LEVEL": "3", **auth})
    port = free_port()
    address = f"127.0.0.1:{port}"
    nodes = []
    mp = pytest.MonkeyPatch()
    for name, value in auth.items():
        mp.setenv(name, value)
    try:
        nodes.append(_start_node(["--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={temp}",
                                  f"--ray-client-server-port={free_port()}", *LIGHT], project, env, temp / "head.log"))
        time.sleep(3)
        nodes.append(_start_node([f"--address={address}", *LIGHT], checkout, env, temp / "worker.log"))
        _wait_for_nodes(address, 2)
        yield {"address": address, "project": project, "checkout": checkout, "temp": temp}
    finally:
        mp.undo()
        for proc in reversed(nodes):
            _stop_node(proc)
        shutil.rmtree(temp, ignore_errors=True)


class PauseForKill(keras.callbacks.Callback):
    """On the first attempt of its key: write the worker's pid after one batch and wait to be killed."""

    def __init__(self, marker: str):
        super().__init__()
        self.marker = marker

    def on_train_batch_end(self, batch, logs=None):
        marker = Path(self.marker)
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            time.sleep(600)


def _callbacks_for(marker: Path):
    def callbacks_for(key):
        return [PauseForKill(str(marker))] if key.name == KILLED_KEY else []
    return callbacks_for


def _kill_when_paused(marker: Path, killed: dict) -> threading.Thread:
    def run():
        deadline = time.monotonic() + 600
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)
        pid = int(marker.read_text())
        os.kill(pid, signal.SIGKILL)
        killed["pid"] = pid

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.fixture(scope="module")
def scenario(cluster, mlflow_db_template):
    import ray.cloudpickle

    from medseglab.study.study import run_study
    from medseglab.tracking.runs import open_client

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    params = tiny_params("profiles.demo.repeats=[0,1]", "executor=ray", f"ray.address={cluster['address']}",
                         "ray.max_retries=2")
    marker = cluster["temp"] / "paused.pid"
    out = {"params": params, "killed": {}}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDSEGLAB_NO_PROGRESS", "1")
        mp.setenv("MEDSEGLAB_OFFLINE", "1")
        root = new_store(cluster["project"], mlflow_db_template, mp)
        killer = _kill_when_paused(marker, out["killed"])
        start = time.perf_counter()
        out["first"] = run_study(params, "skin", callbacks_for=_callbacks_for(marker))
        out["first_s"] = time.perf_counter() - start
        killer.join(timeout=5)
        start = time.perf_counter()
        out["second"] = run_study(params, "skin")
        out["second_s"] = time.perf_counter() - start
        client = open_client(uri=f"sqlite:///{root / 'mlflow.db'}")
        exp = client.get_experiment_by_name(C.experiment_name("skin"))
        out["trainings"] = client.search_runs([exp.experiment_id], C.tag_filter({C.KIND: "training"}), max_results=100)
        out["data_hash"] = client.get_run(out["first"].parent_run_id).data.tags[C.DATA_HASH]
        out["root"] = root
    print(f"\nRay study: first launch {out['first_s']:.1f} s (4 trainings, one killed and retried), "
          f"rerun {out['second_s']:.1f} s", file=sys.stderr)
    return out


def test_four_trainings_finish_once_each_despite_a_killed_worker(scenario):
    runs = scenario["trainings"]
    assert len(runs) == 4, [r.info.run_name for r in runs]
    assert sorted(r.info.run_name for r in runs) == sorted(scenario["first"].runs["key"])
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert {r.data.tags[C.PARENT] for r in runs} == {scenario["first"].parent_run_id}
    assert scenario["killed"].get("pid"), "the paused worker was never killed"


def test_the_killed_task_was_retried_and_resumed_its_own_run(scenario):
    statuses = scenario["first"].runs.set_index("key")["status"].to_dict()
    tags = {r.info.run_name: {k: v for k, v in r.data.tags.items() if k in (C.PID, C.TASK, C.EPOCHS_DONE)}
            for r in scenario["trainings"]}
    assert statuses.pop(KILLED_KEY) == "resumed", (statuses, tags)
    assert set(statuses.values()) == {"trained"}, (statuses, tags)
    killed = next(r for r in scenario["trainings"] if r.info.run_name == KILLED_KEY)
    assert killed.data.tags[C.TASK].endswith(f"/{KILLED_KEY}")
    assert killed.data.tags[C.PID] != str(scenario["killed"]["pid"])  # the retry's worker finished it
    assert "test_dice_median" in killed.data.metrics


def test_the_node_without_data_pulled_it_from_the_dvc_remote(scenario, cluster):
    import json

    pulled = list((cluster["checkout"] / ".medseglab" / "dvc-share").glob("prepared-skin-*/dataset.json"))
    assert pulled, "no task ran on the second node, or it found data it should not have"
    assert json.loads(pulled[0].read_text())["content_hash"] == scenario["data_hash"]
    assert not (cluster["checkout"] / "data").exists()  # nothing prepared there: only pulled
    assert {r.data.tags[C.DATA_HASH] for r in scenario["trainings"]} == {scenario["data_hash"]}


def test_a_rerun_trains_nothing(scenario):
    second = scenario["second"]
    assert set(second.runs["status"]) == {"skipped"}
    assert second.parent_run_id == scenario["first"].parent_run_id
    assert sorted(second.runs["run_id"]) == sorted(r.info.run_id for r in scenario["trainings"])
    assert len(second.table) == len(scenario["first"].table)


def test_study_json_names_the_store_not_the_loopback_server(scenario):
    import json

    info = json.loads((scenario["root"] / "results" / "skin" / "study.json").read_text())
    assert info["tracking_uri"].startswith("sqlite:///")
