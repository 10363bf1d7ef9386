"""The params.yaml ``split`` section as ``make_splits`` arguments (the split CLI and the study share it)."""

from __future__ import annotations

# The keys `medseglab split` records in splits.json (a study reuses data/splits/<name> when they match).
SPLIT_KEYS = ("n_splits", "test_fraction", "depletion", "depletion_from", "seed", "overlap")


def split_settings(section: dict) -> dict:
    """The `split` section's keys as `make_splits` arguments; unknown keys are a ConfigError (typos)."""
    from medseglab.config import ConfigError
    from medseglab.splits.build import DEFAULT_OVERLAP

    unknown = sorted(set(section) - set(SPLIT_KEYS))
    if unknown:
        raise ConfigError(f"split: unknown key(s) {unknown}; known keys are {list(SPLIT_KEYS)}")
    missing = [k for k in ("n_splits", "test_fraction", "seed") if section.get(k) is None]
    if missing:
        raise ConfigError(f"split: missing {missing} in params.yaml (e.g. n_splits: 5, test_fraction: 0.2, seed: 2021)")
    return {
        "n_splits": section["n_splits"],
        "test_fraction": section["test_fraction"],
        "depletion": section.get("depletion") or [],
        "seed": section["seed"],
        "overlap": section.get("overlap", DEFAULT_OVERLAP),
        "depletion_from": section.get("depletion_from", "all"),
    }


def split_record(section: dict) -> dict:
    """The checked split parameters as `medseglab split` records them in splits.json."""
    from medseglab.splits.build import check_split_params

    checked = check_split_params(**split_settings(section))
    return {k: checked[k] for k in SPLIT_KEYS}
