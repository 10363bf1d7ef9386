"""Run names, tags, seeds and config hashes of the MLflow conventions."""

from __future__ import annotations

import pytest

from medseglab.config import load_params, resolve
from medseglab.tracking import conventions as C


def test_run_name_and_tags_follow_the_contract():
    key = C.TrainingKey.make("skin", "tii", "0", 80, 0)
    assert key.name == "skin-tii-s0-r80-rep0"
    tags = key.tags()
    assert tags[C.KEY] == key.name
    assert (tags[C.INIT], tags[C.SPLIT], tags[C.RATIO], tags[C.REPEAT]) == ("tii", "0", "80", "0")
    assert C.experiment_name("skin") == "medseglab/skin"


def test_seeds_are_distinct_per_training_but_shared_by_the_inits():
    keys = [C.TrainingKey.make("skin", init, s, r, rep) for init in ("tii", "lmi") for s in range(5)
            for r in (80, 60, 40, 20, 10) for rep in range(5)]
    seeds = {}
    for key in keys:
        seeds.setdefault(key.seed(0), set()).add((key.split, key.ratio, key.repeat))
    assert all(len(v) == 1 for v in seeds.values())
    assert len(seeds) == 5 * 5 * 5
    assert C.TrainingKey.make("skin", "tii", 1, 80, 2).seed(7) == C.TrainingKey.make("skin", "lmi", 1, 80, 2).seed(7)


def test_tracking_uri_prefers_the_environment(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert C.tracking_uri({"tracking": {"uri": "sqlite:///x.db"}}) == "sqlite:///x.db"
    assert C.tracking_uri({}) == "sqlite:///mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///env.db")
    assert C.tracking_uri({"tracking": {"uri": "sqlite:///x.db"}}) == "sqlite:///env.db"


@pytest.fixture
def cfg(project_params):
    return resolve(project_params, "skin", "demo")


@pytest.fixture
def project_params():
    from pathlib import Path

    return load_params(Path(__file__).resolve().parents[2] / "params.yaml")


def test_training_hash_ignores_the_grid_but_not_what_a_training_does(cfg):
    base = C.training_config_hash(cfg)
    bigger_grid = dict(cfg, repeats=[0, 1, 2], profile="other")
    assert C.training_config_hash(bigger_grid) == base
    assert C.study_config_hash(bigger_grid) != C.study_config_hash(cfg)
    assert C.training_config_hash(dict(cfg, epochs=cfg["epochs"] + 1)) != base
    assert C.training_config_hash(dict(cfg, train={**cfg["train"], "learning_rate": 0.5})) != base
    assert C.training_config_hash(dict(cfg, train={**cfg["train"], "in_memory_mb": 1})) == base
    # How often it checkpoints does not change what it computes (issue #10): no retraining when it changes.
    assert C.training_config_hash(dict(cfg, train={**cfg["train"], "checkpoint_interval_s": 0})) == base
    assert C.training_config_hash(dict(cfg, train={**cfg["train"], "checkpoint_interval_s": 3600})) == base


def test_mlflow_params_are_flat_strings_within_the_limit(cfg):
    params = C.mlflow_params(dict(cfg, long=list(range(5000))))
    assert params["image_size"] == "[64, 64]"
    assert params["train.learning_rate"] == "1.0"
    assert params["train.weights_path"] == "null"
    assert all(isinstance(v, str) for v in params.values())
    assert len(params["long"]) <= C.MLFLOW_PARAM_MAX and "sha256" in params["long"]


def test_tag_filter_quotes_values():
    text = C.tag_filter({C.KEY: "a'b", C.KIND: "training"})
    assert text == "tags.`medseglab.key` = 'a\\'b' and tags.`medseglab.kind` = 'training'"
