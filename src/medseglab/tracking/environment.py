"""Where a study ran: code commit, package versions, machine and accelerator, as MLflow tags
``medseglab.env.<key>`` (``environment_tags()``: what a run records), and what the study report reads
back from a study's runs (``recorded``), with the hardware tags trainings set (``training.acceleration``)."""

from __future__ import annotations

import functools
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Iterable

PREFIX = "medseglab.env."
PACKAGES = ("medseglab", "tensorflow", "keras", "mlflow", "numpy", "pandas", "scipy", "scikit-learn", "umap-learn")
GIT_COMMIT_TAG = "mlflow.source.git.commit"  # what MLflow itself records for a run started from a git checkout
# What a training records about its hardware (training.acceleration: medseglab.<name>), shown beside these.
TRAINING_TAGS = ("device", "precision", "distribute", "replicas", "jit_compile")


@functools.lru_cache(maxsize=None)  # a process's packages do not change under it
def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def code_commit(folder: str | os.PathLike | None = None) -> str:
    """The git commit of the code (``<sha>``, ``<sha>+uncommitted changes``), or "unknown" outside a checkout."""
    return _commit(str(Path(folder or Path(__file__).resolve().parent)))


@functools.lru_cache(maxsize=8)  # once per process: every training start asks
def _commit(folder: str) -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10)
        if sha.returncode != 0:
            return "unknown (not a git checkout)"
        # GIT_OPTIONAL_LOCKS=0: status must not take the index lock a commit in the same checkout needs
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder,
                               capture_output=True, text=True, timeout=30, env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})
    except (OSError, subprocess.TimeoutExpired):
        return "unknown (git not available)"
    return sha.stdout.strip() + ("+uncommitted changes" if dirty.stdout.strip() else "")


def accelerator() -> str | None:
    """The GPUs TensorFlow sees, "none (CPU)", or None when TensorFlow is not loaded in this process
    (loading it only to look would cost seconds; the trainings, which load it, record theirs)."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return None
    try:
        gpus = tf.config.list_physical_devices("GPU")
        names = [tf.config.experimental.get_device_details(g).get("device_name") or g.name for g in gpus]
    except Exception as exc:  # noqa: BLE001 - a label: a driver problem must not fail a training
        return f"unknown ({type(exc).__name__})"
    return ", ".join(names) if names else "none (CPU)"


def environment() -> dict[str, str]:
    """This process's environment, keys without the tag prefix."""
    env = {"code_commit": code_commit(), "python": platform.python_version(),
           **{f"version.{p}": _version(p) for p in PACKAGES},
           "host": socket.gethostname(), "platform": platform.platform(), "machine": platform.machine(),
           "cpus": str(os.cpu_count())}
    gpus = accelerator()
    if gpus is not None:
        env["accelerator"] = gpus
    return env


def environment_tags() -> dict[str, str]:
    """:func:`environment` as MLflow tags."""
    return {PREFIX + k: v for k, v in environment().items()}


def recorded(tag_sets: Iterable[dict[str, str]]) -> dict[str, dict[str, int]]:
    """Over runs' tags: environment key -> {value: number of runs}. The code commit MLflow records for a
    run started from a git checkout counts as ``code_commit`` when medseglab's own tag is absent."""
    found: dict[str, dict[str, int]] = {}
    for tags in tag_sets:
        env = {k[len(PREFIX):]: v for k, v in tags.items() if k.startswith(PREFIX)}
        env.update({f"training.{k}": tags[f"medseglab.{k}"] for k in TRAINING_TAGS if tags.get(f"medseglab.{k}")})
        if "code_commit" not in env and tags.get(GIT_COMMIT_TAG):
            env["code_commit"] = tags[GIT_COMMIT_TAG]
        for key, value in env.items():
            counts = found.setdefault(key, {})
            counts[value] = counts.get(value, 0) + 1
    return found
