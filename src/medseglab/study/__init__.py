"""study stage: the grid of trainings of one dataset as nested MLflow runs under one parent run.

    from medseglab.study import run_study
    result = run_study(params, "skin", profile="demo")   # result.table: the per-study per-image table
"""

from __future__ import annotations

import importlib

_LAZY = {
    "run_study": "medseglab.study.study",
    "StudyResult": "medseglab.study.study",
    "study_summary": "medseglab.study.study",
    "study_config": "medseglab.study.inputs",
    "ensure_splits": "medseglab.study.inputs",
    "grid": "medseglab.study.inputs",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'medseglab.study' has no attribute {name!r}")
