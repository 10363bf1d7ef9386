"""benchmarks/precision_throughput.py end to end on a few real ISIC images at 32x32: one line and one
table row per mode, ratios to fp32, and the test Dice after the same steps."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "precision_throughput.py"


@pytest.mark.slow
def test_tiny_run_prints_a_row_per_mode(shared_dataset, tmp_path):
    source = shared_dataset("isic2018")
    done = subprocess.run([sys.executable, str(SCRIPT), "--source", str(source), "--images", "10", "--size", "32",
                           "--epochs", "1", "--init", "lmi", "--modes", "fp32,bf16", "--workdir", str(tmp_path)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "ISIC 2018: 10 images at 32x32" in out, out
    # mode | precision | XLA | images/s | x fp32 | CPU s/image | speed-up by CPU s | first epoch s | Dice | loss
    rows = {m.group(1): m for m in re.finditer(
        r"^\s*(fp32|bf16) \|\s+(\S+) \|\s+false \|\s+([\d.]+) \|\s+([\d.]+) \|\s+([\d.]+) \|\s+([\d.]+) \|"
        r"\s+[\d.]+ \|\s+([\d.]+|nan) \|", out, re.M)}
    assert set(rows) == {"fp32", "bf16"}, out
    assert rows["fp32"].group(2) == "float32" and rows["bf16"].group(2) == "mixed_bfloat16"
    assert float(rows["fp32"].group(4)) == 1.0 and float(rows["fp32"].group(6)) == 1.0
    assert float(rows["bf16"].group(3)) > 0 and float(rows["bf16"].group(5)) > 0
    assert "test Dice after" in out

    bad = subprocess.run([sys.executable, str(SCRIPT), "--source", str(source), "--modes", "fp8"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert bad.returncode == 2 and "unknown mode(s) ['fp8']" in bad.stderr
    order = subprocess.run([sys.executable, str(SCRIPT), "--source", str(source), "--modes", "fp32-det,fp32"],
                           capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert order.returncode == 2 and "put the modes with op determinism (fp32-det) last" in order.stderr
