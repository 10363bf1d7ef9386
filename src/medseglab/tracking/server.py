"""A loopback `mlflow server` over a local store, for as long as a block runs.

Many processes cannot safely write one SQLite file from many machines, and even on one machine a
Ray study's trainings are separate processes: they write through a tracking server instead. When the
project's store is a local ``sqlite:`` file, :func:`loopback_server` serves it on 127.0.0.1 for the
study's duration (artifacts proxied into the artifact root); on a cluster the team runs its own
server (PostgreSQL + MinIO, deploy/mlflow) and sets ``MLFLOW_TRACKING_URI``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Iterator

from medseglab.errors import TrackingError

START_TIMEOUT_S = 180.0


def free_port(host: str = "127.0.0.1") -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen, log_path: Path, timeout_s: float = START_TIMEOUT_S) -> None:
    """Return once ``url``/health answers 200; TrackingError (with the log's tail) if the server exits
    or does not answer within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log_path.read_text(errors="replace")[-1500:] if log_path.is_file() else ""
            raise TrackingError(f"mlflow server for {url} did not come up (log {log_path}):\n{tail}")
        time.sleep(0.5)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (the server and its uvicorn workers), SIGKILL after 30 s."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextlib.contextmanager
def mlflow_server(backend_uri: str, artifacts: str | Path, *, host: str = "127.0.0.1", port: int | None = None,
                  log_path: str | Path | None = None, cwd: str | Path | None = None) -> Iterator[str]:
    """Run `mlflow server --backend-store-uri backend_uri --serve-artifacts --artifacts-destination
    artifacts` on ``host``:``port`` (a free port when None); yield its URL; stop it on exit."""
    port = port or free_port(host)
    with contextlib.ExitStack() as stack:
        if log_path is None:
            log_path = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="medseglab-mlflow-"))) / "server.log"
        log_path = Path(log_path)
        log = stack.enter_context(open(log_path, "wb"))
        command = [str(Path(sys.executable).with_name("mlflow")), "server", "--backend-store-uri", backend_uri,
                   "--serve-artifacts", "--artifacts-destination", str(artifacts), "--host", host,
                   "--port", str(port), "--workers", "1"]
        if not Path(command[0]).is_file():
            command[:1] = [sys.executable, "-m", "mlflow"]
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                cwd=str(cwd) if cwd else None)
        try:
            url = f"http://{host}:{port}"
            wait_healthy(url, proc, log_path)
            yield url
        finally:
            stop(proc)


@contextlib.contextmanager
def loopback_server(store_uri: str, artifact_root: str | Path) -> Iterator[str]:
    """A server on 127.0.0.1 over the local store ``store_uri`` (``sqlite:///...``), artifacts of new
    experiments proxied into ``artifact_root``; yields its URL. The store must exist already (the
    caller opened it with ``open_client``, which created and migrated it under its lock)."""
    from medseglab.tracking.store import sqlite_path

    db = sqlite_path(store_uri)
    if db is None:
        raise TrackingError(f"tracking URI {store_uri}: a loopback server serves a local sqlite:/// store only; "
                            "for another store run `mlflow server` yourself and set MLFLOW_TRACKING_URI to it")
    backend = f"sqlite:///{db.resolve()}"
    with mlflow_server(backend, Path(artifact_root).resolve()) as url:
        yield url
