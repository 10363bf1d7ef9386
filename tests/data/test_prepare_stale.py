"""A prepare killed midway leaves data/prepared/.<name>.*.tmp; the next prepare of that dataset removes it."""

from __future__ import annotations

import json
import subprocess
import sys

from medseglab.data import load_prepared, prepare_dataset
from medseglab.io import WRITER_FILE
from medseglab.procs import identity

from .helpers import make_cfg


def _left_by(parent, name, tag, writer):
    folder = parent / f".{name}.{tag}.tmp"
    (folder / "images").mkdir(parents=True)
    (folder / WRITER_FILE).write_text(json.dumps({"target": name, **writer}))
    return folder


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_prepare_removes_its_dead_writers_temps_and_keeps_live_ones(tmp_path):
    base = tmp_path / "data" / "prepared"
    me = identity()
    stale = _left_by(base, "skin", "killed", {**me, "pid": str(_dead_pid())})
    running = _left_by(base, "skin", "running", me)  # e.g. another prepare of this process, still writing
    other = _left_by(base, "kidney", "killed", {**me, "pid": str(_dead_pid())})  # not this dataset's
    cfg = make_cfg("synthetic", name="skin", modality="skin", n_images=2, image_size=(8, 8))
    ds = load_prepared(prepare_dataset(cfg, base / "skin"))
    assert len(ds) == 2
    assert not stale.exists()
    assert running.exists() and other.exists()


def test_a_prepare_killed_midway_is_cleaned_up_by_the_next(tmp_path):
    out = tmp_path / "prepared" / "skin"
    code = (
        "import os, sys\n"
        "from medseglab.data import prepare, prepare_dataset\n"
        "def die(*a, **k): os._exit(9)\n"
        "prepare.write_parquet = die  # killed after the images, before the manifest\n"
        "prepare_dataset({'name': 'skin', 'format': 'synthetic', 'modality': 'skin', 'n_images': 2,\n"
        "                 'image_size': [8, 8], 'options': {}}, sys.argv[1])\n"
    )
    subprocess.run([sys.executable, "-c", code, str(out)], check=False, env={"MEDSEGLAB_NO_PROGRESS": "1", "PATH": ""})
    left = [p.name for p in out.parent.iterdir()]
    assert len(left) == 1 and left[0].startswith(".skin.") and left[0].endswith(".tmp"), left
    cfg = make_cfg("synthetic", name="skin", modality="skin", n_images=2, image_size=(8, 8))
    prepare_dataset(cfg, out)
    assert [p.name for p in out.parent.iterdir()] == ["skin"]
