"""The model registry: the trainings someone chose, under names that say what data they learned.

Every training logs a LoggedModel (``model``) and registers nothing; :func:`promote` registers the
winners of a finished study and moves aliases (never stages, deprecated in MLflow 3):

- ``champion`` / ``challenger`` on the best and second-best training of each init, in the registered
  model :func:`registered_model_name` gives it: dataset, data source, data hash and training-config
  hash are part of the name, so models of different data or configs never compete for one alias;
- ``champion`` on the pair: a pyfunc model (``tracking.pair_model``) of every LMI and TII repeat of the
  chosen split, giving Algorithm 1's four candidates per image, registered as :func:`pair_name`.

Reruns are idempotent (a run already registered under a name is found by its run id; a pair of the
same members by its ``medseglab.members`` tag). Moving an alias tags the new version with what it
replaced (``medseglab.replaced.<alias>``) and appends to the registered model's history.

Readers (for the CLI and the dashboard): :func:`list_registered_models`, :func:`list_versions`,
:func:`get_version`, :func:`alias_history`, :func:`resolve_champion`, :func:`load_pair`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import json
import re
import warnings
from pathlib import Path

import pandas as pd

from medseglab.errors import UserError
from medseglab.names import INITS
from medseglab.tracking import conventions as C

PREFIX = "medseglab"
CHAMPION = "champion"
CHALLENGER = "challenger"
ALIASES = (CHAMPION, CHALLENGER)
PAIR = "pair"

# Tags of registered models and versions (besides the run contract's C.DATASET, C.DATA_HASH, ...).
SOURCE = "medseglab.source"              # data source label: synthetic | isic2018 | gleason2019 | ...
MODEL_KIND = "medseglab.model_kind"      # lmi | tii | pair
CRITERION = "medseglab.criterion"
RANK = "medseglab.rank"
METRIC_PREFIX = "medseglab.metric."      # + criterion name, e.g. medseglab.metric.dice_median
MEMBERS = "medseglab.members"            # pair: {"lmi": [run ids], "tii": [...]} + combine + threshold, JSON
REPLACED = "medseglab.replaced."         # + alias: "<name>/<version>" the alias pointed at before
HISTORY = "medseglab.alias_history"      # registered model: JSON list of alias moves (newest last)
HISTORY_MAX_CHARS = 4500                 # registered-model tag values are capped (5000): oldest moves drop


# --- names -------------------------------------------------------------------------------------


def source_label(fmt: str | None) -> str:
    """The data-source part of a name: the dataset format (``synthetic``, ``isic2018``, ...)."""
    label = re.sub(r"[^a-z0-9]+", "", str(fmt or "unknown").lower())
    return label or "unknown"


def _short(value: str | None, what: str) -> str:
    text = re.sub(r"[^0-9a-f]", "", str(value or "").lower())
    if len(text) < 8:
        raise UserError(f"cannot name a registered model: the training has no {what} (tag {value!r}); "
                        "retrain it with this medseglab version")
    return text[:8]


def registered_model_name(dataset: str, source: str, data_hash: str, config_hash: str, kind: str) -> str:
    """``medseglab-<dataset>-<source>-d<data hash 8>-c<config hash 8>-<kind>``; ``kind``: an init or ``pair``.

    e.g. ``medseglab-skin-isic2018-d3f9a01c-c41b2e7d-lmi``. The one function that makes names."""
    return (f"{PREFIX}-{dataset}-{source_label(source)}-d{_short(data_hash, 'data hash')}"
            f"-c{_short(config_hash, 'config hash')}-{kind}")


def name_for_run(run, kind: str | None = None) -> str:
    """The registered-model name of a training run (``kind``: default the run's init; ``pair``)."""
    tags, params = run.data.tags, run.data.params
    return registered_model_name(tags.get(C.DATASET, ""), params.get("format"), tags.get(C.DATA_HASH),
                                 tags.get(C.CONFIG_HASH), kind or tags.get(C.INIT, ""))


def pair_name(run) -> str:
    """The pair's registered-model name, from one of its training runs."""
    return name_for_run(run, PAIR)


# --- reading the registry ----------------------------------------------------------------------


def _client(uri: str | None):
    from medseglab.tracking.store import open_client

    return open_client(uri=uri)


def _not_found(exc) -> bool:
    return "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")) or "not found" in str(exc).lower()


def list_registered_models(dataset: str | None = None, *, uri: str | None = None) -> pd.DataFrame:
    """One row per medseglab registered model: ``name``, ``kind`` (lmi | tii | pair), ``dataset``,
    ``source``, ``data_hash``, ``config_hash``, ``aliases`` ({alias: version}), ``latest_version``,
    ``updated`` (UTC timestamp), ``description``. Sorted by name; ``dataset`` filters."""
    client = _client(uri)
    rows, token = [], None
    while True:
        page = client.search_registered_models(filter_string=f"name LIKE '{PREFIX}-%'", max_results=100,
                                               page_token=token)
        for model in page:
            tags = model.tags or {}
            if dataset is not None and tags.get(C.DATASET) != dataset:
                continue
            versions = [int(v.version) for v in (model.latest_versions or [])]
            rows.append({
                "name": model.name, "kind": tags.get(MODEL_KIND), "dataset": tags.get(C.DATASET),
                "source": tags.get(SOURCE), "data_hash": tags.get(C.DATA_HASH),
                "config_hash": tags.get(C.CONFIG_HASH), "aliases": dict(model.aliases or {}),
                "latest_version": max(versions) if versions else None,
                "updated": pd.to_datetime(model.last_updated_timestamp, unit="ms", utc=True),
                "description": model.description or "",
            })
        token = page.token
        if not token:
            break
    cols = ["name", "kind", "dataset", "source", "data_hash", "config_hash", "aliases", "latest_version", "updated",
            "description"]
    return pd.DataFrame(rows, columns=cols).sort_values("name").reset_index(drop=True)


def list_versions(name: str, *, uri: str | None = None) -> pd.DataFrame:
    """One row per version of ``name``, newest first: ``version``, ``aliases`` (list), ``run_id``,
    ``model_id``, ``source``, ``created`` (UTC) and every tag as its own column."""
    client = _client(uri)
    rows, token = [], None
    while True:
        page = client.search_model_versions(f"name='{name}'", max_results=200, page_token=token)
        for v in page:
            rows.append({"version": int(v.version), "aliases": list(v.aliases or []), "run_id": v.run_id,
                         "model_id": getattr(v, "model_id", None), "source": v.source,
                         "created": pd.to_datetime(v.creation_timestamp, unit="ms", utc=True), **(v.tags or {})})
        token = page.token
        if not token:
            break
    table = pd.DataFrame(rows)
    return table.sort_values("version", ascending=False).reset_index(drop=True) if len(table) else table


def get_version(name: str, alias_or_version: str | int, *, uri: str | None = None):
    """The ``ModelVersion`` of ``name`` at an alias (``champion``) or version number; None if absent."""
    return _version_at(_client(uri), name, alias_or_version)


def _version_at(client, name: str, alias_or_version: str | int):
    from mlflow.exceptions import MlflowException

    try:
        if str(alias_or_version).isdigit():
            return client.get_model_version(name, str(alias_or_version))
        return client.get_model_version_by_alias(name, str(alias_or_version))
    except MlflowException as exc:
        if _not_found(exc) or "alias" in str(exc).lower():
            return None
        raise


def alias_history(name: str, *, uri: str | None = None) -> list[dict]:
    """The alias moves of ``name``, oldest first: ``time`` (ISO UTC), ``alias``, ``version``,
    ``replaced`` (the version it pointed at before, or None), ``study_run_id``, ``run_id``."""
    model = _client(uri).get_registered_model(name)
    return json.loads((model.tags or {}).get(HISTORY, "[]"))


@dataclasses.dataclass
class Champion:
    """A pair registered with alias champion: what ``medseglab predict`` and serving load."""

    name: str
    version: int
    run_id: str | None
    tags: dict

    @property
    def model_uri(self) -> str:
        return f"models:/{self.name}@{CHAMPION}"


def resolve_champion(dataset: str, *, name: str | None = None, uri: str | None = None) -> Champion | None:
    """The champion pair of ``dataset`` (or of registered model ``name``); None when there is none.

    With several pairs (other data or configs), the one whose champion alias moved last."""
    client = _client(uri)
    names = [name] if name else [
        row["name"] for _, row in list_registered_models(dataset, uri=uri).iterrows()
        if row["kind"] == PAIR and CHAMPION in row["aliases"]
    ]
    found = []
    for candidate in names:
        version = _version_at(client, candidate, CHAMPION)
        if version is not None:
            moved = max([h["time"] for h in _history_or_empty(client, candidate) if h["alias"] == CHAMPION] or [""])
            found.append((moved, int(version.version), Champion(candidate, int(version.version), version.run_id,
                                                                dict(version.tags or {}))))
    return max(found, key=lambda f: (f[0], f[1]))[2] if found else None


def _history_or_empty(client, name: str) -> list[dict]:
    return json.loads((client.get_registered_model(name).tags or {}).get(HISTORY, "[]"))


def load_pair(model_uri: str, *, uri: str | None = None):
    """``mlflow.pyfunc.load_model`` of a pair (``models:/<pair name>@champion``) from store ``uri``."""
    import mlflow.pyfunc

    uri = uri or C.tracking_uri()
    _client(uri)  # checks the store first: a corrupt database is a TrackingError, not a traceback
    from medseglab.tracking.session import global_uris

    with global_uris(uri):
        return mlflow.pyfunc.load_model(model_uri)


# --- promoting ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Promotion:
    """What :func:`promote` did (or, dry run, would do): the ranking and one line per action."""

    ranking: pd.DataFrame
    names: dict[str, str]
    actions: list[str]
    dry_run: bool
    pair_version: int | None = None

    def describe(self) -> str:
        head = "dry run: nothing changed; would do:" if self.dry_run else "promoted:"
        return "\n".join([self.ranking.to_string(index=False), head, *[f"  {a}" for a in self.actions]])


def _logged_model_id(client, run) -> str | None:
    """The id of the ``model`` LoggedModel a training run logged (None for runs before MLflow 3)."""
    found = client.search_logged_models([run.info.experiment_id],
                                        filter_string=f"source_run_id='{run.info.run_id}' AND name='model'")
    return found[0].model_id if found else None


def _ensure_registered_model(client, name: str, tags: dict, description: str, dry_run: bool, actions: list) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
        return
    except MlflowException as exc:
        if not _not_found(exc):
            raise
    actions.append(f"create registered model {name}")
    if not dry_run:
        try:
            client.create_registered_model(name, tags=tags, description=description)
        except MlflowException:
            client.get_registered_model(name)  # another process created it meanwhile


def _version_of_run(client, name: str, run_id: str):
    found = client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
    return sorted(found, key=lambda v: int(v.version))[0] if found else None


def _set_alias(client, name: str, alias: str, version, record: dict, dry_run: bool, actions: list) -> None:
    """Point ``alias`` of ``name`` at ``version`` (a ModelVersion, or None in a dry run for a version
    not yet made), recording what it replaced on the version and in the model's history."""
    current = _version_at(client, name, alias) if _model_exists(client, name) else None
    new = None if version is None else str(version.version)
    if current is not None and new is not None and str(current.version) == new:
        actions.append(f"{name}@{alias} stays at version {new}")
        return
    replaced = None if current is None else f"{name}/{current.version}"
    actions.append(f"{name}@{alias} -> version {new or '(new)'}" + (f" (replaces {replaced})" if replaced else ""))
    if dry_run:
        return
    client.set_registered_model_alias(name, alias, new)
    if replaced:
        client.set_model_version_tag(name, new, REPLACED + alias, replaced)
    history = _history_or_empty(client, name)
    moved_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
    history.append({"time": moved_at, "alias": alias, "version": int(new),
                    "replaced": None if current is None else int(current.version), **record})
    text = json.dumps(history)
    while len(text) > HISTORY_MAX_CHARS and len(history) > 1:
        history.pop(0)
        text = json.dumps(history)
    client.set_registered_model_tag(name, HISTORY, text)
    line = (f"{history[-1]['time']} {alias} -> v{new}" + (f" (was v{current.version})" if current else "")
            + f", study {record.get('study_run_id')}")
    model = client.get_registered_model(name)
    client.update_registered_model(name, description=((model.description or "").rstrip() + "\n" + line).strip())


def _model_exists(client, name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
        return True
    except MlflowException as exc:
        if _not_found(exc):
            return False
        raise


def _model_tags(run, kind: str) -> dict:
    tags = run.data.tags
    return {C.DATASET: tags.get(C.DATASET, ""), SOURCE: source_label(run.data.params.get("format")),
            C.DATA_HASH: tags.get(C.DATA_HASH, ""), C.CONFIG_HASH: tags.get(C.CONFIG_HASH, ""), MODEL_KIND: kind}


def _version_tags(run, row: pd.Series, criterion: str, study_run_id: str) -> dict:
    tags = run.data.tags
    out = {**_model_tags(run, tags.get(C.INIT, "")), C.INIT: tags.get(C.INIT, ""), C.SPLIT: tags.get(C.SPLIT, ""),
           C.RATIO: tags.get(C.RATIO, ""), C.REPEAT: tags.get(C.REPEAT, ""), C.STUDY_RUN: study_run_id,
           C.WEIGHTS_SOURCE: tags.get(C.WEIGHTS_SOURCE, ""), C.WEIGHTS_SHA256: tags.get(C.WEIGHTS_SHA256, ""),
           CRITERION: criterion, RANK: str(int(row["rank"]))}
    for key in ("score", "sd", "n_images"):
        out[METRIC_PREFIX + (criterion if key == "score" else f"{criterion}_{key}")] = str(row[key])
    for name, value in run.data.metrics.items():
        if name.startswith("test_"):
            out[METRIC_PREFIX + name] = repr(float(value))
    return out


def _register_run(client, name: str, run, tags: dict, dry_run: bool, actions: list):
    """The version of ``run`` under ``name``: the existing one, else a new one (None in a dry run)."""
    version = _version_of_run(client, name, run.info.run_id) if _model_exists(client, name) else None
    if version is not None:
        actions.append(f"{name} version {version.version} is already run {run.info.run_id}")
    else:
        actions.append(f"register run {run.info.run_id} as a new version of {name}")
        if dry_run:
            return None
        model_id = _logged_model_id(client, run)
        source = f"models:/{model_id}" if model_id else f"runs:/{run.info.run_id}/model"
        version = client.create_model_version(name, source, run_id=run.info.run_id, model_id=model_id)
    if not dry_run:
        for key, value in tags.items():
            client.set_model_version_tag(name, version.version, key, value)
    return version


def _members_key(members: dict, combine: str, threshold: float, estimator: dict | None = None) -> str:
    extra = {"estimator": hashlib.sha256(json.dumps(estimator, sort_keys=True).encode()).hexdigest()[:16]} \
        if estimator is not None else {}  # absent: the key of a pair promoted before estimators existed
    return json.dumps({"members": {k: sorted(v) for k, v in sorted(members.items())}, "combine": combine,
                       "threshold": float(threshold), **extra}, sort_keys=True)


def _pair_version(client, name: str, key: str):
    if not _model_exists(client, name):
        return None
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    found = client.search_model_versions(f"name='{name}' and tags.`{MEMBERS}.sha256`='{digest}'")
    return sorted(found, key=lambda v: int(v.version))[0] if found else None


def _log_pair(client, uri: str, study, members: dict[str, list], combine: str, threshold: float, name: str,
              key: str, model_tags: dict, estimator: dict | None = None):
    """A ``promotion`` run in the study's experiment holding the pair pyfunc model; returns its new version."""
    import mlflow
    import mlflow.artifacts
    import mlflow.pyfunc
    from mlflow.entities import RunStatus

    from medseglab.io import temp_dir
    from medseglab.tracking.pair_model import PairModel, input_signature
    from medseglab.tracking.session import fluent_run

    run = client.create_run(study.info.experiment_id, run_name=f"promote-{name}",
                            tags={C.KIND: "promotion", C.STUDY_RUN: study.info.run_id, **model_tags})
    status = "FAILED"
    try:
        with temp_dir(prefix="medseglab-pair-") as tmp:
            artifacts, config_members = {}, {}
            for init, runs in members.items():
                config_members[init] = []
                for member in runs:
                    label = f"{init}-{member.data.tags.get(C.REPEAT, len(config_members[init]))}"
                    artifacts[label] = mlflow.artifacts.download_artifacts(
                        artifact_uri=f"runs:/{member.info.run_id}/model", dst_path=str(Path(tmp) / label),
                        tracking_uri=uri)
                    config_members[init].append(label)
            if estimator is not None:  # Algorithm 1 without ground truth: the pair returns Dice estimates too
                (Path(tmp) / "estimator.json").write_text(json.dumps(estimator, sort_keys=True))
                artifacts["estimator"] = str(Path(tmp) / "estimator.json")
            first = next(iter(members.values()))[0].data.tags
            config = {"members": config_members, "combine": combine, "threshold": float(threshold),
                      "run_ids": {init: [r.info.run_id for r in runs] for init, runs in members.items()},
                      "study_run_id": study.info.run_id, "split": int(first.get(C.SPLIT, -1)),
                      "ratio": int(first.get(C.RATIO, -1)), **({"estimator": "estimator"} if estimator else {})}
            with fluent_run(uri, run.info.run_id), warnings.catch_warnings(), _quiet_logger("mlflow.pyfunc"):
                # The signature documents the input; an input example would name a file of this machine.
                # The pyfunc logger's CloudPickle notice is for models from untrusted code: this is ours.
                warnings.filterwarnings("ignore", message=".*input example.*", category=UserWarning)
                info = mlflow.pyfunc.log_model(name=PAIR, python_model=PairModel(), artifacts=artifacts,
                                               model_config=config, signature=input_signature())
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        version = client.create_model_version(name, f"models:/{info.model_id}", run_id=run.info.run_id,
                                              model_id=info.model_id,
                                              tags={**model_tags, MEMBERS: key[:4900], f"{MEMBERS}.sha256": digest,
                                                    C.STUDY_RUN: study.info.run_id})
        status = "FINISHED"
        return version
    finally:
        client.set_terminated(run.info.run_id, status=RunStatus.to_string(getattr(RunStatus, status)))


@contextlib.contextmanager
def _quiet_logger(name: str):
    import logging

    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def promote(study, ranking: pd.DataFrame, *, criterion: str, combine: str, threshold: float,
            dry_run: bool = False, uri: str | None = None, estimator: dict | None = None) -> Promotion:
    """Register the ranked trainings' winners and move the aliases (see the module docstring).

    ``study``: the study's parent run; ``ranking``: one row per candidate training with ``init``,
    ``run_id``, ``rank`` (1 = best within its init), ``score``, ``sd``, ``n_images``; every candidate
    of an init is a member of the pair. ``combine``/``threshold``: how the pair combines repeats.
    ``dry_run``: read only, report what would change. ``estimator``: the chosen split's Dice estimator
    (``ensemble.estimator.DiceEstimator.to_dict``), stored in the pair so it returns Dice estimates; a pair
    with another estimator (or none) is another version.
    """
    uri = uri or C.tracking_uri()
    client = _client(uri)
    actions: list[str] = []
    names: dict[str, str] = {}
    runs = {rid: client.get_run(rid) for rid in ranking["run_id"].astype(str)}
    record = {"study_run_id": study.info.run_id}
    members: dict[str, list] = {}
    for init, rows in ranking.sort_values("rank").groupby("init", sort=True):
        init_runs = [runs[str(r)] for r in rows["run_id"]]
        members[str(init)] = init_runs
        distinct = {name_for_run(r) for r in init_runs}
        if len(distinct) != 1:
            raise UserError(f"the {init} candidates of study {study.info.run_id} differ in data or config "
                            f"({sorted(distinct)}); promote one study's trainings of one data set")
        name = names[str(init)] = distinct.pop()
        _ensure_registered_model(client, name, _model_tags(init_runs[0], str(init)),
                                 f"medseglab {init} models of dataset {init_runs[0].data.tags.get(C.DATASET)}",
                                 dry_run, actions)
        for alias, (_, row) in zip(ALIASES, rows.head(len(ALIASES)).iterrows()):
            run = runs[str(row["run_id"])]
            version = _register_run(client, name, run, _version_tags(run, row, criterion, study.info.run_id),
                                    dry_run, actions)
            _set_alias(client, name, alias, version, {**record, "run_id": run.info.run_id}, dry_run, actions)
    missing = [i for i in INITS if i not in members]
    if missing:
        raise UserError(f"study {study.info.run_id} has no finished {'/'.join(m.upper() for m in missing)} candidate; "
                        "the pair needs both inits")
    first = next(iter(members.values()))[0]
    pname = names[PAIR] = pair_name(first)
    key = _members_key({i: [r.info.run_id for r in rs] for i, rs in members.items()}, combine, threshold, estimator)
    tags = _model_tags(first, PAIR)
    _ensure_registered_model(client, pname, tags, f"medseglab LMI+TII pair (Algorithm 1's four candidates) of "
                             f"dataset {first.data.tags.get(C.DATASET)}", dry_run, actions)
    version = _pair_version(client, pname, key)
    if version is not None:
        actions.append(f"{pname} version {version.version} already holds these {sum(map(len, members.values()))} models")
    else:
        actions.append(f"log the pair ({', '.join(f'{len(v)} {k.upper()}' for k, v in members.items())}, "
                       f"combine {combine}{', with its Dice estimator' if estimator else ''}) and register it as "
                       f"a new version of {pname}")
        if not dry_run:
            version = _log_pair(client, uri, study, members, combine, threshold, pname, key, tags, estimator)
    _set_alias(client, pname, CHAMPION, version, record, dry_run, actions)
    return Promotion(ranking, names, actions, dry_run, None if version is None else int(version.version))
