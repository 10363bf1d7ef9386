"""Fixtures for the models tests: offline, no real Keras cache, tiny inputs."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def isolated_weights(monkeypatch, tmp_path):
    """No download, and a Keras cache that is an empty temporary folder, whatever this machine holds."""
    from medseglab.models import weights

    cache = tmp_path / "keras_home" / "models" / weights.IMAGENET_FILE
    monkeypatch.setenv("MEDSEGLAB_OFFLINE", "1")
    monkeypatch.setenv("MEDSEGLAB_NO_PROGRESS", "1")
    monkeypatch.setattr(weights, "keras_cache_candidates", lambda: [cache])
    weights.clear_backbone_cache()
    yield cache
    weights.clear_backbone_cache()


@pytest.fixture
def images():
    """Two raw RGB images, 32x32, float32 in 0..255."""
    return np.random.default_rng(0).uniform(0, 255, size=(2, 32, 32, 3)).astype("float32")
