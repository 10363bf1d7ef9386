"""`medseglab tune --executor ray`: the tuning workers as Ray tasks on one shared Optuna study.

With ``--ray-address`` (or ``RAY_ADDRESS``) the tasks go to that cluster, whose machines must see the
project folder and the tracking store at the same paths; without one a local Ray is started for the
run (one CPU per worker) and stopped after it.
"""

from __future__ import annotations

import os

from medseglab.errors import UserError

_ENV_PREFIXES = ("MEDSEGLAB_", "MLFLOW_", "TF_CPP_")  # settings the workers must share with this process


def shared_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(_ENV_PREFIXES) and k != "MLFLOW_RUN_ID"}


def run_on_ray(job: dict, quotas: list[int], address: str | None = None) -> list[dict]:
    """Run one worker per quota as a Ray task (1 CPU each); returns each worker's report."""
    import ray

    from medseglab.tuning.worker import run_worker

    address = address or os.environ.get("RAY_ADDRESS") or None
    started = not ray.is_initialized()
    if started:
        try:
            if address:
                ray.init(address=address, logging_level="WARNING", log_to_driver=True)
            else:
                ray.init(num_cpus=len(quotas), include_dashboard=False, logging_level="WARNING",
                         log_to_driver=True)
        except ConnectionError as exc:
            raise UserError(f"--ray-address {address}: no Ray cluster answers there ({exc}); start one with "
                            "`ray start --head` or leave the address out for a local Ray") from None
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(run_worker)
        refs = [task.remote(job, quota, index) for index, quota in enumerate(quotas)]
        try:
            return ray.get(refs)
        except ray.exceptions.OutOfMemoryError:
            raise UserError(
                "Ray's memory monitor stopped a tuning worker (this machine's memory passed "
                "RAY_memory_usage_threshold, 0.95 by default, counting every process on it): free memory or use "
                "fewer --workers, then launch the same command again; finished trials are kept and the stopped "
                "one is run again (docs/TUNING.md)") from None
    finally:
        if started:
            ray.shutdown()
