"""A study: parent run + one child per training, the study table, relaunch semantics, `mlflow run` launchers.

One module-wide scenario (trainings cost seconds): a study whose second training is killed, then
relaunched (reuses the parent, skips the first training, resumes the second), then relaunched
again under `mlflow run`-style outer runs.
"""

from __future__ import annotations

import json

import keras
import pandas as pd
import pytest

from medseglab.tracking import conventions as C

from .conftest import new_store, tiny_params


class Kill(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise RuntimeError("simulated kill")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory, mlflow_db_template):
    from medseglab.study.launcher import Launcher
    from medseglab.study.study import run_study
    from medseglab.tracking.runs import open_client

    params = tiny_params()
    out = {"params": params}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDSEGLAB_NO_PROGRESS", "1")
        mp.setenv("MEDSEGLAB_OFFLINE", "1")
        out["root"] = new_store(tmp_path_factory.mktemp("study"), mlflow_db_template, mp)
        with pytest.raises(RuntimeError, match="simulated kill"):
            run_study(params, "skin", callbacks_for=lambda key: [Kill()] if key.init == "lmi" else [])
        client = open_client(params)
        out["failed_parent"] = client.search_runs([client.get_experiment_by_name("medseglab/skin").experiment_id],
                                                  filter_string=C.tag_filter({C.KIND: "study"}))[0]
        out["second"] = run_study(params, "skin")
        out["third"] = run_study(params, "skin")

        # `mlflow run .` puts its outer run in the Default experiment: the study keeps its own parent.
        foreign = client.create_run("0", run_name="outer").info.run_id
        out["foreign"] = foreign
        out["fourth"] = run_study(params, "skin", launcher=Launcher(foreign, "0"))
        # `mlflow run . --experiment-name medseglab/skin`: the outer run becomes the parent.
        exp_id = out["second"].experiment_id
        inner = client.create_run(exp_id, run_name="outer").info.run_id
        out["inner"] = inner
        out["fifth"] = run_study(params, "skin", launcher=Launcher(inner, exp_id))
        out["client"] = client
        out["exp_id"] = exp_id
        out["all_runs"] = client.search_runs([exp_id], max_results=1000)
    return out


@pytest.fixture
def in_store(scenario, monkeypatch):
    """Back in the scenario's project folder and MLflow store (the module fixture's patches are gone)."""
    monkeypatch.chdir(scenario["root"])
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{scenario['root'] / 'mlflow.db'}")
    return scenario


def test_killed_study_leaves_a_failed_parent_that_the_relaunch_reuses(scenario):
    failed = scenario["failed_parent"]
    assert failed.info.status == "FAILED"
    assert scenario["second"].parent_run_id == failed.info.run_id
    assert scenario["second"].runs.set_index("init")["status"].to_dict() == {"tii": "skipped", "lmi": "resumed"}
    assert scenario["third"].parent_run_id == failed.info.run_id
    assert set(scenario["third"].runs["status"]) == {"skipped"}


def test_parent_and_children_runs(scenario):
    client = scenario["client"]
    result = scenario["second"]
    parent = client.get_run(result.parent_run_id)
    tags = parent.data.tags
    assert parent.info.status == "FINISHED"
    assert tags[C.KIND] == "study" and tags[C.DATASET] == "skin" and tags[C.PROFILE] == "demo"
    assert parent.info.run_name == f"study-skin-demo-{tags[C.CONFIG_HASH]}"
    children = [r for r in scenario["all_runs"] if r.data.tags.get(C.KIND) == "training"]
    assert sorted(r.info.run_name for r in children) == ["skin-lmi-s0-r80-rep0", "skin-tii-s0-r80-rep0"]
    assert all(r.data.tags[C.PARENT] == result.parent_run_id for r in children)
    assert all(r.info.status == "FINISHED" for r in children)
    assert set(result.runs["run_id"]) == {r.info.run_id for r in children}
    for init in ("tii", "lmi"):
        assert 0 <= parent.data.metrics[f"dice_median_{init}"] <= 1
    assert parent.data.params["epochs"] == "1" and parent.data.params["inits"] == '["tii", "lmi"]'


def test_study_table_and_results_files(in_store):
    scenario = in_store
    from medseglab.tracking.runs import find_study, study_children, study_table

    result = scenario["third"]
    table = result.table
    assert set(table["init"]) == {"tii", "lmi"} and table["run_id"].nunique() == 2
    assert table.groupby("init")["image_id"].apply(tuple).nunique() == 1  # same test images for both inits
    stored = study_table(result.parent_run_id)
    pd.testing.assert_frame_equal(stored, table)
    children = study_children(result.parent_run_id)
    assert sorted(children["key"]) == ["skin-lmi-s0-r80-rep0", "skin-tii-s0-r80-rep0"]
    root = scenario["root"]
    pd.testing.assert_frame_equal(pd.read_parquet(root / "results" / "skin" / "per_image.parquet"),
                                  scenario["fifth"].table)
    info = json.loads((root / "results" / "skin" / "study.json").read_text())
    assert info["parent_run_id"] == scenario["fifth"].parent_run_id
    assert info["experiment_id"] == scenario["exp_id"] and info["profile"] == "demo"
    assert info["config_hash"] == C.study_config_hash(_cfg(scenario))
    assert info["tracking_uri"].startswith("sqlite:///")
    assert find_study("skin").info.run_id in {result.parent_run_id, scenario["inner"]}
    median = table[table["init"] == "tii"]["dice"].median()
    assert result.summary["dice_median_tii"] == pytest.approx(median)


def _cfg(scenario):
    from medseglab.study.inputs import study_config

    return study_config(scenario["params"], "skin")


def test_outer_run_in_another_experiment_is_linked_not_used(scenario):
    client = scenario["client"]
    fourth = scenario["fourth"]
    assert fourth.parent_run_id == scenario["second"].parent_run_id
    outer = client.get_run(scenario["foreign"])
    assert outer.data.tags[C.STUDY_RUN] == fourth.parent_run_id
    assert outer.data.tags[C.KIND] == "launcher"
    assert "dice_median_tii" in outer.data.metrics
    assert client.get_run(fourth.parent_run_id).data.tags[C.LAUNCHER] == scenario["foreign"]


def test_outer_run_in_the_experiment_becomes_the_parent(scenario):
    client = scenario["client"]
    fifth = scenario["fifth"]
    assert fifth.parent_run_id == scenario["inner"]
    parent = client.get_run(scenario["inner"])
    assert parent.data.tags[C.KIND] == "study" and parent.info.run_name.startswith("study-skin-demo-")
    assert set(fifth.runs["status"]) == {"skipped"}
    assert pd.read_csv(
        __import__("mlflow").artifacts.download_artifacts(run_id=fifth.parent_run_id, artifact_path="study/runs.csv",
                                                          tracking_uri=f"sqlite:///{scenario['root'] / 'mlflow.db'}")
    )["run_id"].tolist() == fifth.runs["run_id"].tolist()


def test_grid_order_and_config_errors():
    from medseglab.config import ConfigError
    from medseglab.study.inputs import grid, study_config

    cfg = study_config(tiny_params("profiles.demo.splits=[0,1]", "profiles.demo.ratios=[60,80]"), "skin")
    names = [k.name for k in grid(cfg)]
    assert names[:2] == ["skin-tii-s0-r80-rep0", "skin-lmi-s0-r80-rep0"] and len(names) == 8
    assert names[-1] == "skin-lmi-s1-r60-rep0"
    with pytest.raises(ConfigError, match="pass --format too"):
        study_config(tiny_params(), "skin", source="somewhere")
    with pytest.raises(ConfigError, match="inits is empty"):
        study_config(tiny_params("profiles.demo.inits=[]"), "skin")
    custom = study_config(tiny_params(), "skin", source="../x", format="isic2018", profile="")
    assert custom["format"] == "isic2018" and custom["source"] == "../x" and custom["profile"] == "demo"


def test_cli_registers_train_and_study():
    from medseglab.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["train", "--dataset", "skin", "--init", "tii", "--split", "1", "--ratio", "60",
                              "--repeat", "2", "--source", "", "--format", ""])
    assert (args.init, args.split, args.ratio, args.repeat) == ("tii", 1, 60, 2)
    assert args.func.__name__ == "run_train"
    args = parser.parse_args(["study", "--dataset", "skin", "--profile", "demo"])
    assert args.func.__name__ == "run_study_cli"


def test_demo_depletion_grid():
    """profiles.<p>.depletion: depleted ratios only for its splits/repeats (both inits); 80% keeps the full grid."""
    from medseglab.config import ConfigError
    from medseglab.study.inputs import grid, study_config

    depletion = "profiles.demo.depletion={ratios: [20, 10], splits: [0], repeats: [0]}"
    cfg = study_config(tiny_params("profiles.demo.splits=[0,1]", "profiles.demo.repeats=[0,1]", depletion), "skin")
    names = [k.name for k in grid(cfg)]
    assert len(names) == 2 * 2 * 2 + 2 * 2
    assert names[-4:] == ["skin-tii-s0-r20-rep0", "skin-lmi-s0-r20-rep0", "skin-tii-s0-r10-rep0", "skin-lmi-s0-r10-rep0"]
    assert {n for n in names if "-r80-" in n} >= {"skin-lmi-s1-r80-rep1", "skin-tii-s0-r80-rep1"}
    # the grid is not part of a training's identity: the 80% trainings are the same with or without depletion
    plain = study_config(tiny_params("profiles.demo.splits=[0,1]", "profiles.demo.repeats=[0,1]"), "skin")
    assert C.training_config_hash(cfg) == C.training_config_hash(plain)
    assert C.study_config_hash(cfg) != C.study_config_hash(plain)
    # splits/repeats default to the first of the profile's
    cfg = study_config(tiny_params("profiles.demo.splits=[1,0]", "profiles.demo.depletion={ratios: [40]}"), "skin")
    assert [k.name for k in grid(cfg)][-2:] == ["skin-tii-s1-r40-rep0", "skin-lmi-s1-r40-rep0"]
    for bad, match in (("[40]", "give {ratios"), ("{ratios: [40], seeds: [0]}", "unknown keys"),
                       ("{ratios: [40], splits: []}", "splits is empty")):
        with pytest.raises(ConfigError, match=match):
            study_config(tiny_params(f"profiles.demo.depletion={bad}"), "skin")


def test_the_shipped_profiles_demo_depletes_and_paper_keeps_its_full_grid():
    from medseglab.config import load_params
    from medseglab.study.inputs import grid, study_config

    from .conftest import PARAMS

    params = load_params(PARAMS)
    demo = [k for k in grid(study_config(params, "skin", "demo"))]
    assert sorted({k.ratio for k in demo}) == [10, 20, 80]
    assert {(k.split, k.repeat) for k in demo if k.ratio != 80} == {(0, 0)}
    paper = grid(study_config(params, "skin", "paper"))
    assert len(paper) == 5 * 5 * 5 * 2


def test_artifacts_under_the_store_have_plain_permissions(in_store):
    """The study's and trainings' staging folders are medseglab.io.temp_dir, not tempfile's 0700: what
    MLflow copies into mlartifacts/ ends with the umask's modes (e.g. 0755 folders, 0644 files)."""
    import stat

    from medseglab.io import umask

    mask = umask()
    store = in_store["root"] / "mlartifacts"
    paths = list(store.rglob("*"))
    assert any(p.name == "per_image.parquet" and p.parent.name == "study" for p in paths)
    assert any(p.name == "params.yaml" and p.parent.name == "config" for p in paths)
    wrong = [f"{p.relative_to(store)} {stat.filemode(p.stat().st_mode)}" for p in paths
             if stat.S_IMODE(p.stat().st_mode) != ((0o777 if p.is_dir() else 0o666) & ~mask)]
    assert not wrong, wrong
