"""Is the process that wrote something still alive? (pid + host + start time, so a reused pid is not mistaken.)

Used for RUNNING MLflow runs (``medseglab.tracking.runs``) and for temporary folders of atomic
writes (``medseglab.io``) whose writer may have been killed.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def proc_start(pid: int) -> str | None:
    """Start time of a process (clock ticks since boot), or None where /proc has no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()[19]


def identity() -> dict[str, str]:
    """This process as ``{"pid", "host", "start"}`` (start is "" where /proc is missing)."""
    pid = os.getpid()
    return {"pid": str(pid), "host": socket.gethostname(), "start": proc_start(pid) or ""}


def pid_alive(pid: int, start: str | None) -> bool:
    """Whether process ``pid`` of this host still lives and is the one that started at ``start``
    (a recorded start that differs means the pid was reused by another process)."""
    now = proc_start(pid)
    if now is None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not start  # /proc lacks a pid that kill() finds: alive only if no start was recorded
    return now == (start or now)


def writer_alive(writer: dict) -> bool:
    """Whether the process an ``identity()`` dict describes still lives; a writer on another host
    counts as alive (we cannot tell), and so does a record we cannot read."""
    try:
        pid = int(writer["pid"])
    except (KeyError, TypeError, ValueError):
        return True
    if writer.get("host") != socket.gethostname():
        return True
    return pid_alive(pid, writer.get("start"))
