"""Fixtures of the dashboard tests: stores to show, the dashboard in a subprocess, a headless Chromium.

- ``fake_store``: a tracking store with one hand-made study run (no training; seconds), for the routes
  and the safety checks;
- ``serve``: ``medseglab dashboard`` on a free loopback port, stopped at the end of the test;
- ``tiny_study`` and ``browser`` are in tests/conftest.py (the study report's tests use them too).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shared_env import MEDSEGLAB, quiet_env  # tests/shared_env.py, shared with the report tests


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen | None = None, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError as exc:
            if getattr(exc, "code", None):  # an HTTP error is an answer (e.g. 403 with a token set)
                return
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    # SIGTERM, not SIGINT: a process started from a backgrounded shell inherits SIGINT ignored, and
    # each stop then waited the full 15 s (minutes of an idle CI run); decisions are committed already
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def in_app_get():
    """``in_app_get(client, path, headers=None)``: a Flask test client's GET, in a thread of its own. Dash
    sets its current app (a context variable) while it serves a request; in the test's thread that would
    outlive the test, and a later test's create_app would register its pages' redirects on this app."""
    from concurrent.futures import ThreadPoolExecutor

    def get(client, path: str, headers: dict | None = None):
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(client.get, path, headers=headers or {}).result()

    return get


@pytest.fixture
def serve(tmp_path):
    """``serve(uri, token=None, queue=None, host="127.0.0.1")`` -> base URL of a running dashboard."""
    procs = []

    def start(uri: str, *, token: str | None = None, queue: Path | None = None, cwd: Path | None = None,
              extra: tuple = ()) -> str:
        port = free_port()
        env = quiet_env(MLFLOW_TRACKING_URI=uri)
        env.pop("MEDSEGLAB_DASHBOARD_TOKEN", None)
        if token:
            env["MEDSEGLAB_DASHBOARD_TOKEN"] = token
        cmd = [MEDSEGLAB, "dashboard", "--port", str(port), "--tracking-uri", uri, *extra]
        if queue is not None:
            cmd += ["--queue", str(queue)]
        log = open(tmp_path / f"dashboard-{port}.log", "wb")
        proc = subprocess.Popen(cmd, cwd=cwd or tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
        procs.append(proc)
        wait_http(f"http://127.0.0.1:{port}/login" if token else f"http://127.0.0.1:{port}/", proc)
        return f"http://127.0.0.1:{port}"

    start.stop_all = lambda: [stop(p) for p in procs]
    yield start
    for proc in procs:
        stop(proc)


class Page:
    """A browser page that records console errors and failed requests."""

    def __init__(self, browser, base: str):
        self.base = base
        self.page = browser.new_page(viewport={"width": 1400, "height": 900})
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"{self.page.url}: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"{self.page.url}: {e}"))

    def open(self, path: str, settle_ms: int = 800):
        self.page.goto(self.base + path)
        self.page.wait_for_load_state("networkidle")
        self.page.wait_for_timeout(settle_ms)
        return self.page

    def choose(self, dropdown_id: str, option: str, settle_ms: int = 800):
        """Pick ``option`` (its label) in the Dash dropdown ``dropdown_id``."""
        self.page.locator(f"#{dropdown_id}").click()
        self.page.get_by_role("option", name=option, exact=True).click()
        self.page.wait_for_load_state("networkidle")
        self.page.wait_for_timeout(settle_ms)

    def broken_images(self) -> list[str]:
        """The <img> sources on the page that did not load."""
        return self.page.evaluate("Array.from(document.images).filter(i => i.complete && i.naturalWidth === 0)"
                                  ".map(i => i.src)")

    def close(self):
        self.page.close()


@pytest.fixture
def open_page(browser):
    pages = []

    def make(base: str) -> Page:
        page = Page(browser, base)
        pages.append(page)
        return page

    yield make
    for page in pages:
        page.close()


# --- stores -------------------------------------------------------------------------------------


def _png(path: Path, array: np.ndarray) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def per_image_table(n: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for init in ("lmi", "tii"):
        for i in range(n):
            rows.append({"image_id": f"img{i:02d}", "group_id": f"img{i:02d}",
                         "clinical_label": "benign" if i % 2 else "malignant", "dataset": "skin", "init": init,
                         "split": 0, "ratio": 80, "repeat": 0, "run_id": f"fake-{init}",
                         **{m: float(rng.uniform(0.6, 1.0)) for m in ("auroc_mask", "dice", "sensitivity",
                                                                     "specificity", "auroc_prob")}})
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def make_per_image():
    """``make_per_image(n)``: a per-image table of n images, one LMI and one TII training."""
    return per_image_table


@pytest.fixture
def fake_store(tmp_path, mlflow_db_template):
    """A store with one finished study run: a picture artifact, the per-image table, and a symlink in its
    artifact folder that points at a secret outside it. Returns a dict of uri, run id, paths."""
    from mlflow.tracking import MlflowClient

    folder = tmp_path / "store"
    folder.mkdir()
    shutil.copy(mlflow_db_template, folder / "mlflow.db")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("medseglab/skin", artifact_location=(folder / "mlartifacts" / "skin").as_uri())
    run = client.create_run(exp, run_name="study-skin-demo-fake",
                            tags={"medseglab.kind": "study", "medseglab.dataset": "skin", "medseglab.profile": "demo"})
    rid = run.info.run_id
    for key, value in {"format": "synthetic", "splits": "[0]", "repeats": "[0]", "inits": '["tii", "lmi"]',
                       "ratios": "[80]"}.items():
        client.log_param(rid, key, value)
    staging = tmp_path / "staging"
    _png(staging / "explain" / "pic.png", np.full((40, 60, 3), 200, np.uint8))
    client.log_artifacts(rid, str(staging / "explain"), "explain")
    per_image_table().to_parquet(staging / "per_image.parquet")
    client.log_artifact(rid, str(staging / "per_image.parquet"), "study")
    client.set_terminated(rid)
    secret = _png(tmp_path / "secret.png", np.zeros((8, 8, 3), np.uint8))
    art = folder / "mlartifacts" / "skin" / rid / "artifacts"
    (art / "explain" / "leak.png").symlink_to(secret)
    (art / "explain" / "up").symlink_to(tmp_path)
    return {"uri": uri, "run_id": rid, "folder": folder, "artifacts": art, "secret": secret}


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory, mlflow_server_in):
    """A real `mlflow server` on a free loopback port (SQLite backend, artifacts proxied into its own
    folder): ``{"url", "root", "port"}``."""
    with mlflow_server_in(tmp_path_factory.mktemp("dashboard-mlflow-server")) as server:
        yield server
