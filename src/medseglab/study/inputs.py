"""The inputs of a study: the effective config, the prepared dataset, the split table.

The DVC outputs ``data/prepared/<name>`` and ``data/splits/<name>`` are used when they were built
from the same config; otherwise the study builds its own copies in cache folders beside them
(``data/cache/...``), so pointing a study at other data never overwrites DVC-tracked outputs.
"""

from __future__ import annotations

import json
from pathlib import Path

from medseglab.config import ConfigError, config_hash, resolve

PREPARED_BASE = Path("data/prepared")
SPLITS_BASE = Path("data/splits")


def blank(value):
    """MLproject passes "" for "not given": treat it as None."""
    return None if value is None or (isinstance(value, str) and value.strip() == "") else value


def study_config(params: dict, dataset: str, profile: str | None = None, source: str | None = None,
                 format: str | None = None) -> dict:
    """The effective config of ``dataset`` under ``profile``, with ``source`` / ``format`` overriding
    the dataset's params.yaml values (a dataset not declared in params.yaml needs ``format``)."""
    profile, source, format = blank(profile), blank(source), blank(format)
    params = dict(params)
    datasets = dict(params.get("datasets") or {})
    if dataset not in datasets and format:
        datasets[dataset] = {"format": format, "source": source, "options": {}}
    if dataset in datasets:
        entry = dict(datasets[dataset])
        if format:
            entry["format"] = format
        if source:
            entry["source"] = source
        datasets[dataset] = entry
    params["datasets"] = datasets
    cfg = resolve(params, dataset, profile)
    if source and cfg.get("format", "synthetic") == "synthetic":
        raise ConfigError(f"--source {source}: dataset {dataset!r} has format synthetic, which reads no folder; "
                          "pass --format too (e.g. --format isic2018)")
    if cfg.get("image_size") is None:
        raise ConfigError(f"datasets.{dataset}.image_size is not set; add it to params.yaml or pass "
                          f"--set datasets.{dataset}.image_size=[W,H]")
    for key in ("inits", "splits", "ratios", "repeats"):
        if not cfg.get(key):
            raise ConfigError(f"profiles.{cfg['profile']}.{key} is empty: list at least one value")
    depletion_grid(cfg)  # a malformed profile `depletion` fails here, before any data is prepared
    if int(cfg["epochs"]) < 1:
        raise ConfigError(f"epochs={cfg['epochs']} for {dataset}: give at least 1")
    return cfg


def ensure_prepared_dataset(cfg: dict, base: str | Path = PREPARED_BASE):
    from medseglab.data import ensure_prepared

    return ensure_prepared(cfg, base=str(base))


def _split_record(cfg: dict) -> dict:
    """The split parameters as `medseglab split` records them in splits.json."""
    from medseglab.splits.settings import split_record

    return split_record(cfg["split"])


def _splits_match(folder: Path, record: dict, data_hash: str) -> bool:
    try:
        info = json.loads((folder / "splits.json").read_text())
    except (OSError, ValueError):
        return False
    return ((folder / "splits.parquet").is_file() and info.get("dataset_content_hash") == data_hash
            and config_hash(info.get("params")) == config_hash(record))


def ensure_splits(cfg: dict, prepared, base: str | Path = SPLITS_BASE):
    """(split table, its folder): ``<base>/<name>`` when it matches the config and the prepared
    data, else a cache folder ``<base>/../cache/splits-<name>-<hash>`` (built when missing)."""
    from medseglab.splits import load_splits, make_splits, write_splits
    from medseglab.splits.settings import split_settings

    base = Path(base)
    record = _split_record(cfg)
    data_hash = str(prepared.info["content_hash"])
    default = base / cfg["name"]
    if _splits_match(default, record, data_hash):
        return load_splits(default), default
    folder = base.parent / "cache" / f"splits-{cfg['name']}-{config_hash({'split': record, 'data': data_hash})}"
    if not _splits_match(folder, record, data_hash):
        table = make_splits(prepared.manifest, **split_settings(cfg["split"]))
        info = dict(prepared.info)
        info.setdefault("name", cfg["name"])
        write_splits(folder, table, prepared.manifest, params=record, dataset_info=info, plot=False)
    return load_splits(folder), folder


def depletion_grid(cfg: dict) -> dict:
    """The profile's ``depletion`` key checked: ``{ratios, splits, repeats}`` of the depleted trainings
    (empty when the profile has none). Those ratios are trained only for those splits and repeats (both
    inits), so a demo shows a depletion curve at a fraction of the cost of the full grid."""
    spec = cfg.get("depletion")
    if not spec:
        return {}
    where = f"profiles.{cfg.get('profile')}.depletion"
    if not isinstance(spec, dict) or not spec.get("ratios"):
        raise ConfigError(f"{where} = {spec!r}: give {{ratios: [40, 10], splits: [0], repeats: [0]}} (or leave it out)")
    unknown = sorted(set(spec) - {"ratios", "splits", "repeats"})
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; use ratios, splits and repeats")
    out = {"ratios": [int(r) for r in spec["ratios"]]}
    for key in ("splits", "repeats"):
        value = spec.get(key) if spec.get(key) is not None else cfg[key][:1]
        if not value:
            raise ConfigError(f"{where}.{key} is empty: list at least one value (or leave it out: the first of {key})")
        out[key] = [int(v) for v in value]
    return out


def grid(cfg: dict):
    """The trainings of a study, in the order they run: ratio (80 first), split, repeat, then init
    innermost, so an interrupted study already has complete TII/LMI pairs. A ratio of ``cfg["ratios"]``
    takes every split and repeat; a ratio only in the profile's ``depletion.ratios`` takes the
    ``depletion`` splits and repeats."""
    from medseglab.tracking.conventions import TrainingKey

    full = {int(r) for r in cfg["ratios"]}
    depleted = depletion_grid(cfg)
    ratios = sorted(full | set(depleted.get("ratios", ())), reverse=True)
    keys = []
    for ratio in ratios:
        splits, repeats = (cfg["splits"], cfg["repeats"]) if ratio in full else (depleted["splits"], depleted["repeats"])
        keys += [TrainingKey.make(cfg["name"], init, split, ratio, repeat)
                 for split in splits for repeat in repeats for init in cfg["inits"]]
    return keys
