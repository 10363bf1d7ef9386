"""The search space: declared in params.yaml, checked, suggested by Optuna, written back as params keys."""

from __future__ import annotations

import optuna
import pytest

from medseglab.errors import ConfigError
from medseglab.tuning.space import apply, check_space, from_params, params_keys, suggest

from .conftest import tiny_params

SPACE = {
    "train.learning_rate": {"type": "float", "low": 1e-3, "high": 1.0, "log": True},
    "train.optimizer": {"type": "categorical", "choices": ["adadelta", "adam"]},
    "epochs": {"type": "int", "low": 1, "high": 3},
    "image_size": {"type": "categorical", "choices": [[64, 64], [128, 96]]},
    "train.augment.hflip": {"type": "categorical", "choices": [False, True]},
}


def test_params_yaml_space_is_valid_and_names_the_issue_parameters():
    from medseglab.tuning.tune import settings

    space = settings(tiny_params("tune.space=null", "tune.space=" + _yaml_of_repo_space()))["space"]
    assert {"train.learning_rate", "train.optimizer", "train.batch_size", "epochs", "image_size"} <= set(space)
    assert any(key.startswith("train.augment.") for key in space)


def _yaml_of_repo_space() -> str:
    import yaml

    from .conftest import ROOT

    return yaml.safe_dump(yaml.safe_load((ROOT / "params.yaml").read_text())["tune"]["space"], default_flow_style=True,
                          width=10_000).strip()


@pytest.mark.parametrize("space, message", [
    ({}, "tune.space is empty"),
    ({"train.learning_rate": {"type": "float", "low": 1.0, "high": 0.1}}, "low <= high"),
    ({"train.learning_rate": {"type": "float", "low": 0.0, "high": 1.0, "log": True}}, "log scale needs low > 0"),
    ({"train.optimizer": {"type": "categorical", "choices": []}}, "non-empty list"),
    ({"train.optimizer": {"type": "choice", "choices": ["adam"]}}, "type one of"),
    ({"image_size": {"type": "categorical", "choices": [[60, 64]]}}, "multiples of 32"),
    ({"image_size": {"type": "int", "low": 32, "high": 64}}, "image_size is categorical"),
])
def test_bad_space_is_a_config_error_naming_the_key(space, message):
    with pytest.raises(ConfigError, match=message):
        check_space(space)


def test_a_trial_picks_values_of_the_space_and_they_land_in_the_config():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    trial = study.ask()
    values = suggest(trial, check_space(SPACE))
    assert 1e-3 <= values["train.learning_rate"] <= 1.0
    assert values["image_size"] in ([64, 64], [128, 96])
    assert from_params(trial.params, SPACE) == values  # Optuna records image_size as "WxH"
    cfg = apply({"epochs": 40, "image_size": [608, 416], "train": {"optimizer": "adadelta"}}, values)
    assert cfg["train"]["optimizer"] == values["train.optimizer"]
    assert cfg["train"]["augment"] == {"hflip": values["train.augment.hflip"]}
    assert cfg["epochs"] == values["epochs"] and cfg["image_size"] == values["image_size"]


def test_tuned_values_go_where_the_profile_takes_them_from():
    params = tiny_params()
    values = {"epochs": 3, "image_size": [64, 64], "train.batch_size": 4, "train.learning_rate": 0.1}
    assert params_keys(values, params, "skin", "demo") == {
        "profiles.demo.epochs": 3, "profiles.demo.image_size": [64, 64], "profiles.demo.batch_size": 4,
        "train.learning_rate": 0.1}
    # The paper profile leaves them null (the dataset's own values): the tuned file sets those.
    assert params_keys(values, params, "skin", "paper") == {
        "datasets.skin.epochs": 3, "datasets.skin.image_size": [64, 64], "train.batch_size": 4,
        "train.learning_rate": 0.1}


def test_the_tuned_keys_give_back_the_trial_config_when_applied_with_set():
    from medseglab.config import apply_overrides
    from medseglab.study.inputs import study_config

    params = tiny_params()
    values = {"epochs": 3, "image_size": [64, 64], "train.batch_size": 4, "train.optimizer": "adam",
              "train.augment.vflip": True}
    for profile in ("demo", "paper"):
        keys = params_keys(values, params, "skin", profile)
        tuned = study_config(apply_overrides(params, [f"{k}={v}" for k, v in keys.items()]), "skin", profile)
        assert tuned == apply(study_config(params, "skin", profile), values), profile
