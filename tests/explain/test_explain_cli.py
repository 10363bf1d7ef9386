"""`medseglab explain` end to end: a fake finished study (tiny U-Nets logged with the MLflow Keras
flavour) in a temporary MLflow store, the synthetic prepared dataset, the real CLI."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medseglab.cli import main

from .conftest import tiny_unet

PARAMS = str(Path(__file__).resolve().parents[2] / "params.yaml")
SET = ["--set", "datasets.skin.n_images=8", "--set", "profiles.demo.image_size=[32,32]",
       "--set", "explain.n_per_kind=1", "--set", "datasets.skin.umap.n_neighbors=3"]
TEST = slice(0, 5)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    import mlflow
    import mlflow.keras

    from medseglab import tracking
    from medseglab.config import load_params, resolve
    from medseglab.data import load_prepared, prepare_dataset, prepared_dir_for
    from medseglab.evaluation.probabilities import save_probabilities
    from medseglab.tracking import conventions as C

    root = tmp_path_factory.mktemp("project")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", uri)
    mp.setenv("MEDSEGLAB_NO_PROGRESS", "1")
    mp.chdir(root)
    cfg = resolve(load_params(PARAMS, [s for s in SET if s != "--set"]), "skin")
    prepared = load_prepared(prepare_dataset(cfg, prepared_dir_for(cfg)))
    ids = np.array(prepared.ids)[TEST]
    images = prepared.load_images(ids).astype(np.float32)

    client = tracking.open_client({"tracking": {"uri": uri}})
    exp = tracking.ensure_experiment(client, "skin", {"tracking": {"artifact_root": str(root / "mlartifacts")}})
    parent = client.create_run(exp, run_name="study-skin", tags={
        C.KIND: "study", C.DATASET: "skin", C.PROFILE: "demo", C.DATA_HASH: prepared.info["content_hash"]})
    pid = parent.info.run_id
    rows = []
    for k, init in enumerate(("lmi", "tii")):
        for repeat in (0, 1):
            key = C.TrainingKey.make("skin", init, 0, 80, repeat)
            run = client.create_run(exp, run_name=key.name, tags={**key.tags(), C.KIND: "training", C.PARENT: pid})
            model = tiny_unet(32, seed=2 * k + repeat, name=f"m{k}{repeat}")
            with tempfile.TemporaryDirectory() as tmp:
                save_probabilities(Path(tmp) / "probabilities.npz", ids, model.predict(images, verbose=0)[..., 1])
                client.log_artifact(run.info.run_id, str(Path(tmp) / "probabilities.npz"), "evaluation")
            with mlflow.start_run(run_id=run.info.run_id):
                mlflow.keras.log_model(model, name="model", pip_requirements=["keras"])
            client.set_terminated(run.info.run_id)
            rows.append({"dataset": "skin", "init": init, "split": 0, "ratio": 80, "repeat": repeat,
                         "key": key.name, "run_id": run.info.run_id, "status": "FINISHED"})
    with tempfile.TemporaryDirectory() as tmp:
        pd.DataFrame(rows).to_csv(Path(tmp) / "runs.csv", index=False)
        client.log_artifact(pid, str(Path(tmp) / "runs.csv"), "study")
    client.set_terminated(pid)
    yield {"root": root, "parent": pid, "ids": ids, "client": client}
    mp.undo()


def _cli(*argv):
    return main([*argv, "--params", PARAMS, *SET])


def test_explain_command_writes_and_logs(study, capfd):
    ids = study["ids"]
    assert _cli("explain", "--dataset", "skin", "--image-ids", f"{ids[4]}") == 0
    out = study["root"] / "reports" / "skin" / "explain"
    assert (out / "comparison.png").stat().st_size > 0 and (out / "ensemble.png").stat().st_size > 0
    table = pd.read_parquet(out / "embedding.parquet")
    assert len(table) == 5 * 2 * 2 and set(table["n_neighbors"]) == {3}
    selection = pd.read_csv(out / "selection.csv")
    assert ids[4] in set(selection["image_id"])
    logged = {Path(f.path).name for f in study["client"].list_artifacts(study["parent"], "explain")}
    assert {"gradcam_lmi.npz", "gradcam_tii.npz", "embedding.parquet", "umap.html", "comparison.png"} <= logged
    printed = capfd.readouterr()  # fd-level: TensorFlow's C++ log lines too
    assert "Grad-CAM layer 'dec1'" in printed.out and "choices.parquet not found" in printed.out
    # one medseglab bar per stage, not MLflow's per artifact; no GPU-probe noise (issue #8)
    assert "Downloading artifacts" not in printed.err and "cuInit" not in printed.err
    assert "retracing" not in printed.err


def test_explain_command_user_errors(study, capsys):
    assert _cli("explain", "--dataset", "skin", "--image-ids", "nope", "--no-log") == 2
    assert "nope" in capsys.readouterr().err
    assert _cli("explain", "--dataset", "skin", "--split", "3", "--no-log") == 2
    assert "splits with both: [0]" in capsys.readouterr().err
