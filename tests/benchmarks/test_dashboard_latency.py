"""benchmarks/dashboard_latency.py --quick end to end: a 24-run store, the app in a subprocess, first
renders in headless Chromium, 5 loopback clients, the table with targets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STUB = Path(__file__).with_name("stub_dashboard.py")


@pytest.mark.slow
def test_quick_run_prints_every_measure(tmp_path):
    command = f"{sys.executable} {STUB} --port {{port}}"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "dashboard_latency.py"), "--quick", "--store", str(tmp_path),
         "--command", command],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "24 training runs x 200 test images = 4,800 per-image rows" in out
    for page in ("/studies", "/gallery"):
        assert f"first render {page}" in out
    assert "5 clients, all" in out and "5 clients, callback" in out and "5 clients, image" in out
    assert "errors (HTTP >= 400, timeouts)" in out
    assert "dashboard peak resident memory (VmHWM)" in out
    lines = [line for line in out.splitlines() if line.startswith(("first render", "errors", "dashboard peak"))]
    assert all(("PASS" in line) or ("FAIL" in line) for line in lines)
    # a reused store is not built again
    again = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "dashboard_latency.py"), "--quick", "--store", str(tmp_path),
         "--command", command, "--no-browser"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "(reused; built in" in again.stdout
