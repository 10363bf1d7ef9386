"""benchmarks/dashboard_latency.py --quick end to end: a 24-run store, `medseglab dashboard` in a
subprocess, first renders in headless Chromium, 5 loopback clients, the table with targets."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "dashboard_latency.py"
PAGES = ("/", "/statistics", "/depletion", "/distributions", "/image", "/splits", "/gradcam", "/ensemble", "/umap",
         "/review", "/registry")


@pytest.mark.slow
def test_quick_run_prints_every_measure(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--store", str(tmp_path)],
                          capture_output=True, text=True, timeout=400, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "24 training runs x 200 test images = 4,800 per-image rows" in out
    assert "ready (start-up reads done, /ready)" in out, out
    for page in PAGES:  # private window | browser profile
        assert re.search(rf"first render {re.escape(page)}\S* +\d+\.\d{{3}} s \| \d+\.\d{{3}} s ", out), out
    for bundle in ("cartesian", "full"):  # the one-graph Dash app, timed in both browsers
        assert re.search(rf"floor: 1-graph Dash app, {bundle} plotly.js +\d+\.\d{{3}} s \| \d+\.\d{{3}} s", out), out
    assert "5 clients, all" in out and "5 clients, callback" in out and "5 clients, image" in out
    assert "errors (HTTP >= 400, timeouts)                          0" in out, out
    marked = [line for line in out.splitlines() if line.startswith(("first render", "errors", "dashboard peak"))]
    assert len(marked) == len(PAGES) + 2 and all(("PASS" in line) or ("FAIL" in line) for line in marked), out
    # the same parameters reuse the store
    again = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--store", str(tmp_path), "--no-browser"],
                           capture_output=True, text=True, timeout=400, cwd=ROOT)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "(reused; built in" in again.stdout
