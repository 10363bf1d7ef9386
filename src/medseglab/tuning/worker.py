"""A tuning worker: runs its share of trials of one Optuna study, each as a nested MLflow run.

The same function runs in the `tune` process (one local worker) and as a Ray task (`--executor ray`):
everything it needs is in a plain ``job`` dict (picklable, no open handles).

MLflow: a trial's run is a child of the tuning run (tag ``mlflow.parentRunId``: MLflow's nested runs,
as optuna-integration's ``MLflowCallback(mlflow_kwargs={"nested": True})`` makes them), opened when the
trial starts so that its epochs' scores show while it trains. Its id is a user attribute of the trial,
which Optuna copies when it retries a trial whose worker died: the retry continues that same run, so
a study has one MLflow run per trial that ran to the end (or was pruned).
"""

from __future__ import annotations

import os
import sys

from medseglab.tuning.storage import RETRY_ATTEMPTS

TRIAL_RUN_ATTR = "mlflow_run_id"
KIND_TRIAL = "tuning-trial"
STUDY_TAG = "medseglab.tuning.study"
TRIAL_TAG = "medseglab.tuning.trial"
STATE_TAG = "medseglab.tuning.state"


def make_pruner(settings: dict):
    import optuna

    from medseglab.errors import ConfigError

    kind = str(settings.get("type", "median")).lower()
    if kind == "none":
        return optuna.pruners.NopPruner()
    if kind != "median":
        raise ConfigError(f"tune.pruner.type={kind!r}: use median or none")
    return optuna.pruners.MedianPruner(n_startup_trials=int(settings.get("n_startup_trials", 2)),
                                       n_warmup_steps=int(settings.get("n_warmup_epochs", 1)))


def load(job: dict, seed_offset: int = 0):
    """The job's study (opened through a heartbeat storage) with its sampler and pruner."""
    import optuna

    from medseglab.tuning.storage import open_storage

    storage = open_storage(job["storage"], job["heartbeat_s"], job["grace_s"])
    return optuna.load_study(study_name=job["study_name"], storage=storage,
                             sampler=optuna.samplers.TPESampler(seed=int(job["seed"]) + seed_offset),
                             pruner=make_pruner(job["pruner"]))


class Objective:
    """Optuna's objective: a trial's values -> its config -> `train_trial`, inside its MLflow run."""

    def __init__(self, job: dict, client):
        from medseglab.study.inputs import study_config
        from medseglab.tuning.space import check_space

        self.job, self.client = job, client
        self.space = check_space(job["space"])
        self.base_cfg = study_config(job["params"], job["dataset"], job["profile"], job["source"], job["format"])
        self.finished: list[int] = []

    def __call__(self, trial) -> float:
        import optuna
        from optuna_integration import KerasPruningCallback

        from medseglab.study.inputs import ensure_prepared_dataset, ensure_splits
        from medseglab.training.callbacks import MlflowEpochLogger
        from medseglab.tuning.space import apply, suggest
        from medseglab.tuning.trial import MONITOR, train_trial

        values = suggest(trial, self.space)
        cfg = apply(self.base_cfg, values)
        run_id, logged = self._open_run(trial, values)
        status, state = "FAILED", "FAIL"
        history: list[dict] = []
        try:
            prepared = ensure_prepared_dataset(cfg)
            splits, _ = ensure_splits(cfg, prepared)
            callbacks = [MlflowEpochLogger(self.client, run_id, history, skip_steps=logged),
                         KerasPruningCallback(trial, MONITOR)]
            value = train_trial(cfg, prepared, splits, self.job["init"], self.job["split"], self.job["ratio"],
                                callbacks=callbacks, history=history, desc=f"trial {trial.number}")
            self.client.log_metric(run_id, MONITOR, value, step=len(history) - 1)
            status, state = "FINISHED", "COMPLETE"
            return value
        except optuna.TrialPruned:
            status, state = "FINISHED", "PRUNED"
            raise
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        finally:
            self.client.set_tag(run_id, STATE_TAG, state)
            self.client.set_terminated(run_id, status=status)
            if state != "FAIL":
                self.finished.append(trial.number)

    def _open_run(self, trial, values: dict) -> tuple[str, set[int]]:
        """The trial's MLflow run: a new child of the tuning run, or, for a retry of a trial whose
        worker died, that trial's run (its logged epochs are not logged twice)."""
        from mlflow.entities import Param, RunTag

        from medseglab.tracking import conventions as C
        from medseglab.tracking.runs import process_tags

        job = self.job
        tags = {C.KIND: KIND_TRIAL, C.PARENT: job["run_id"], C.DATASET: job["dataset"], STUDY_TAG: job["study_name"],
                TRIAL_TAG: str(trial.number), **process_tags()}
        run_id = trial.user_attrs.get(TRIAL_RUN_ATTR)
        if run_id:
            self.client.update_run(run_id, status="RUNNING")
            retried = trial.storage.get_trial_system_attrs(trial._trial_id).get("failed_trial", "")
            tags["medseglab.tuning.retry_of"] = str(retried)
            self.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])
            return run_id, {m.step for m in self.client.get_metric_history(run_id, "loss")}
        run = self.client.create_run(job["experiment_id"], run_name=f"{job['study_name']}-t{trial.number}", tags=tags)
        run_id = run.info.run_id
        trial.set_user_attr(TRIAL_RUN_ATTR, run_id)
        params = [Param(k, str(v)) for k, v in values.items()]
        self.client.log_batch(run_id, params=params)
        return run_id, set()


def run_worker(job: dict, n_trials: int, worker: int = 0) -> dict:
    """Run ``n_trials`` trials of the job's study in this process; returns their numbers."""
    from medseglab.tracking.store import open_client

    if job.get("cwd"):
        os.chdir(job["cwd"])  # a Ray worker starts elsewhere; the project's relative paths need its root
    os.environ.update(job.get("env") or {})
    study = load(job, seed_offset=1000 * worker + job.get("n_before", 0))
    objective = Objective(job, open_client(uri=job["tracking_uri"]))
    done, attempts = 0, 0
    while done < int(n_trials) and attempts < int(n_trials) * (RETRY_ATTEMPTS + 1):
        attempts += 1
        try:
            study.optimize(objective, n_trials=1, catch=(), gc_after_trial=True)
        except ValueError as exc:
            # Another worker failed this live trial: its heartbeat came later than tune.grace_s (a starved
            # machine). That worker queued a retry, which some worker runs; this slot is not counted.
            if "Cannot tell a FAIL trial" not in str(exc):
                raise
            lost = objective.finished.pop()
            print(f"medseglab: trial {lost} was taken for dead by another worker (heartbeat later than "
                  f"tune.grace_s={job['grace_s']} s); its retry runs instead", file=sys.stderr, flush=True)
            continue
        done += 1
    return {"worker": worker, "pid": os.getpid(), "trials": objective.finished}
