import numpy as np
import pandas as pd
import pytest

METRICS = ("auroc_mask", "dice", "sensitivity", "specificity", "auroc_prob")


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("MEDSEGLAB_NO_PROGRESS", "1")


def table_from_values(values: dict, *, dataset="skin", split=0, ratio=80, repeat=0, labels=None) -> pd.DataFrame:
    """A per-image table from {init: {metric: array}} (one repeat); metrics not given are copied from dice."""
    rows = []
    for init, metrics in values.items():
        n = len(next(iter(metrics.values())))
        frame = pd.DataFrame({
            "image_id": [f"img{i}" for i in range(n)],
            "group_id": [f"img{i}" for i in range(n)],
            "clinical_label": labels if labels is not None else ["unknown"] * n,
            "dataset": dataset, "init": init, "split": split, "ratio": ratio, "repeat": repeat,
            "run_id": f"{init}-{split}-{ratio}-{repeat}",
        })
        for m in METRICS:
            frame[m] = np.asarray(metrics.get(m, metrics["dice"]), dtype=float)
        rows.append(frame)
    return pd.concat(rows, ignore_index=True)


@pytest.fixture
def make_table():
    return table_from_values
