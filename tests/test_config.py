"""params.yaml loading, overrides and the effective per-dataset config."""

from pathlib import Path

import pytest
import yaml

from medseglab.config import ConfigError, apply_overrides, config_hash, flatten, load_params, resolve

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def params():
    return load_params(ROOT / "params.yaml")


def test_overrides_parse_yaml_values_and_create_sections(params):
    out = apply_overrides(params, ["train.batch_size=4", "datasets.skin.image_size=[32, 32]", "new.key=null"])
    assert out["train"]["batch_size"] == 4
    assert out["datasets"]["skin"]["image_size"] == [32, 32]
    assert out["new"] == {"key": None}
    assert params["train"]["batch_size"] == 2, "overrides must not mutate the input"


@pytest.mark.parametrize("bad", ["train.batch_size", "train.batch_size.x=1"])
def test_bad_override_says_how(params, bad):
    with pytest.raises(ConfigError, match="key=value|is a value"):
        apply_overrides(params, [bad])


def test_profile_values_win_and_null_keeps_dataset_value(params):
    demo = resolve(params, "kidney", "demo")
    paper = resolve(params, "kidney", "paper")
    assert demo["image_size"] == params["profiles"]["demo"]["image_size"]
    assert paper["image_size"] == [512, 512]
    assert paper["epochs"] == 20 and paper["train"]["batch_size"] == 2
    assert len(paper["splits"]) * len(paper["repeats"]) * len(paper["inits"]) == 50


def test_unknown_dataset_and_profile_name_the_choices(params):
    with pytest.raises(ConfigError, match="skin"):
        resolve(params, "liver")
    with pytest.raises(ConfigError, match="demo"):
        resolve(params, "skin", "huge")


def test_missing_and_invalid_params_file(tmp_path):
    with pytest.raises(ConfigError, match="no such params file"):
        load_params(tmp_path / "params.yaml")
    bad = tmp_path / "params.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(bad)


def test_flatten_and_hash_are_stable():
    tree = {"b": {"y": [1, 2], "x": 1}, "a": 0}
    assert flatten(tree) == {"b.y": [1, 2], "b.x": 1, "a": 0}
    assert config_hash(tree) == config_hash(yaml.safe_load(yaml.safe_dump(tree, sort_keys=True)))
    assert config_hash(tree) != config_hash({**tree, "a": 1})
