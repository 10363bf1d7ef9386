"""Manifests for split tests: tiny synthetic ones and the real groupings in ../shared/datasets."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets"


def synthetic_manifest(n_images: int, n_groups: int | None = None, seed: int = 0, labels=("benign", "malignant")):
    """n_images images in n_groups groups of random sizes (one image per group when None)."""
    rng = np.random.default_rng(seed)
    if n_groups is None:
        groups = np.arange(n_images)
    else:
        groups = np.concatenate([np.arange(n_groups), rng.integers(0, n_groups, n_images - n_groups)])
    return pd.DataFrame(
        {
            "image_id": [f"img{i:05d}" for i in range(n_images)],
            "group_id": [f"case{g:04d}" for g in groups],
            "clinical_label": rng.choice(list(labels), n_images),
        }
    )


@pytest.fixture
def manifest_factory():
    return synthetic_manifest


@pytest.fixture(scope="session")
def kits_manifest(shared_dataset):
    """The 41 real KiTS19 slices of ../shared/datasets, grouped by their 19 cases."""
    file = shared_dataset("kits19/slices/manifest.csv", root=SHARED)
    table = pd.read_csv(file)
    return pd.DataFrame(
        {
            "image_id": table["name"].astype(str),
            "group_id": table["kits19_case"].astype(str),
            "clinical_label": np.where(table["labels_present"].str.contains("2"), "tumor", "kidney only"),
        }
    )


@pytest.fixture(scope="session")
def glas_manifest(shared_dataset):
    """The 45 real GlaS images, grouped by patient, labelled benign/malignant."""
    file = shared_dataset("glas/manifest.csv", root=SHARED)
    table = pd.read_csv(file)
    return pd.DataFrame(
        {
            "image_id": table["name"].astype(str),
            "group_id": table["patient_id"].astype(str),
            "clinical_label": table["grade_glas"].astype(str).str.strip(),
        }
    )
