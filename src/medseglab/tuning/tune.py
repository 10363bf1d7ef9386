"""`medseglab tune`: an Optuna study over `tune.space`, maximising the median per-image validation Dice.

One MLflow run (tag ``medseglab.kind=tuning``) holds the tuning; each trial is its child run
(`tuning.worker`). The study is named from the dataset, init, profile and a hash of everything that
decides a trial's score, so launching the same tuning again continues it: ``load_if_exists``, the
trials of a dead worker are failed by their missing heartbeat and queued again, and only the trials
still missing up to ``n_trials`` are run. At the end the best trial's values are written as
params.yaml keys (``tune.best_params``) for ``--set-file`` and logged on the tuning run.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import yaml

from medseglab.config import config_hash
from medseglab.errors import ConfigError, UserError
from medseglab.io import atomic_path, temp_dir, write_csv
from medseglab.tracking import conventions as C
from medseglab.tuning.space import check_space, from_params, params_keys

KIND_TUNING = "tuning"
DEFAULTS = {"n_trials": 20, "storage": "sqlite:///optuna.db", "split": 0, "ratio": 80, "seed": 0,
            "heartbeat_s": 60, "grace_s": 180, "best_params": "tuning/{dataset}-{init}.yaml",
            "pruner": {"type": "median", "n_startup_trials": 2, "n_warmup_epochs": 1}}


@dataclasses.dataclass
class TuneResult:
    study_name: str
    run_id: str
    storage: str
    n_complete: int
    n_pruned: int
    n_failed: int
    best_value: float | None
    best_trial: int | None
    best_values: dict  # the best trial's values as params.yaml keys
    best_file: Path | None
    ran: list  # what each worker of this launch ran

    def describe(self) -> str:
        lines = [f"tuning {self.study_name} (run {self.run_id}, storage {self.storage}): {self.n_complete} complete, "
                 f"{self.n_pruned} pruned, {self.n_failed} failed trials"]
        if self.best_trial is not None:
            lines.append(f"best trial {self.best_trial}: median validation Dice {self.best_value:.4f}")
            lines += [f"  {key} = {value}" for key, value in self.best_values.items()]
            lines.append(f"written to {self.best_file}: apply with --set-file {self.best_file} (docs/TUNING.md)")
        return "\n".join(lines)


def settings(params: dict) -> dict:
    """The `tune:` section with defaults filled in."""
    section = dict(params.get("tune") or {})
    out = {**DEFAULTS, **section}
    out["pruner"] = {**DEFAULTS["pruner"], **(section.get("pruner") or {})}
    out["space"] = check_space(section.get("space"))
    for key in ("n_trials", "split", "ratio", "seed", "heartbeat_s", "grace_s"):
        value = out[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"tune.{key}={value!r}: give a whole number >= 0")
    return out


def safe_url(url: str) -> str:
    """The storage URL without its password (for logs, tags and messages)."""
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    return f"{scheme}{sep}{userinfo.split(':', 1)[0]}:***@{host}{slash}{path}"


def study_name(cfg: dict, init: str, tune: dict) -> str:
    """Same dataset, init, config, space and objective -> same study (so a relaunch resumes it)."""
    scope = {"config": C.training_config(cfg), "init": init, "space": tune["space"], "split": tune["split"],
             "ratio": tune["ratio"], "objective": "val_dice_median"}
    return f"tune-{cfg['name']}-{init}-{cfg['profile']}-{config_hash(scope, 8)}"


def _variants(cfg: dict, space: dict) -> list[dict]:
    """The config at each input size a trial may pick (each needs its own prepared dataset)."""
    from medseglab.tuning.space import apply

    sizes = space.get("image_size", {}).get("choices") or [cfg["image_size"]]
    return [apply(cfg, {"image_size": size}) for size in sizes]


def prepare_inputs(cfg: dict, space: dict, init: str, tune: dict) -> None:
    """Prepared dataset and split table at every input size of the space, built here once (not by
    workers racing), and each one's validation part checked."""
    from medseglab.study.inputs import ensure_prepared_dataset, ensure_splits
    from medseglab.tuning.trial import fit_and_validation_ids

    for variant in _variants(cfg, space):
        prepared = ensure_prepared_dataset(variant)
        splits, _ = ensure_splits(variant, prepared)
        fit_and_validation_ids(variant, prepared, splits, init, tune["split"], tune["ratio"])


def quotas(remaining: int, workers: int) -> list[int]:
    """``remaining`` trials over at most ``workers`` workers, as evenly as possible."""
    workers = max(1, min(workers, remaining))
    return [remaining // workers + (1 if i < remaining % workers else 0) for i in range(workers)]


def counts(study) -> dict[str, int]:
    out = {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0, "RUNNING": 0, "WAITING": 0}
    for trial in study.get_trials(deepcopy=False):
        out[trial.state.name] = out.get(trial.state.name, 0) + 1
    return out


def tune(params: dict, dataset: str, init: str, *, profile=None, source=None, format=None, n_trials=None,
         storage=None, name=None, executor: str = "local", workers: int = 1, ray_address=None,
         launcher=None) -> TuneResult:
    """Run (or continue) the tuning of ``dataset`` x ``init`` until ``n_trials`` trials are complete or pruned."""
    import optuna

    from medseglab.names import INITS
    from medseglab.study.inputs import study_config
    from medseglab.tracking.session import Tracking, ended_run
    from medseglab.tuning.ray_workers import shared_env
    from medseglab.tuning.storage import absolute_url, check_workers, open_storage
    from medseglab.tuning.worker import run_worker

    if init not in INITS:
        raise UserError(f"--init {init!r}: use {' or '.join(INITS)}")
    if executor not in ("local", "ray"):
        raise UserError(f"--executor {executor!r}: use local or ray")
    tune_cfg = settings(params)
    n_trials = tune_cfg["n_trials"] if n_trials is None else int(n_trials)
    if n_trials < 1:
        raise UserError(f"--trials {n_trials}: give at least 1")
    if executor == "local" and workers != 1:
        raise UserError(f"--workers {workers} needs --executor ray (the local executor runs one worker)")
    url = absolute_url(storage or tune_cfg["storage"])
    check_workers(url, workers)
    cfg = study_config(params, dataset, profile, source, format)
    prepare_inputs(cfg, tune_cfg["space"], init, tune_cfg)

    name = name or study_name(cfg, init, tune_cfg)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=name, storage=open_storage(url, tune_cfg["heartbeat_s"], tune_cfg["grace_s"]),
                                direction="maximize", load_if_exists=True)
    optuna.storages.fail_stale_trials(study)  # a dead worker's trial (beyond its grace) is queued again now
    tracking = Tracking.open(params, dataset, profile=cfg["profile"])
    run_id = _tuning_run(tracking, name, url, cfg, init, tune_cfg, n_trials, launcher)
    have = counts(study)
    remaining = n_trials - have["COMPLETE"] - have["PRUNED"]
    job = {"params": params, "dataset": dataset, "init": init, "profile": profile, "source": source, "format": format,
           "space": tune_cfg["space"], "split": tune_cfg["split"], "ratio": tune_cfg["ratio"], "storage": url,
           "study_name": name, "heartbeat_s": tune_cfg["heartbeat_s"], "grace_s": tune_cfg["grace_s"],
           "seed": tune_cfg["seed"], "pruner": tune_cfg["pruner"], "run_id": run_id,
           "experiment_id": tracking.experiment_id, "tracking_uri": tracking.uri, "cwd": str(Path.cwd()),
           "env": shared_env(), "n_before": len(study.trials)}
    ran = []
    with ended_run(tracking.client, run_id):
        if remaining > 0:
            shares = quotas(remaining, workers)
            _say(f"tuning {name}: {have['COMPLETE'] + have['PRUNED']} of {n_trials} trials done; running "
                 f"{remaining} on {len(shares)} worker(s) ({executor})")
            if executor == "ray":
                from medseglab.tuning.ray_workers import run_on_ray

                ran = run_on_ray(job, shares, ray_address)
            else:
                ran = [run_worker(job, shares[0], 0)]
        return _finish(params, dataset, init, cfg, tune_cfg, study, tracking, run_id, url, ran)


def _say(message: str) -> None:
    print(f"medseglab: {message}", file=sys.stderr, flush=True)


def _tuning_run(tracking, name: str, url: str, cfg: dict, init: str, tune_cfg: dict, n_trials: int, launcher) -> str:
    """The tuning's MLflow run: the one this study already has (a resume), else the `mlflow run`
    launcher's when it is in the dataset's experiment, else a new one."""
    from mlflow.entities import Param

    from medseglab.tracking.runs import process_tags, search_all
    from medseglab.tuning.worker import STUDY_TAG

    client = tracking.client
    tags = {C.KIND: KIND_TUNING, C.DATASET: cfg["name"], C.PROFILE: cfg["profile"], C.INIT: init, STUDY_TAG: name,
            "medseglab.tuning.storage": safe_url(url), **process_tags()}
    found = search_all(client, [tracking.experiment_id], C.tag_filter({C.KIND: KIND_TUNING, STUDY_TAG: name}),
                       ["attributes.start_time ASC"])
    if found:
        run_id = found[0].info.run_id
        client.update_run(run_id, status="RUNNING")
    elif launcher is not None and launcher.same_experiment(tracking.experiment_id):
        run_id = launcher.run_id
    else:
        run_id = client.create_run(tracking.experiment_id, run_name=name, tags=tags).info.run_id
    for key, value in tags.items():
        client.set_tag(run_id, key, value)
    existing = client.get_run(run_id).data.params
    logged = {"tune.space": yaml.safe_dump(tune_cfg["space"], default_flow_style=True, width=10_000).strip()[:6000],
              "tune.split": tune_cfg["split"], "tune.ratio": tune_cfg["ratio"],
              "tune.pruner": str(tune_cfg["pruner"]), "tune.objective": "median per-image Dice, validation part"}
    logged.update({k: v for k, v in C.mlflow_params(cfg).items() if k not in ("inits", "splits", "ratios", "repeats")})
    new = [Param(k, str(v)) for k, v in logged.items() if k not in existing]
    for start in range(0, len(new), 100):
        client.log_batch(run_id, params=new[start:start + 100])
    client.set_tag(run_id, "medseglab.tuning.n_trials", str(n_trials))  # a tag: a resume may ask for more
    return run_id


def _finish(params, dataset, init, cfg, tune_cfg, study, tracking, run_id, url, ran) -> TuneResult:
    """Count the trials, write the best values (params.yaml keys) and log both on the tuning run."""
    have = counts(study)
    client = tracking.client
    client.log_metric(run_id, "tune.n_complete", have["COMPLETE"])
    client.log_metric(run_id, "tune.n_pruned", have["PRUNED"])
    client.log_metric(run_id, "tune.n_failed", have["FAIL"])
    best, best_file, best_values = None, None, {}
    if have["COMPLETE"]:
        best = study.best_trial
        values = from_params(best.params, tune_cfg["space"])
        best_values = params_keys(values, params, dataset, cfg["profile"])
        best_file = best_path(tune_cfg["best_params"], dataset, init)
        write_best(best_file, best_values, study.study_name, best.number, best.value, safe_url(url))
        client.log_metric(run_id, "best_val_dice_median", float(best.value))
        client.set_tag(run_id, "medseglab.tuning.best_trial", str(best.number))
        client.log_artifact(run_id, str(best_file), "tuning")
    with temp_dir() as tmp:
        frame = study.trials_dataframe(attrs=("number", "state", "value", "params", "datetime_start", "duration"))
        if "params_image_size" in frame and len(frame):
            frame["params_image_size"] = frame["params_image_size"].astype(str)
        write_csv(tmp / "trials.csv", frame)
        client.log_artifact(run_id, str(tmp / "trials.csv"), "tuning")
    return TuneResult(study.study_name, run_id, safe_url(url), have["COMPLETE"], have["PRUNED"], have["FAIL"],
                      None if best is None else float(best.value), None if best is None else best.number,
                      best_values, best_file, ran)


def best_path(template, dataset: str, init: str) -> Path:
    """``tune.best_params`` with ``{dataset}`` and ``{init}`` filled in."""
    try:
        return Path(str(template).format(dataset=dataset, init=init))
    except (KeyError, IndexError, ValueError):
        raise ConfigError(f"tune.best_params={template!r}: only {{dataset}} and {{init}} may stand in braces, "
                          "e.g. tuning/{dataset}-{init}.yaml") from None


def write_best(path: Path, values: dict, name: str, number: int, value: float, storage: str) -> None:
    """The best values as params.yaml keys, one ``key: value`` a line (what ``--set-file`` reads)."""
    header = (f"# medseglab tune: best trial {number} of study {name} (storage {storage}),\n"
              f"# median per-image Dice {value:.4f} on the validation part of the train set (no test image seen).\n"
              f"# A tuned config, not the paper's protocol: apply it with `--set-file {path}` or copy the keys\n"
              f"# into params.yaml (then `dvc repro` uses them). docs/TUNING.md\n")
    body = yaml.safe_dump({k: list(v) if isinstance(v, tuple) else v for k, v in values.items()},
                          sort_keys=False, default_flow_style=None)
    with atomic_path(path) as tmp:
        tmp.write_text(header + body)

