"""medseglab against a real `mlflow server` (issue #9 part 4): SQLite backend, artifacts proxied by the
server (--serve-artifacts), MLFLOW_TRACKING_URI=http://127.0.0.1:PORT for every command.

The store checks (SQLite lock, WAL, corruption, artifact-folder probe) are for local stores only; through
a server the experiment's artifacts live where the server says (mlflow-artifacts:/...), never in a local
folder of the client.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"
MLFLOW = Path(sys.executable).with_name("mlflow")
MEDSEGLAB = [sys.executable, "-m", "medseglab.cli"]
TINY = ["profiles.demo.image_size=[32,32]", "profiles.demo.epochs=1", "profiles.demo.splits=[0]",
        "profiles.demo.repeats=[0]", "profiles.demo.inits=[tii,lmi]", "profiles.demo.depletion=null",
        "datasets.skin.n_images=8", "split.n_splits=2", "train.val_fraction=0"]


@pytest.fixture(scope="module")
def server(tmp_path_factory, mlflow_server_in):
    """A real `mlflow server` on a free loopback port, artifacts proxied into its own folder."""
    with mlflow_server_in(tmp_path_factory.mktemp("mlflow-server")) as running:
        yield running


def _medseglab(args: list[str], cwd: Path, url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": url, "MEDSEGLAB_NO_PROGRESS": "1", "MEDSEGLAB_OFFLINE": "1"}
    sets = [a for t in TINY for a in ("--set", t)]
    done = subprocess.run([*MEDSEGLAB, *args, "--params", str(PARAMS), *sets], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_store_checks_are_skipped_for_a_server_uri(monkeypatch, tmp_path):
    from medseglab.tracking import store

    calls = []
    monkeypatch.setattr(store, "_check_sqlite", lambda db: calls.append(db))
    monkeypatch.setattr(store, "_enable_wal", lambda db: calls.append(db))
    store.prepare_store("http://127.0.0.1:1")  # nothing listens there: no request is made either
    assert calls == [] and "http://127.0.0.1:1" in store._READY
    store.check_writable("mlflow-artifacts:/3/abc/artifacts")  # not a local folder: not probed
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_train_study_promote_and_read_back_through_the_server(server, tmp_path):
    from mlflow.tracking import MlflowClient

    from medseglab import tracking
    from medseglab.tracking import registry

    url = server["url"]
    _medseglab(["train", "--dataset", "skin", "--init", "lmi"], tmp_path, url)
    client = MlflowClient(url)
    exp = client.get_experiment_by_name("medseglab/skin")
    assert exp.artifact_location.startswith("mlflow-artifacts:/"), exp.artifact_location
    assert not (tmp_path / "mlartifacts").exists() and not (tmp_path / "mlflow.db").exists()
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.status == "FINISHED"
    stored = list((server["root"] / "artifacts").rglob("per_image.parquet"))
    assert stored, "the training's artifacts should sit in the server's --artifacts-destination"

    _medseglab(["study", "--dataset", "skin"], tmp_path, url)  # a study (lmi + tii) to promote
    done = _medseglab(["promote", "--dataset", "skin"], tmp_path, url)
    assert "champion" in done.stdout

    pair = registry.resolve_champion("skin", uri=url)
    assert pair is not None and pair.name.endswith("-pair")
    champion = client.get_model_version_by_alias(pair.name.replace("-pair", "-lmi"), "champion")
    table = tracking.training_table(champion.run_id, uri=url)  # read back through the server's proxy
    assert len(table) and "dice" in table.columns
    model = registry.load_pair(pair.model_uri, uri=url)
    import numpy as np
    import pandas as pd
    from PIL import Image

    image = tmp_path / "new.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(image)
    out = model.predict(pd.DataFrame({"path": [str(image)]}))
    width, height = 40, 30
    assert set(out.columns) >= {"lmi", "tii", "union", "intersection"}
    assert out["union"].iloc[0].shape == (height, width)
