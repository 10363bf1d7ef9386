"""dvc.yaml on a git clone of the committed project: stages, incremental re-runs, param precision."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("prepare", "split", "study", "report", "explain")

def _tiny(params: dict) -> dict:
    """Small synthetic datasets at 32x32 (30 phantoms give every dataset >= 5 groups)."""
    for entry in params["datasets"].values():
        entry["n_images"] = 30
    params["profiles"][params["profile"]]["image_size"] = [32, 32]
    return params


def _edit_params(clone: Path, change) -> None:
    file = clone / "params.yaml"
    file.write_text(yaml.safe_dump(change(yaml.safe_load(file.read_text())), sort_keys=False))


@pytest.fixture(scope="module")
def clone(tmp_path_factory, required_tool):
    target = tmp_path_factory.mktemp("dvc") / "project"
    subprocess.run([required_tool("git"), "clone", "--quiet", str(ROOT), str(target)], check=True)
    if not (target / "dvc.yaml").is_file():
        pytest.fail("dvc.yaml is not committed")
    _edit_params(target, _tiny)
    return target


def _dvc(clone: Path, *args: str, check: bool = True) -> str:
    env = dict(os.environ)
    # The stage commands run `medseglab` from this venv, importing the clone's code, not ours.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(clone / "src")
    env["MEDSEGLAB_NO_PROGRESS"] = "1"
    result = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=clone, env=env, capture_output=True, text=True, timeout=300
    )
    output = result.stdout + result.stderr
    if check and result.returncode != 0:
        pytest.fail(f"dvc {' '.join(args)} failed ({result.returncode}):\n{output}")
    return output


def test_every_dataset_gets_every_stage(clone):
    listed = _dvc(clone, "stage", "list")
    datasets = yaml.safe_load((clone / "params.yaml").read_text())["datasets"]
    for name in datasets:
        for stage in STAGES:
            assert f"{stage}@{name}" in listed


def test_source_deps_match_params():
    """pipelines/sources.yaml names a dep for every dataset, and real data's dep is its source."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())["datasets"]
    sources = yaml.safe_load((ROOT / "pipelines" / "sources.yaml").read_text())["datasets"]
    assert sorted(sources) == sorted(params), "add each params.yaml dataset to pipelines/sources.yaml"
    for name, entry in params.items():
        dep = sources[name]["source_dep"]
        if entry.get("source"):
            assert Path(dep) == Path(entry["source"]), f"pipelines/sources.yaml: {name} must depend on its source"
        else:
            assert (ROOT / dep).is_file(), f"{dep}: placeholder dep of synthetic {name} is missing"
    assert "source_dep" not in str(params), "source_dep belongs in pipelines/sources.yaml only"


def test_every_dataset_declares_the_params_its_stages_track():
    """DVC stops on a tracked key missing from params.yaml: a new dataset must declare them all."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name in params["datasets"]:
        for stage in stages.values():
            for key in stage["do"].get("params", []):
                path = key.replace("${key}", name).replace("${profile}", params["profile"]).split(".")
                node = params
                for part in path:
                    assert isinstance(node, dict) and part in node, f"params.yaml lacks {'.'.join(path)}"
                    node = node[part]


def test_prepare_and_split_reproduce_incrementally(clone):
    first = _dvc(clone, "repro", "split@skin")
    assert "Running stage 'prepare@skin'" in first and "Running stage 'split@skin'" in first
    for path in ("data/prepared/skin/manifest.parquet", "data/prepared/skin/dataset.json",
                 "data/splits/skin/splits.parquet", "data/splits/skin/split_report.csv",
                 "data/splits/skin/split_overlap.csv", "data/splits/skin/splits.json",
                 "data/splits/skin/split_report.png"):
        assert (clone / path).is_file(), path
    hash_before = yaml.safe_load((clone / "data/splits/skin/splits.json").read_text())["content_hash"]

    second = _dvc(clone, "repro", "split@skin")
    assert "Running stage" not in second
    assert "up to date" in _dvc(clone, "status", "--with-deps", "split@skin")

    # A param no stage up to split reads changes nothing there.
    _edit_params(clone, lambda p: {**p, "train": {**p["train"], "learning_rate": 0.5}})
    assert "up to date" in _dvc(clone, "status", "--with-deps", "split@skin")

    _edit_params(clone, lambda p: {**p, "split": {**p["split"], "seed": p["split"]["seed"] + 1}})
    status = _dvc(clone, "status", "--with-deps", "split@skin")
    assert "split@skin" in status and "prepare@skin" not in status
    third = _dvc(clone, "repro", "split@skin")
    assert "Running stage 'split@skin'" in third and "Running stage 'prepare@skin'" not in third
    hash_after = yaml.safe_load((clone / "data/splits/skin/splits.json").read_text())["content_hash"]
    assert hash_after != hash_before
    assert "up to date" in _dvc(clone, "status", "--with-deps", "split@skin")


@pytest.mark.slow
def test_full_pipeline_reproduces(clone):
    """Every stage of one dataset, trained for real at toy size (minutes on a CPU)."""
    def toy(params):
        prof = params["profiles"][params["profile"]]
        prof.update({"epochs": 1, "splits": [0], "repeats": [0], "ratios": [80]})
        params["tracking"]["uri"] = "sqlite:///mlflow.db"
        return params

    _edit_params(clone, toy)
    _dvc(clone, "repro", "report@skin", "explain@skin")
    for path in ("results/skin/per_image.parquet", "results/skin/study.json", "reports/skin/metrics.json",
                 "reports/skin/depletion.csv", "reports/skin/tables", "reports/skin/explain"):
        assert (clone / path).exists(), path
    assert "dice" in _dvc(clone, "metrics", "show")
    assert "Running stage" not in _dvc(clone, "repro", "report@skin", "explain@skin")


def test_each_plot_is_declared_once_with_its_x_and_y():
    """Stage-level `plots:` made `dvc plots show` draw the depletion CSVs a second time, against
    the row index; every plot is declared once, at the top level, the data plots with x and y."""
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    assert not [name for name, stage in dvc["stages"].items() if (stage.get("do") or stage).get("plots")]
    declared = [next(iter(p)) if isinstance(p, dict) else p for p in dvc["plots"]]
    assert len(declared) == len(set(declared))
    specs = {next(iter(p)): next(iter(p.values())) for p in dvc["plots"] if isinstance(p, dict)}
    for name in yaml.safe_load((ROOT / "params.yaml").read_text())["datasets"]:
        spec = specs[f"depletion_{name}"]
        assert spec["x"] == "train_pct" and list(spec["y"]) == [f"reports/{name}/depletion_dice.csv"]
        assert f"reports/{name}/plots" in declared
