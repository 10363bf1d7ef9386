"""The dashboard over a real `mlflow server` (http://, artifacts proxied by --serve-artifacts) shows a study
run against that server as it shows a sqlite:/// store: every read goes through MLflow's API."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a tiny study (2 trainings) through the server

ROOT = Path(__file__).resolve().parents[2]
TINY = ["profiles.demo.image_size=[32,32]", "profiles.demo.epochs=1", "profiles.demo.splits=[0]",
        "profiles.demo.repeats=[0]", "profiles.demo.depletion=null", "datasets.skin.n_images=16",
        "train.val_fraction=0"]


def test_the_dashboard_renders_a_study_from_an_mlflow_server(mlflow_server, tmp_path, serve, open_page):
    url = mlflow_server["url"]
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    # artifacts through the server's proxy, whatever the client's default root
    sets = [*TINY, f"tracking.artifact_root=mlflow-artifacts://127.0.0.1:{mlflow_server['port']}"]
    env = {**os.environ, "MLFLOW_TRACKING_URI": url, "MEDSEGLAB_NO_PROGRESS": "1", "MEDSEGLAB_OFFLINE": "1"}
    done = subprocess.run([str(Path(sys.executable).with_name("medseglab")), "study", "--dataset", "skin",
                           *[a for s in sets for a in ("--set", s)]], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not (tmp_path / "mlartifacts").exists()  # nothing went to a local artifact folder

    page = open_page(serve(url, cwd=tmp_path))
    p = page.open("/", settle_ms=1500)
    grid = p.locator("#studies-grid").inner_text()
    assert "SYNTHETIC demo data" in grid and "FINISHED" in grid
    assert p.locator("#studies-grid a").first.get_attribute("href").startswith(f"{url}/#/experiments/")
    p = page.open("/distributions", settle_ms=2000)
    assert p.locator("#dist-violin g.points path.point").count() > 0
    p.locator("#dist-violin g.points path.point").first.click(force=True)
    p.wait_for_url("**/image?*", timeout=30_000)
    p.wait_for_load_state("networkidle")
    p.wait_for_timeout(2000)
    alts = p.locator("#image-body img").evaluate_all("imgs => imgs.map(i => i.alt)")
    assert any(a.endswith("mask") for a in alts) and any("overlay" in a for a in alts), alts
    assert not page.broken_images(), page.broken_images()  # masks come from probabilities.npz via the server
    for path in ("/statistics", "/splits", "/registry"):
        page.open(path)
    assert not page.errors, page.errors
