"""`mlflow run` starts an outer run and passes its id in ``MLFLOW_RUN_ID``; how medseglab uses it.

- The outer run is in experiment ``medseglab/<dataset>`` (``mlflow run . --experiment-name
  medseglab/skin``): it becomes the study's parent run (or the parent of a single training).
- It is elsewhere (``mlflow run .`` alone puts it in the Default experiment): the study gets its
  own parent in ``medseglab/<dataset>``; the outer run is tagged ``medseglab.kind=launcher`` and
  ``medseglab.study_run_id`` (or ``medseglab.training_run_id``) and receives the summary metrics,
  and the parent is tagged ``medseglab.launcher_run_id``, so each finds the other.

The variable is removed from the environment at once: `mlflow.start_run()` would otherwise adopt
the outer run for the first training it opens.
"""

from __future__ import annotations

import dataclasses
import os


@dataclasses.dataclass
class Launcher:
    run_id: str
    experiment_id: str

    def same_experiment(self, experiment_id: str) -> bool:
        return str(self.experiment_id) == str(experiment_id)


def take_launcher(client) -> Launcher | None:
    """The outer `mlflow run` run, if any (and forget it from the environment)."""
    run_id = os.environ.pop("MLFLOW_RUN_ID", None)
    if not run_id:
        return None
    run = client.get_run(run_id)
    return Launcher(run_id=run_id, experiment_id=run.info.experiment_id)


def link(client, launcher: Launcher | None, run_id: str, kind: str) -> None:
    """Tag a foreign-experiment launcher and the run it started with each other's ids."""
    if launcher is None or launcher.run_id == run_id:
        return
    client.set_tag(launcher.run_id, "medseglab.kind", "launcher")
    client.set_tag(launcher.run_id, f"medseglab.{kind}_run_id", run_id)
    client.set_tag(run_id, "medseglab.launcher_run_id", launcher.run_id)
