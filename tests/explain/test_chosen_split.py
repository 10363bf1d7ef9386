"""One chosen split for every stage, provenance in the real outputs, and studies without an 80% ratio.

Fake finished studies (no training): synthetic prepared skin data at 32x32, per split and init a
probability map made from the ground truth with a known share of flipped pixels (so which split
Table S1 chooses is known), tiny U-Nets logged as the models explain loads, TII runs tagged with the
BSDS500 fallback weights. The real CLI runs `report` (the DVC stage), `stats`, `ensemble`, `explain`.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medseglab.cli import main

from .conftest import tiny_unet

PARAMS = str(Path(__file__).resolve().parents[2] / "params.yaml")
SETS = ["datasets.skin.n_images=10", "profiles.demo.image_size=[32,32]", "explain.n_per_kind=1",
        "datasets.skin.umap.n_neighbors=3", "stats.bootstrap=0"]
TEST = slice(0, 6)
FLIPS = {0: 0.30, 1: 0.03}  # share of flipped pixels per split: split 1 is much better, LMI ~ TII on both


def _cli(*argv):
    return main([*argv, "--params", PARAMS, *[f"--set={s}" for s in SETS]])


def fake_study(root: Path, *, ratio: int, splits: dict[int, float], models_for: tuple[int, ...]) -> dict:
    """A finished study in a fresh store under ``root`` (the cwd while the test runs)."""
    import mlflow
    import mlflow.keras

    from medseglab import tracking
    from medseglab.config import load_params, resolve
    from medseglab.data import load_prepared, prepare_dataset, prepared_dir_for
    from medseglab.evaluation.metrics import per_image_metrics
    from medseglab.evaluation.probabilities import save_probabilities
    from medseglab.io import temp_dir, write_json
    from medseglab.tracking import conventions as C

    uri = f"sqlite:///{root / 'mlflow.db'}"
    cfg = resolve(load_params(PARAMS, SETS), "skin")
    prepared = load_prepared(prepare_dataset(cfg, prepared_dir_for(cfg)))
    ids = np.array(prepared.ids)[TEST]
    gt = prepared.load_masks(ids)
    images = prepared.load_images(ids).astype(np.float32)
    client = tracking.open_client(uri=uri)
    exp = tracking.ensure_experiment(client, "skin", {"tracking": {"artifact_root": str(root / "mlartifacts")}})
    parent = client.create_run(exp, run_name="study-skin", tags={
        C.KIND: "study", C.DATASET: "skin", C.PROFILE: "demo", C.DATA_HASH: prepared.info["content_hash"]})
    pid = parent.info.run_id
    rows, tables = [], []
    for split, flip in splits.items():
        for k, init in enumerate(("lmi", "tii")):
            rng = np.random.default_rng(10 * split + k)
            flipped = np.where(rng.random(gt.shape) < flip, 1 - gt, gt)
            prob = np.clip(flipped * 0.9 + 0.05, 0, 1).astype(np.float32)
            key = C.TrainingKey.make("skin", init, split, ratio, 0)
            tags = {**key.tags(), C.KIND: "training", C.PARENT: pid}
            if init == "tii":
                tags[C.WEIGHTS_SOURCE] = "hed-bsds500"
            run_id = client.create_run(exp, run_name=key.name, tags=tags).info.run_id
            table = per_image_metrics(prob, gt)
            table.insert(0, "image_id", ids)
            table = table.assign(group_id=ids, clinical_label="unknown", dataset="skin", init=init, split=split,
                                 ratio=ratio, repeat=0, run_id=run_id)
            tables.append(table)
            with temp_dir() as tmp:
                save_probabilities(tmp / "probabilities.npz", ids, prob)
                client.log_artifact(run_id, str(tmp / "probabilities.npz"), "evaluation")
            if split in models_for:
                with mlflow.start_run(run_id=run_id):
                    mlflow.keras.log_model(tiny_unet(32, seed=k, name=f"m{split}{k}"), name="model",
                                           pip_requirements=["keras"])
            client.set_terminated(run_id)
            rows.append({"dataset": "skin", "init": init, "split": split, "ratio": ratio, "repeat": 0,
                         "key": key.name, "run_id": run_id, "status": "trained"})
    table = pd.concat(tables, ignore_index=True)
    with temp_dir() as tmp:
        table.to_parquet(tmp / "per_image.parquet")
        pd.DataFrame(rows).to_csv(tmp / "runs.csv", index=False)
        client.log_artifacts(pid, str(tmp), "study")
    client.set_terminated(pid)
    (root / "results" / "skin").mkdir(parents=True)
    table.to_parquet(root / "results" / "skin" / "per_image.parquet")
    write_json(root / "results" / "skin" / "study.json",
               {"parent_run_id": pid, "tracking_uri": uri, "profile": "demo", "dataset": "skin"})
    del images
    return {"root": root, "parent": pid, "client": client, "uri": uri}


def _enter(tmp_path_factory, mlflow_db_template, name):
    import shutil

    root = tmp_path_factory.mktemp(name)
    shutil.copy(mlflow_db_template, root / "mlflow.db")
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    mp.setenv("MEDSEGLAB_NO_PROGRESS", "1")
    return root, mp


@pytest.fixture(scope="module")
def two_splits(tmp_path_factory, mlflow_db_template):
    root, mp = _enter(tmp_path_factory, mlflow_db_template, "two-splits")
    yield fake_study(root, ratio=80, splits=FLIPS, models_for=(1,))
    mp.undo()


@pytest.fixture(scope="module")
def ratio40(tmp_path_factory, mlflow_db_template):
    root, mp = _enter(tmp_path_factory, mlflow_db_template, "ratio-40")
    yield fake_study(root, ratio=40, splits={0: 0.05}, models_for=(0,))
    mp.undo()


@pytest.fixture
def inside(monkeypatch):
    """Back in a study's folder and store (the module fixture's patches are undone between modules)."""
    def enter(study):
        monkeypatch.chdir(study["root"])
        monkeypatch.setenv("MLFLOW_TRACKING_URI", study["uri"])
        monkeypatch.setenv("MEDSEGLAB_NO_PROGRESS", "1")
        return study
    return enter


def test_report_records_the_chosen_split_and_ensemble_and_explain_use_it(two_splits, inside, capsys):
    """Through DVC (report -> ensemble -> explain) every stage uses the split Table S1 chose (1), not split 0."""
    from medseglab.config import load_params
    from medseglab.stats.selection import chosen_split, recorded_selection

    study = inside(two_splits)
    client, pid = study["client"], study["parent"]
    params = load_params(PARAMS, SETS)

    # nothing recorded yet: ensemble computes the choice the same way instead of defaulting to split 0
    assert recorded_selection(client.get_run(pid)) is None
    computed = chosen_split(client.get_run(pid), params)
    assert (computed.split, computed.ratio, computed.recorded) == (1, 80, False)
    assert _cli("ensemble", "--dataset", "skin", "--no-log") == 0
    assert "skin: split 1 chosen (Table S1 computed now" in capsys.readouterr().out

    # the DVC report stage logs on the study's parent run like `medseglab stats`
    assert _cli("report", "--dataset", "skin") == 0
    out = capsys.readouterr().out
    assert f"skin: split 1 chosen (Table S1, recorded on study run {pid} as stats/selection.json)" in out
    run = client.get_run(pid)
    assert run.data.metrics["stats.chosen_split"] == 1 and run.data.metrics["stats.chosen_ratio"] == 80
    assert "table1.dice.median.tii" in run.data.metrics
    logged = {a.path for a in client.list_artifacts(pid, "stats")}
    assert {"stats/selection.json", "stats/metrics.json", "stats/tables"} <= logged
    record = json.loads((study["root"] / "reports" / "skin" / "selection.json").read_text())
    assert record["split"] == 1 and record["stage"] == "report" and record["study_run_id"] == pid
    assert recorded_selection(run).recorded

    assert _cli("ensemble", "--dataset", "skin") == 0
    out = capsys.readouterr().out
    assert "skin: split 1 chosen (Table S1, recorded by `medseglab report`" in out
    assert "split 1: median Dice chosen" in out
    run = client.get_run(pid)
    assert run.data.tags["medseglab.ensemble.split"] == "1" and run.data.tags["medseglab.ensemble.ratio"] == "80"
    choices = pd.read_parquet(study["root"] / "reports" / "skin" / "ensemble" / "choices.parquet")
    assert set(choices["split"]) == {0, 1}, "the files still cover every split"

    assert _cli("explain", "--dataset", "skin", "--no-log") == 0
    out = capsys.readouterr().out
    assert "skin: split 1 chosen (Table S1, recorded by `medseglab report`" in out
    explained = json.loads((study["root"] / "reports" / "skin" / "explain" / "explain.json").read_text())
    assert (explained["split"], explained["ratio"]) == (1, 80)


def test_stats_and_report_tables_say_synthetic_and_name_the_tii_weights(two_splits, inside, capsys):
    study = inside(two_splits)
    tables = study["root"] / "reports" / "skin" / "tables"
    for argv in (["report", "--dataset", "skin", "--no-mlflow"], ["stats", "--dataset", "skin", "--no-mlflow"]):
        assert _cli(*argv, "--no-plots") == 0
        table1 = (tables / "table1.md").read_text()
        assert "SYNTHETIC demo data" in table1, argv
        assert "BSDS500 VGG16 fallback" in table1 and "hed-bsds500" in table1, argv
        assert "SYNTHETIC demo data" in (tables / "table2.md").read_text()
    metrics = json.loads((study["root"] / "reports" / "skin" / "metrics.json").read_text())
    assert metrics["synthetic"] == 1
    summary = (study["root"] / "reports" / "skin" / "ensemble" / "summary.md")
    if summary.is_file():  # written by the other test of this module
        assert "SYNTHETIC demo data" in summary.read_text()


def test_a_study_without_80_percent_uses_its_largest_ratio(ratio40, inside, capsys):
    study = inside(ratio40)
    client, pid = study["client"], study["parent"]
    assert _cli("ensemble", "--dataset", "skin") == 0
    out = capsys.readouterr().out
    assert "ratio 40 (the study's largest ratio; it has ratios [40])" in out and "ratio 40 (40:60 sets)" in out
    assert client.get_run(pid).data.tags["medseglab.ensemble.ratio"] == "40"

    assert _cli("explain", "--dataset", "skin", "--no-log") == 0
    out = capsys.readouterr().out
    assert "split 0 (40:60)" in out
    explained = json.loads((study["root"] / "reports" / "skin" / "explain" / "explain.json").read_text())
    assert (explained["split"], explained["ratio"]) == (0, 40)

    assert _cli("ensemble", "--dataset", "skin", "--ratio", "40", "--no-log") == 0
    capsys.readouterr()
    assert _cli("ensemble", "--dataset", "skin", "--ratio", "80", "--no-log") == 2
    assert "no split at ratio 80" in capsys.readouterr().err


def test_logged_artifacts_have_plain_permissions(two_splits, inside):
    """Staging folders are medseglab.io.temp_dir, so what MLflow copies into the store is not 0700/0600."""
    from medseglab.io import umask

    study = inside(two_splits)
    mask = umask()
    store = study["root"] / "mlartifacts"
    wrong = [f"{p.relative_to(store)} {stat.filemode(p.stat().st_mode)}" for p in store.rglob("*")
             if stat.S_IMODE(p.stat().st_mode) != ((0o777 if p.is_dir() else 0o666) & ~mask)]
    assert not wrong, wrong
