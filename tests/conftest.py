"""Fixtures shared by every test package."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def mlflow_db_template(tmp_path_factory):
    """An empty MLflow sqlite database, created once: creating one runs MLflow's migrations (seconds).
    Tests copy it to get a fresh tracking store."""
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


# --- the real samples in ../shared/datasets ------------------------------------------------

SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"  # beside the project


def in_ci() -> bool:
    """Whether this is a CI run (env ``CI``, as GitHub Actions, GitLab and most CI services set it)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_shared_dataset(name: str | os.PathLike = "", root: str | os.PathLike | None = None) -> Path:
    """The path of ``name`` under ../shared/datasets. When it is missing the test skips on a developer
    machine but FAILS under CI, so a CI run without the sample data cannot pass by skipping."""
    path = Path(root if root is not None else SHARED_DATASETS) / name
    if not path.exists():
        message = (f"sample data {path} not found: put the shared datasets beside the project "
                   f"(../shared/datasets, see README 'Weights and data')")
        if in_ci():
            pytest.fail(f"{message}; CI must run the tests that need it (CI={os.environ['CI']!r})", pytrace=False)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def shared_dataset():
    """``shared_dataset("isic2018")`` -> the sample's path; skips when it is missing, fails under CI."""
    return require_shared_dataset


def _reset_global_tracking_uri() -> None:
    """Forget MLflow's process-global tracking and registry URIs, keeping MLFLOW_TRACKING_URI as it is
    (MLflow's setters also write the variables, so it is put back)."""
    import sys

    if "mlflow" not in sys.modules:  # never imported: nothing can have been set
        return
    import mlflow

    env = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)
    if env is not None:
        os.environ["MLFLOW_TRACKING_URI"] = env


@pytest.fixture(autouse=True)
def _fresh_mlflow_tracking_uri(monkeypatch):
    """No test sees a tracking or registry URI another test set: MLflow's global URIs are cleared
    before and after each test; MLFLOW_TRACKING_URI is restored and MLFLOW_REGISTRY_URI (which
    mlflow.set_registry_uri writes and never clears) is put back as it was, so a subprocess a later
    test starts cannot register its models into an earlier test's store."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env is None:
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    else:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", env)
    registry = os.environ.get("MLFLOW_REGISTRY_URI")
    if registry is None:
        monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    else:
        monkeypatch.setenv("MLFLOW_REGISTRY_URI", registry)
    _reset_global_tracking_uri()
    yield
    _reset_global_tracking_uri()


@pytest.fixture(scope="session")
def required_tool():
    """``required_tool("git")`` -> the program's path; skips when it is not on PATH, fails under CI
    (like ``shared_dataset``: CI must not pass by skipping what it was meant to prove)."""
    import shutil

    def find(name: str) -> str:
        path = shutil.which(name)
        if path is None:
            message = f"{name} not found on PATH"
            if in_ci():
                pytest.fail(f"{message}; CI must run the tests that need it", pytrace=False)
            pytest.skip(message)
        return path

    return find


_STORE_NAMES = ("mlflow.db", "mlruns", "mlartifacts", "checkpoints")


@pytest.fixture(scope="session", autouse=True)
def _no_tracking_store_left_in_the_project():
    """Tests track into their own temporary stores: a test that falls back to MLflow's default
    (./mlflow.db, ./mlruns) in the project would mix its runs into a researcher's real store."""
    root = Path(__file__).resolve().parents[1]
    before = {name for name in _STORE_NAMES if (root / name).exists()}
    yield
    created = sorted(name for name in _STORE_NAMES if (root / name).exists() and name not in before)
    if created:
        pytest.fail(f"the test run created {created} in the project root {root}; a test tracked into the "
                    "default store instead of a temporary one (chdir to tmp_path or set the tracking URI)",
                    pytrace=False)


# --- a real `mlflow server` on loopback ------------------------------------------------------


@contextlib.contextmanager
def _running_mlflow_server(root: Path):
    """Start `mlflow server` (SQLite backend in ``root``, artifacts proxied into ``root/artifacts``) on a
    free loopback port; yield ``{"url", "root", "port"}``; stop it and its worker on exit."""
    from medseglab.tracking.server import mlflow_server

    with mlflow_server(f"sqlite:///{root / 'server.db'}", root / "artifacts", log_path=root / "server.log",
                       cwd=root) as url:
        yield {"url": url, "root": root, "port": int(url.rsplit(":", 1)[1])}


@pytest.fixture(scope="session")
def mlflow_server_in():
    """``with mlflow_server_in(root) as server:`` a real `mlflow server` over a store in ``root``; each
    test package starts its own, so their runs never meet."""
    return _running_mlflow_server


# --- a finished tiny study and a headless browser (the dashboard's and the study report's tests) ----

from shared_env import MEDSEGLAB, ROOT, quiet_env  # noqa: E402  (tests/shared_env.py: other test files import it)

CHROMIUM = os.environ.get("MEDSEGLAB_CHROMIUM", "/usr/bin/chromium")
TINY_STUDY = [
    "profiles.demo.image_size=[32,32]", "profiles.demo.epochs=1", "profiles.demo.splits=[0,1]",
    "profiles.demo.repeats=[0]", "datasets.skin.n_images=24", "train.val_fraction=0",
    "profiles.demo.depletion={ratios: [40], splits: [0], repeats: [0]}", "stats.bootstrap=200",
]


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory, mlflow_db_template):
    """A finished tiny study (2 splits x 1 repeat x 2 inits at 32x32, 1 epoch, plus one depleted ratio)
    with stats, ensemble and explain, via `medseglab study --analyze` (slow; built once per session)."""
    import shutil

    folder = tmp_path_factory.mktemp("dashboard-study")
    shutil.copy(mlflow_db_template, folder / "mlflow.db")
    shutil.copy(ROOT / "params.yaml", folder / "params.yaml")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    cmd = [MEDSEGLAB, "study", "--dataset", "skin", "--analyze"] + [a for s in TINY_STUDY for a in ("--set", s)]
    done = subprocess.run(cmd, cwd=folder, env=quiet_env(MLFLOW_TRACKING_URI=uri), capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    study = [r for r in client.search_runs([client.get_experiment_by_name("medseglab/skin").experiment_id],
                                           "tags.`medseglab.kind` = 'study'")][0]
    return {"uri": uri, "folder": folder, "run_id": study.info.run_id}


@pytest.fixture(scope="session")
def browser():
    """Playwright's Chromium from /usr/bin/chromium (Playwright downloads no browser here)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: `make setup` installs Debian's chromium (apt-get install chromium)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()
