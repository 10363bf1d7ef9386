"""The search space of `medseglab tune` (`tune.space` in params.yaml): what a trial may change.

Each key is a path in a dataset's effective config (`config.resolve`): ``train.learning_rate``,
``train.optimizer``, ``train.batch_size``, ``epochs``, ``image_size``, ``train.augment.hflip`` ...
Each value declares an Optuna distribution::

    {type: float, low: 1.0e-4, high: 1.0, log: true}
    {type: int, low: 1, high: 5}
    {type: categorical, choices: [adadelta, adam]}

``image_size`` is categorical only; its choices are [W, H] pairs (Optuna's categorical values are
plain scalars, so a trial records them as ``"WxH"``).
"""

from __future__ import annotations

import copy

from medseglab.errors import ConfigError

TYPES = ("float", "int", "categorical")
# Effective-config keys the profile may set (config.PROFILE_KEYS) and where the tuned file puts them.
_PROFILE_OWNED = {"epochs": "epochs", "image_size": "image_size", "train.batch_size": "batch_size"}


def check_space(space) -> dict[str, dict]:
    """`tune.space` checked; a ConfigError names the key and the fix."""
    if not isinstance(space, dict) or not space:
        raise ConfigError("tune.space is empty: declare at least one parameter, e.g. "
                          "train.learning_rate: {type: float, low: 1.0e-4, high: 1.0, log: true}")
    out = {}
    for key, spec in space.items():
        where = f"tune.space.{key}"
        if not isinstance(spec, dict) or spec.get("type") not in TYPES:
            raise ConfigError(f"{where}={spec!r}: give a mapping with type one of {list(TYPES)}")
        kind = spec["type"]
        if kind == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, list) or not choices:
                raise ConfigError(f"{where}: give a non-empty list of choices")
            if key == "image_size":
                for size in choices:
                    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 and v % 32 == 0
                                                                            for v in size)):
                        raise ConfigError(f"{where}: choice {size!r} is not [W, H] with multiples of 32 (VGG-UNet)")
            elif any(isinstance(c, (list, dict)) for c in choices):
                raise ConfigError(f"{where}: choices must be plain values (numbers, strings, true/false)")
        else:
            if key == "image_size":
                raise ConfigError(f"{where}: image_size is categorical (a list of [W, H] choices)")
            low, high = spec.get("low"), spec.get("high")
            number = int if kind == "int" else (int, float)
            if not (isinstance(low, number) and isinstance(high, number)) or isinstance(low, bool) or low > high:
                raise ConfigError(f"{where}: give numbers low <= high (got low={low!r}, high={high!r})")
            if spec.get("log") and low <= 0:
                raise ConfigError(f"{where}: a log scale needs low > 0 (got {low})")
        out[str(key)] = dict(spec)
    return out


def suggest(trial, space: dict[str, dict]) -> dict:
    """One trial's values, keyed like the space (``image_size`` as [W, H])."""
    values = {}
    for key, spec in space.items():
        if spec["type"] == "float":
            values[key] = trial.suggest_float(key, spec["low"], spec["high"], log=bool(spec.get("log")))
        elif spec["type"] == "int":
            values[key] = trial.suggest_int(key, spec["low"], spec["high"], log=bool(spec.get("log")))
        elif key == "image_size":
            picked = trial.suggest_categorical(key, [size_text(c) for c in spec["choices"]])
            values[key] = parse_size(picked)
        else:
            values[key] = trial.suggest_categorical(key, spec["choices"])
    return values


def from_params(params: dict, space: dict[str, dict]) -> dict:
    """Optuna's recorded params of a trial back to config values (``"64x64"`` -> [64, 64])."""
    return {key: parse_size(value) if key == "image_size" else value for key, value in params.items() if key in space}


def size_text(size) -> str:
    return f"{int(size[0])}x{int(size[1])}"


def parse_size(text: str) -> list[int]:
    width, height = str(text).split("x")
    return [int(width), int(height)]


def apply(cfg: dict, values: dict) -> dict:
    """A copy of the effective config with the trial's values set at their paths."""
    cfg = copy.deepcopy(cfg)
    for key, value in values.items():
        node = cfg
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"tune.space.{key}: {part!r} is a value in the config, not a section")
            node = child
        node[parts[-1]] = value
    if "epochs" in values:
        cfg["epochs"] = int(cfg["epochs"])
    return cfg


def params_keys(values: dict, params: dict, dataset: str, profile: str) -> dict:
    """The tuned values as params.yaml keys (what `--set` takes): a key the profile sets (image_size,
    epochs, batch_size with a non-null value in `profiles.<profile>`) goes to the profile; other
    ``epochs`` / ``image_size`` to `datasets.<dataset>`; ``train.*`` stays where it is."""
    prof = (params.get("profiles") or {}).get(profile) or {}
    out = {}
    for key, value in values.items():
        owned = _PROFILE_OWNED.get(key)
        if owned and prof.get(owned) is not None:
            out[f"profiles.{profile}.{owned}"] = value
        elif key in ("epochs", "image_size"):
            out[f"datasets.{dataset}.{key}"] = value
        else:
            out[key] = value
    return out
