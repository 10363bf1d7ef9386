"""Paths and the environment that tests launching `medseglab` subprocesses share.

A plain module with a name of its own: ``from conftest import ...`` resolves to whichever of the
suite's conftest.py files was imported first under that name (in the full suite, tests/models/'s),
so shared helpers live here and tests/conftest.py re-exports them."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEDSEGLAB = str(Path(sys.executable).with_name("medseglab"))


def quiet_env(**extra) -> dict:
    return {**os.environ, "MEDSEGLAB_NO_PROGRESS": "1", "MEDSEGLAB_OFFLINE": "1", **extra}
