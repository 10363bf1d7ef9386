"""Telling a live writer from a dead one: pid + host + process start time."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from medseglab.procs import identity, pid_alive, proc_start, writer_alive


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_this_process_is_alive_and_a_finished_one_is_not():
    me = identity()
    assert me["pid"] == str(os.getpid()) and me["host"] == socket.gethostname()
    assert writer_alive(me)
    assert not writer_alive({**me, "pid": str(dead_pid())})


def test_a_reused_pid_is_not_the_writer():
    me = identity()
    if not me["start"]:
        return  # no /proc: start times cannot be compared here
    assert not pid_alive(os.getpid(), str(int(me["start"]) + 1))
    assert proc_start(os.getpid()) == me["start"]


def test_another_host_or_an_unreadable_record_counts_as_alive():
    assert writer_alive({"pid": str(dead_pid()), "host": "some-other-host", "start": "1"})
    assert writer_alive({"host": socket.gethostname()})
    assert writer_alive({"pid": "x", "host": socket.gethostname()})
