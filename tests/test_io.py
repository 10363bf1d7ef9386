"""Atomic writes keep the old file when a write fails."""

import pandas as pd
import pytest

from medseglab.io import atomic_dir, atomic_path, sha256_bytes, sha256_file, write_parquet


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "table.parquet"
    write_parquet(target, pd.DataFrame({"a": [1]}))
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert pd.read_parquet(target)["a"].tolist() == [1]
    assert [p.name for p in tmp_path.iterdir()] == ["table.parquet"]


def test_atomic_dir_replaces_whole_or_not_at_all(tmp_path):
    target = tmp_path / "prepared"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("1")
    with pytest.raises(ValueError):
        with atomic_dir(target) as tmp:
            (tmp / "b.txt").write_text("2")
            raise ValueError("bad image")
    assert sorted(p.name for p in target.iterdir()) == ["a.txt"]
    with atomic_dir(target) as tmp:
        (tmp / "c.txt").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["c.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prepared"]


def test_sha256_file_matches_bytes(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"abc" * 1000)
    assert sha256_file(path, chunk=7) == sha256_bytes(b"abc" * 1000)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002])
def test_atomic_writes_end_with_the_umask_permissions(tmp_path, mask):
    """mkstemp/mkdtemp make 0600/0700; outputs must read like plain writes (issue: 0600 everywhere)."""
    import os

    old = os.umask(mask)
    try:
        write_parquet(tmp_path / "t.parquet", pd.DataFrame({"a": [1]}))
        with atomic_dir(tmp_path / "prepared") as tmp:
            (tmp / "x.txt").write_text("x")
        plain_file = tmp_path / "plain.txt"
        plain_file.write_text("p")
        plain_dir = tmp_path / "plain"
        plain_dir.mkdir()
    finally:
        os.umask(old)
    mode = lambda p: p.stat().st_mode & 0o777  # noqa: E731
    assert mode(tmp_path / "t.parquet") == mode(plain_file) == 0o666 & ~mask
    assert mode(tmp_path / "prepared") == mode(plain_dir) == 0o777 & ~mask


def test_atomic_path_keeps_the_mode_of_the_file_it_replaces(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("{}")
    target.chmod(0o640)
    with atomic_path(target) as tmp:
        tmp.write_text("{\"a\": 1}")
    assert target.stat().st_mode & 0o777 == 0o640


def test_temp_dir_is_not_private(tmp_path):
    from medseglab.io import temp_dir, umask

    with temp_dir(dir=tmp_path) as tmp:
        assert tmp.stat().st_mode & 0o777 == 0o777 & ~umask()
    assert not tmp.exists()


def _fake_temp(parent, name, writer, tag="abc123"):
    """A temporary folder as an atomic_dir killed mid-write leaves it."""
    import json

    from medseglab.io import WRITER_FILE

    folder = parent / f".{name}.{tag}.tmp"
    (folder / "images").mkdir(parents=True)
    if writer is not None:
        (folder / WRITER_FILE).write_text(json.dumps({"target": name, **writer}))
    return folder


def dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temp_of_a_dead_writer_is_removed_and_a_live_ones_kept(tmp_path):
    from medseglab.procs import identity

    me = identity()
    dead = _fake_temp(tmp_path, "skin", {**me, "pid": str(dead_pid())})
    alive = _fake_temp(tmp_path, "skin", me, "live")
    other_host = _fake_temp(tmp_path, "skin", {**me, "pid": str(dead_pid()), "host": "elsewhere"}, "remote")
    unknown = _fake_temp(tmp_path, "skin", None, "legacy")
    other_target = _fake_temp(tmp_path, "skin.v2", {**me, "pid": str(dead_pid())})
    with atomic_dir(tmp_path / "skin") as tmp:
        (tmp / "a.txt").write_text("1")
    assert not dead.exists()
    assert alive.exists() and other_host.exists() and unknown.exists() and other_target.exists()
    assert sorted(p.name for p in (tmp_path / "skin").iterdir()) == ["a.txt"]  # the writer record is not kept


def test_a_killed_atomic_dir_leaves_a_temp_the_next_write_removes(tmp_path):
    import subprocess
    import sys

    code = ("import os, sys; from medseglab.io import atomic_dir\n"
            "with atomic_dir(sys.argv[1]) as tmp:\n"
            "    (tmp / 'half.txt').write_text('x'); os._exit(9)\n")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "prepared")], check=False)
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".prepared.") and left[0].endswith(".tmp")
    with atomic_dir(tmp_path / "prepared") as tmp:
        (tmp / "whole.txt").write_text("y")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prepared"]


def test_a_kill_between_the_two_renames_keeps_the_old_version_and_leaves_no_temp(tmp_path):
    """atomic_dir replaces a folder with two renames; simulate a kill right between them."""
    import os

    from medseglab.io import restore_interrupted

    target = tmp_path / "prepared"
    with atomic_dir(target) as tmp:
        (tmp / "v1.txt").write_text("1")
    # the state a kill leaves: the new folder complete (writer record gone), the old one moved aside
    new = tmp_path / ".prepared.abc123.tmp"
    new.mkdir()
    (new / "v2.txt").write_text("2")
    os.replace(target, tmp_path / ".prepared.old")

    assert restore_interrupted(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prepared"]
    assert (target / "v1.txt").read_text() == "1"
