"""The ensemble, predict and review commands end to end on a small fake study in a temporary
MLflow store (real tracking, data and CLI code; the trainings' outputs are made up)."""

import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from medseglab.cli import main
from medseglab.ensemble.algorithm import algorithm1
from medseglab.stats.combine import combine_repeats

PARAMS = str(Path(__file__).resolve().parents[2] / "params.yaml")
SET = ["--set", "datasets.skin.n_images=8", "--set", "profiles.demo.image_size=[32,32]"]
TEST_IDS = {0: slice(0, 5), 1: slice(3, 8)}  # overlapping test sets, as in the study


def _noisy(gt, rng, flip):
    """A made-up model output: the ground truth with a fraction ``flip`` of its pixels flipped."""
    prob = np.where(gt > 0, 0.9, 0.1).astype(np.float32)
    flips = rng.random(gt.shape) < flip
    return np.where(flips, 1.0 - prob, prob)


@pytest.fixture(scope="module")
def study(tmp_path_factory, tiny):
    """A finished fake study: 2 splits x 2 inits x 2 repeats, tiny models on split 0."""
    import mlflow
    import mlflow.keras
    from mlflow.tracking import MlflowClient

    from medseglab import tracking
    from medseglab.config import load_params, resolve
    from medseglab.data import load_prepared, prepare_dataset, prepared_dir_for
    from medseglab.tracking import conventions as C
    threshold_model = tiny["threshold_model"]

    root = tmp_path_factory.mktemp("project")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", uri)
    mp.chdir(root)
    cfg = resolve(load_params(PARAMS, [s for s in SET if s != "--set"]), "skin")
    prepared = load_prepared(prepare_dataset(cfg, prepared_dir_for(cfg)))
    ids = np.array(prepared.ids)
    masks = prepared.load_masks(ids)

    client = tracking.open_client({"tracking": {"uri": uri}})
    exp = tracking.ensure_experiment(client, "skin", {"tracking": {"artifact_root": str(root / "mlartifacts")}})
    parent = client.create_run(exp, run_name="study-skin", tags={
        C.KIND: "study", C.DATASET: "skin", C.PROFILE: "demo", C.DATA_HASH: prepared.info["content_hash"]})
    pid = parent.info.run_id
    rng = np.random.default_rng(0)
    rows, outputs = [], {}
    for split, part in TEST_IDS.items():
        for init, flip in (("lmi", 0.08), ("tii", 0.04)):
            for repeat in (0, 1):
                key = C.TrainingKey.make("skin", init, split, 80, repeat)
                run = client.create_run(exp, run_name=key.name, tags={**key.tags(), C.KIND: "training", C.PARENT: pid})
                prob = _noisy(masks[part], rng, flip)
                order = rng.permutation(len(prob)) if repeat == 1 else np.arange(len(prob))  # stored in another order
                outputs[(split, init, repeat)] = prob
                with tempfile.TemporaryDirectory() as tmp:
                    np.savez_compressed(Path(tmp) / "probabilities.npz", image_ids=ids[part][order],
                                        prob=np.rint(prob[order] * 255).astype(np.uint8))
                    client.log_artifact(run.info.run_id, str(Path(tmp) / "probabilities.npz"), "evaluation")
                if split == 0:
                    level = (100.5, 140.5)[repeat] if init == "lmi" else (60.5, 120.5)[repeat]
                    with mlflow.start_run(run_id=run.info.run_id):
                        mlflow.keras.log_model(threshold_model(0 if init == "lmi" else 1, level), name="model",
                                               pip_requirements=["keras"])
                client.set_terminated(run.info.run_id)
                rows.append({"dataset": "skin", "init": init, "split": split, "ratio": 80, "repeat": repeat,
                             "key": key.name, "run_id": run.info.run_id, "status": "FINISHED"})
    with tempfile.TemporaryDirectory() as tmp:
        pd.DataFrame(rows).to_csv(Path(tmp) / "runs.csv", index=False)
        client.log_artifact(pid, str(Path(tmp) / "runs.csv"), "study")
    client.set_terminated(pid)
    yield {"root": root, "prepared": prepared.root, "parent": pid, "ids": ids, "masks": masks, "outputs": outputs, "client": MlflowClient(uri)}
    mp.undo()


def _cli(*argv):
    return main([*argv, "--params", PARAMS, *SET])


def test_ensemble_command(study, capfd):
    assert _cli("ensemble", "--dataset", "skin") == 0
    out_dir = study["root"] / "reports" / "skin" / "ensemble"
    choices = pd.read_parquet(out_dir / "choices.parquet")
    assert len(choices) == 10 and sorted(choices["split"].unique()) == [0, 1]
    # the same choices straight from the pure functions (repeats combined by intersection)
    outputs, part = study["outputs"], TEST_IDS[1]
    expected = algorithm1(
        combine_repeats(np.stack([outputs[(1, "lmi", r)] for r in (0, 1)]), "intersection"),
        combine_repeats(np.stack([outputs[(1, "tii", r)] for r in (0, 1)]), "intersection"),
        study["masks"][part], study["ids"][part], threshold=0.9, split=1, ratio=80,
    )
    got = choices[choices["split"] == 1].reset_index(drop=True)
    assert list(got["image_id"]) == list(expected["image_id"])
    assert list(got["chosen"]) == list(expected["chosen"])
    np.testing.assert_allclose(got["dice_tii"], expected["dice_tii"], atol=2 / 255)
    for name in ("counts.csv", "summary.csv", "summary.md", "choices.png"):
        assert (out_dir / name).stat().st_size > 0
    client = study["client"]
    logged = {Path(f.path).name for f in client.list_artifacts(study["parent"], "ensemble")}
    assert {"choices.parquet", "summary.md", "choices.png"} <= logged
    run = client.get_run(study["parent"])
    assert "ensemble.median_dice_chosen" in run.data.metrics
    assert run.data.tags["medseglab.ensemble.threshold"] == "0.9"
    printed = capfd.readouterr()  # fd-level: TensorFlow's C++ log lines too
    assert "median Dice chosen" in printed.out and "oracle" in printed.out
    # 3 images of split 1 lie outside split 0's test set: too few to fit a Dice estimator, said, no files
    assert "no Dice estimator" in printed.out and not (out_dir / "estimator_evaluation.json").exists()
    assert "Downloading artifacts" not in printed.err and "cuInit" not in printed.err  # issue #8
    assert _cli("ensemble", "--dataset", "skin", "--no-log", "--set", "ensemble.threshold=0.1") == 0  # reruns


def test_ensemble_refuses_other_data(study, capsys):
    other = study["root"] / "other"
    (other).mkdir(exist_ok=True)
    src = study["prepared"]
    (other / "manifest.parquet").write_bytes((src / "manifest.parquet").read_bytes())
    info = json.loads((src / "dataset.json").read_text()) | {"content_hash": "0" * 64}
    (other / "dataset.json").write_text(json.dumps(info))
    assert _cli("ensemble", "--dataset", "skin", "--prepared", str(other)) == 2
    assert "is not the data study" in capsys.readouterr().err
    assert _cli("ensemble", "--dataset", "skin", "--ratio", "60") == 2
    assert "no split at ratio 60" in capsys.readouterr().err


def test_predict_then_review(study, capsys, tiny):
    images = study["root"] / "incoming"
    images.mkdir(exist_ok=True)
    gradient_image = tiny["gradient_image"]
    for name in ("p1", "p2"):
        Image.fromarray(gradient_image()).save(images / f"{name}.png")
    assert _cli("predict", "--dataset", "skin", "--images", str(images)) == 0
    printed = capsys.readouterr()
    assert "2 newly queued" in printed.out
    assert "Downloading artifacts" not in printed.err  # the models' downloads show no MLflow bar each
    queue = study["root"] / "review.db"  # beside the tracking store
    assert queue.is_file()
    masks = study["root"] / "predictions" / "skin" / "p1"
    assert sorted(p.name for p in masks.iterdir()) == ["intersection.png", "lmi.png", "tii.png", "union.png"]
    assert _cli("predict", "--dataset", "skin", "--images", str(images)) == 0
    assert "2 already queued, 0 newly queued" in capsys.readouterr().out

    assert _cli("review", "list") == 0
    listing = capsys.readouterr().out
    assert "p1" in listing and "p2" in listing and "pending" in listing
    assert _cli("review", "accept", "p1", "--output", "union", "--reviewer", "dr-a", "--note", "ok") == 0
    assert _cli("review", "accept", "p2", "--retrain", "--reviewer", "dr-b") == 0
    assert "retrain" in capsys.readouterr().out
    assert _cli("review", "accept", "p2", "--output", "tii") == 2
    assert "--force" in capsys.readouterr().err
    assert _cli("review", "accept", "nope", "--output", "tii") == 2
    assert "not in the review queue" in capsys.readouterr().err
    assert _cli("review", "list", "--status", "all") == 0
    listing = capsys.readouterr().out
    assert "accepted" in listing and "dr-a" in listing and "dr-b" in listing

    assert _cli("predict", "--dataset", "skin", "--images", str(images), "--split", "1") == 2
    assert "no loadable `model` artifact" in capsys.readouterr().err  # the fake study logged none for split 1
    assert _cli("predict", "--dataset", "skin", "--images", str(images), "--split", "4") == 2
    assert "no finished LMI and TII trainings for split 4" in capsys.readouterr().err


def test_predict_bad_folder(study, capsys):
    assert _cli("predict", "--dataset", "skin", "--images", str(study["root"] / "nothing-here")) == 2
    assert "no such folder" in capsys.readouterr().err


def test_predict_warns_when_images_are_unlike_the_training_data(study, capsys):
    """Models trained on synthetic phantoms, real-looking images: one warning line; their own prepared images: none."""
    from medseglab.tracking import conventions as C

    client, root = study["client"], study["root"]
    info = json.loads((study["prepared"] / "dataset.json").read_text())
    experiment = client.get_run(study["parent"]).info.experiment_id
    for run in client.search_runs([experiment], f"tags.`{C.PARENT}` = '{study['parent']}'"):
        client.log_param(run.info.run_id, "format", "synthetic")  # as train_one logs the resolved config
        client.log_param(run.info.run_id, "image_size", "[32, 32]")
        client.set_tag(run.info.run_id, C.DATA_HASH, info["content_hash"])
    photos = root / "photos"
    photos.mkdir()
    Image.fromarray(np.full((45, 60, 3), 128, np.uint8)).save(photos / "r1.png")
    out = ["--out", str(root / "pred-warn"), "--queue", str(root / "warn.db")]
    assert _cli("predict", "--dataset", "skin", "--images", str(photos), *out) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1, warnings
    assert "synthetic" in warnings[0] and "60x45" in warnings[0] and str(photos) in warnings[0]
    assert _cli("predict", "--dataset", "skin", "--images", str(study["prepared"] / "images"), *out) == 0
    assert "warning" not in capsys.readouterr().err
