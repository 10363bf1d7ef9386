"""Fixtures of the tuning tests: tiny tuning settings and a real PostgreSQL server."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# A 16-image 32x32 synthetic skin set; a trial fits 1-2 epochs on the fit part of split 0's train set.
TINY = [
    "datasets.skin.n_images=16",
    "profiles.demo.image_size=[32,32]",
    "train.val_fraction=0.25",
    "tune.heartbeat_s=1",
    "tune.grace_s=3",
    "tune.space={train.learning_rate: {type: float, low: 0.05, high: 1.0, log: true}, "
    "epochs: {type: int, low: 1, high: 2}, train.augment.hflip: {type: categorical, choices: [false, true]}}",
]


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("MEDSEGLAB_NO_PROGRESS", "1")
    monkeypatch.setenv("MEDSEGLAB_OFFLINE", "1")


def tiny_params(*extra: str) -> dict:
    from medseglab.config import load_params

    return load_params(ROOT / "params.yaml", [*TINY, *extra])


def set_args(*extra: str) -> list[str]:
    return [arg for item in (*TINY, *extra) for arg in ("--set", item)]


def project(folder: Path, template: Path) -> dict:
    """A project folder (params.yaml, an empty MLflow store) and the environment of its launches."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "params.yaml", folder / "params.yaml")
    shutil.copy(template, folder / "mlflow.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "RAY_"))}
    env.update(MLFLOW_TRACKING_URI=f"sqlite:///{folder / 'mlflow.db'}", MEDSEGLAB_OFFLINE="1",
               MEDSEGLAB_NO_PROGRESS="1", TF_CPP_MIN_LOG_LEVEL="2")
    return env


def _postgres_bin(name: str, required_tool) -> str:
    """A PostgreSQL program: on PATH, else Debian's /usr/lib/postgresql/<version>/bin (the `postgresql`
    package does not put initdb on PATH); `required_tool` skips, or fails under CI, when neither has it."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    return found or required_tool(name)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url(required_tool):
    """A real PostgreSQL server on a free loopback port for this session (initdb in a temp folder,
    trust auth), stopped and removed at the end; yields its SQLAlchemy URL. PostgreSQL refuses to
    run as root, so under root it runs as `nobody`."""
    initdb = _postgres_bin("initdb", required_tool)
    pg_ctl = str(Path(initdb).with_name("pg_ctl"))
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="medseglab-pg-"))
    if os.geteuid() == 0:
        as_user = [required_tool("runuser"), "-u", "nobody", "--"]
        shutil.chown(folder, "nobody")
    data, port = folder / "data", _free_port()
    try:
        subprocess.run([*as_user, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True, timeout=120)
        options = f"-p {port} -h 127.0.0.1 -k {folder} -c fsync=off -c max_connections=50"
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-l", str(folder / "server.log"), "-o", options, "-w",
                        "-t", "60", "start"], check=True, capture_output=True, timeout=120)
    except subprocess.CalledProcessError as exc:
        log = (folder / "server.log").read_text() if (folder / "server.log").exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {exc.stderr.decode(errors='replace')[-2000:]}\n{log[-2000:]}")
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"], capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)
