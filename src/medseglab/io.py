"""Atomic writes: a reader never sees a half-written file, and a failed write leaves the old one.

Temporary names come from ``tempfile``, which creates files 0600 and folders 0700; every output
ends with the permissions a plain write would have given it (the umask's, or the replaced file's),
so a teammate or a web server on the same machine can read what a stage wrote.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from medseglab.procs import identity, writer_alive


def umask() -> int:
    """The process umask, read without changing it where Linux allows (``/proc/self/status``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    old = os.umask(0o022)  # elsewhere: read it by setting it, then put it back at once
    os.umask(old)
    return old


def plain_permissions(path: str | os.PathLike, like: str | os.PathLike | None = None) -> None:
    """Give ``path`` the mode a plain ``open``/``mkdir`` would have: ``like``'s mode when that exists
    (a replaced file keeps its mode), else 0666/0777 less the umask."""
    path = Path(path)
    if like is not None and os.path.lexists(like):
        mode = os.stat(like).st_mode & 0o7777
    else:
        mode = (0o777 if path.is_dir() else 0o666) & ~umask()
    os.chmod(path, mode)


@contextlib.contextmanager
def temp_dir(prefix: str = "medseglab-", dir: str | os.PathLike | None = None) -> Iterator[Path]:
    """A temporary folder (removed afterwards) with plain permissions: what is staged in it and then
    copied elsewhere (MLflow's ``log_artifacts`` copies modes) is not left private."""
    with tempfile.TemporaryDirectory(prefix=prefix, dir=dir) as tmp:
        plain_permissions(tmp)
        yield Path(tmp)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            plain_permissions(tmp_path, like=target)
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


# Inside an atomic_dir temporary folder while it is written: who writes it (removed before the rename).
WRITER_FILE = ".medseglab-writer.json"


def remove_stale_temps(target: str | os.PathLike) -> list[Path]:
    """Remove the ``.<target name>.*.tmp`` folders beside ``target`` whose writer is dead.

    A writer killed mid-write (a ``prepare`` stopped with kill -9) leaves its temporary folder
    forever; the next write of the same target removes it. A folder without a readable writer
    record (another tool's, or one from before the record existed) or of a live writer, or one
    written on another host, is kept. Returns the removed folders.
    """
    target = Path(target)
    if not target.parent.is_dir():
        return []
    removed = []
    for path in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        try:
            writer = json.loads((path / WRITER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(writer, dict) or writer.get("target") != target.name or writer_alive(writer):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def restore_interrupted(target: str | os.PathLike) -> bool:
    """Put ``target`` back from ``.<name>.old`` when a replacing ``atomic_dir`` write was killed
    between its two renames (the old version moved aside, the new one not yet in place), so the
    previous version survives the kill. Returns whether it restored anything."""
    target = Path(target)
    old = target.with_name(f".{target.name}.old")
    if os.path.lexists(target) or not old.is_dir():
        return False
    try:
        os.replace(old, target)
    except FileNotFoundError:  # another reader restored it first
        return False
    # The killed write's folder: complete (its writer record is removed just before the renames),
    # so remove_stale_temps cannot tell it is dead; it lost the race with the kill and goes.
    for path in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        if path.is_dir() and not (path / WRITER_FILE).exists():
            shutil.rmtree(path, ignore_errors=True)
    return True


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside ``target``; it replaces ``target`` only if the block succeeds.

    The temporary folder records its writer (``WRITER_FILE``) so that a later write of the same
    target can remove it if this process is killed before it cleans up (``remove_stale_temps``).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    restore_interrupted(target)
    remove_stale_temps(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        (tmp / WRITER_FILE).write_text(json.dumps({"target": target.name, **identity()}))
        yield tmp
        (tmp / WRITER_FILE).unlink(missing_ok=True)
        plain_permissions(tmp, like=target if target.is_dir() else None)
        if target.exists():
            # Two renames, not one (a folder cannot replace a non-empty folder): a kill between
            # them leaves only .<name>.old, which restore_interrupted puts back.
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_json(path: str | os.PathLike, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_parquet(path: str | os.PathLike, frame) -> None:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def write_csv(path: str | os.PathLike, frame) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_bytes(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    return digest.hexdigest()
