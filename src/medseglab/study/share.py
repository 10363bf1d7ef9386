"""A study's inputs (prepared dataset, split table) shared through a DVC remote, for Ray workers.

The driver pushes each input folder to the DVC remote (``ray.data_remote``: a folder by default,
``s3://...`` for S3 / MinIO) and gets a small pointer: the folder's ``.dvc`` file (DVC's md5 of the
folder) with the medseglab hash it must have. A worker uses its own copy when it has one with that
hash (its checkout's ``data/prepared/<name>``, or an earlier pull), else pulls the pointer with
``dvc pull`` and checks the hash again: nothing assumes a disk shared between machines.

DVC needs a metafile per pushed folder and refuses one inside a git-ignored folder, and the
project's own ``dvc.lock`` is not shared (pipelines/README.md). So the pointers live in a small
DVC repository without git, ``.medseglab/dvc-share/`` (git-ignored; DVC treats it as a sub-repo
of the project and leaves it out of the pipeline).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

from medseglab.errors import ConfigError, DataError

SHARE_DIR = Path(".medseglab") / "dvc-share"
REMOTE_NAME = "medseglab"
DEFAULT_REMOTE = Path(".medseglab") / "dvc-remote"
DVC_TIMEOUT_S = 3600


@dataclasses.dataclass(frozen=True)
class SharedFolder:
    """One input folder as the driver pushed it."""

    label: str         # e.g. prepared-skin-0123456789ab: the folder's name in a worker's share repo
    info_file: str     # dataset.json | splits.json, whose "content_hash" identifies the content
    content_hash: str
    local_path: str    # where the driver has it (relative to the project when inside it: a node's checkout may too)
    pointer: str       # the text of the .dvc file DVC wrote for it


@dataclasses.dataclass(frozen=True)
class SharedInputs:
    remote: dict            # {"url": ..., "endpointurl": ...}: the DVC remote, as workers must reach it
    prepared: SharedFolder
    splits: SharedFolder


def remote_settings(params: dict, project: Path) -> dict:
    """The DVC remote of ``ray.data_remote`` (a relative folder resolves against the project)."""
    section = params.get("ray") or {}
    url = str(section.get("data_remote") or DEFAULT_REMOTE)
    if "://" not in url and not Path(url).is_absolute():
        url = str((project / url).resolve())
    endpoint = section.get("data_remote_endpoint")
    return {"url": url, "endpointurl": str(endpoint) if endpoint else None}


def _hash_of(folder: Path, info_file: str) -> str | None:
    try:
        return str(json.loads((folder / info_file).read_text())["content_hash"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _dvc(repo: Path, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, capture_output=True, text=True,
                            timeout=DVC_TIMEOUT_S, env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip()[-1500:]
        raise DataError(f"`dvc {' '.join(args)}` in {repo} failed ({result.returncode}): {tail}; check the DVC "
                        "remote (params ray.data_remote / data_remote_endpoint, credentials in AWS_* for S3)")
    return result.stdout


@contextlib.contextmanager
def share_repo(project: Path, remote: dict):
    """The project's pointer repository (created when missing), its remote set to ``remote``, held under
    an exclusive lock: tasks of one node pull one at a time."""
    repo = project / SHARE_DIR
    repo.mkdir(parents=True, exist_ok=True)
    with open(repo.parent / "dvc-share.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            if not (repo / ".dvc").is_dir():
                _dvc(repo, "init", "--no-scm", "--quiet")
                _dvc(repo, "config", "cache.type", "reflink,hardlink,copy")  # a pulled folder is only read
            _dvc(repo, "remote", "add", "--force", "--default", REMOTE_NAME, remote["url"])
            if remote.get("endpointurl"):
                _dvc(repo, "remote", "modify", REMOTE_NAME, "endpointurl", remote["endpointurl"])
            yield repo
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _relative(folder: Path, project: Path) -> str:
    folder = folder.resolve()
    try:
        return str(folder.relative_to(project.resolve()))
    except ValueError:
        return str(folder)


def push_folder(repo: Path, folder: Path, kind: str, name: str, info_file: str, project: Path) -> SharedFolder:
    content_hash = _hash_of(folder, info_file)
    if content_hash is None:
        raise DataError(f"{folder / info_file}: missing or without content_hash; prepare the data again "
                        "(`medseglab prepare` / `medseglab split`) before sharing it")
    label = f"{kind}-{name}-{content_hash[:12]}"
    # Straight into the remote (objects it already has are not sent again); the .dvc file is the pointer.
    _dvc(repo, "add", "--quiet", "--force", str(folder.resolve()), "--to-remote", "--out", label)
    return SharedFolder(label, info_file, content_hash, _relative(folder, project), (repo / f"{label}.dvc").read_text())


def push_inputs(params: dict, prepared_root: Path, splits_dir: Path, name: str, project: Path = Path(".")) -> SharedInputs:
    """Push the study's prepared dataset and split table to the DVC remote; the pointers workers pull."""
    project = Path(project).resolve()
    remote = remote_settings(params, project)
    if "://" not in remote["url"]:
        Path(remote["url"]).mkdir(parents=True, exist_ok=True)
    with share_repo(project, remote) as repo:
        prepared = push_folder(repo, Path(prepared_root), "prepared", name, "dataset.json", project)
        splits = push_folder(repo, Path(splits_dir), "splits", name, "splits.json", project)
    return SharedInputs(remote, prepared, splits)


def local_folder(item: SharedFolder, project: Path) -> Path:
    """The folder with ``item``'s content on this machine, pulled from the remote when this checkout
    has no copy with its hash."""
    project = Path(project).resolve()
    candidates = [Path(item.local_path) if Path(item.local_path).is_absolute() else project / item.local_path,
                  project / SHARE_DIR / item.label]
    for folder in candidates:
        if _hash_of(folder, item.info_file) == item.content_hash:
            return folder
    raise FileNotFoundError(item.label)


def fetch(shared: SharedInputs, project: Path = Path(".")) -> tuple[Path, Path, list[str]]:
    """(prepared folder, splits folder, labels pulled) on this machine for ``shared``."""
    project = Path(project).resolve()
    found, pulled = [], []
    for item in (shared.prepared, shared.splits):
        try:
            found.append(local_folder(item, project))
            continue
        except FileNotFoundError:
            pass
        with share_repo(project, shared.remote) as repo:
            (repo / f"{item.label}.dvc").write_text(item.pointer)
            _dvc(repo, "pull", "--quiet", f"{item.label}.dvc")
        folder = repo / item.label
        got = _hash_of(folder, item.info_file)
        if got != item.content_hash:
            raise DataError(f"{folder}: pulled from DVC remote {shared.remote['url']} with content_hash {got}, "
                            f"expected {item.content_hash}; push the study's inputs again from the driver")
        found.append(folder)
        pulled.append(item.label)
    return found[0], found[1], pulled


def check_remote_reachable(remote: dict, remote_nodes: bool) -> None:
    """A folder remote on a multi-machine cluster must be a mount every node has at that path."""
    if remote_nodes and "://" not in remote["url"] and not os.environ.get("MEDSEGLAB_SHARED_MOUNT"):
        raise ConfigError(
            f"ray.data_remote {remote['url']} is a folder of this machine, and the Ray cluster has nodes on "
            "other machines: set ray.data_remote to s3://bucket/path (MinIO: also ray.data_remote_endpoint), or, "
            "if that folder is a shared mount at the same path on every node, set MEDSEGLAB_SHARED_MOUNT=1")
