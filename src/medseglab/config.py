"""params.yaml: loading, `key=value` overrides, flattening, and the effective per-dataset config."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any, Iterable

import yaml

from medseglab.errors import ConfigError, check_name

DEFAULT_PARAMS = Path("params.yaml")
PROFILE_KEYS = ("image_size", "epochs", "max_images", "batch_size", "splits", "repeats", "inits", "ratios", "depletion")




def load_params(path: str | Path = DEFAULT_PARAMS, overrides: Iterable[str] = ()) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such params file; run from the project root or pass --params PATH")
    try:
        params = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc}); fix the file") from exc
    return apply_overrides(params, overrides)


def apply_overrides(params: dict, overrides: Iterable[str]) -> dict:
    """Apply `a.b.c=value` overrides; the value is parsed as YAML (numbers, lists, null)."""
    params = copy.deepcopy(params)
    for item in overrides or ():
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not key=value (e.g. train.batch_size=4)")
        key, raw = item.split("=", 1)
        value = _override_value(key.strip(), raw)
        node = params
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {part!r} is a value, not a section")
            node = child
        node[parts[-1]] = value
    return params


def _override_value(key: str, raw: str):
    """The YAML value of ``--set key=raw``; bad YAML is a one-line ConfigError naming the key."""
    if raw == "":
        return None
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        problem = str(getattr(exc, "problem", None) or exc).splitlines()[0]
        raise ConfigError(
            f"--set {key}={raw}: the value is not valid YAML ({problem}); quote it as a string or fix the "
            "brackets, e.g. --set 'train.image_size=[64, 64]'"
        ) from None


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """{'train': {'seed': 0}} -> {'train.seed': 0}; lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def config_hash(obj: Any, length: int = 12) -> str:
    """A short stable hash of a JSON-able config (key order does not matter)."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def dataset_names(params: dict) -> list[str]:
    return list((params.get("datasets") or {}).keys())


def resolve(params: dict, dataset: str, profile: str | None = None) -> dict:
    """The effective config of one dataset under a profile.

    Returns a dict with the dataset's own keys (format, source, image_size, epochs, ...),
    the profile's grid (splits, repeats, inits, ratios), and the `split` and `train` sections,
    where the profile's non-null values win over the dataset's and the train section's.
    """
    # The name becomes data/prepared/<name>, results/<name>, ...: '../x' must not leave the project.
    check_name(dataset, "dataset name", "name the dataset with letters, digits, '-' or '_' (it becomes a folder name)")
    datasets = params.get("datasets") or {}
    if dataset not in datasets:
        raise ConfigError(
            f"unknown dataset {dataset!r}; params.yaml declares {sorted(datasets)} "
            "(add it under `datasets:` or pick one of these)"
        )
    profile = profile or params.get("profile", "demo")
    profiles = params.get("profiles") or {}
    if profile not in profiles:
        raise ConfigError(f"unknown profile {profile!r}; params.yaml declares {sorted(profiles)}")
    prof = profiles[profile] or {}
    cfg = copy.deepcopy(datasets[dataset])
    cfg["name"] = dataset
    cfg["profile"] = profile
    cfg.setdefault("max_images", None)
    cfg.setdefault("options", {})
    cfg["train"] = copy.deepcopy(params.get("train") or {})
    cfg["split"] = copy.deepcopy(params.get("split") or {})
    for key in PROFILE_KEYS:
        value = prof.get(key)
        if value is None:
            continue
        if key == "batch_size":
            cfg["train"]["batch_size"] = value
        else:
            cfg[key] = value
    if cfg.get("format", "synthetic") == "synthetic":
        cfg["max_images"] = None  # the phantom count is n_images
    for key in ("splits", "repeats", "inits", "ratios"):
        cfg.setdefault(key, [])
    cfg["epochs"] = int(cfg.get("epochs") or cfg["train"].get("epochs", 1))
    return cfg


def prepare_config(cfg: dict) -> dict:
    """The part of an effective config that decides the prepared dataset (its cache key)."""
    keys = ("format", "source", "modality", "n_images", "image_size", "max_images", "options")
    return {k: cfg.get(k) for k in keys}
