"""probabilities.npz: round trip, format, and errors that name the file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medseglab.data.errors import DataError
from medseglab.evaluation import per_image_metrics
from medseglab.evaluation.probabilities import load_probabilities, quantize, save_probabilities


def test_round_trip_within_half_a_level(tmp_path):
    rng = np.random.default_rng(0)
    prob = rng.random((5, 16, 24))
    prob[0, 0, :4] = [0.0, 1.0, 0.5, 0.5 / 255]  # ends, the threshold and a rounding tie
    ids = [f"img_{i:03d}" for i in range(5)]
    path = save_probabilities(tmp_path / "evaluation" / "probabilities.npz", ids, prob)
    assert path.is_file()
    got_ids, got = load_probabilities(path)
    assert got_ids.tolist() == ids and got_ids.dtype.kind == "U"
    assert got.dtype == np.float32 and got.shape == prob.shape
    # round(p * 255) / 255 is within 1/510; float32 storage of the level adds < 1e-7.
    assert np.abs(got.astype(np.float64) - prob).max() <= 1 / 510 + 1e-7
    assert got[0, 0, 0] == 0.0 and got[0, 0, 1] == 1.0
    assert [p.name for p in path.parent.iterdir()] == ["probabilities.npz"]  # no temp file left


def test_file_holds_the_contract_arrays(tmp_path):
    prob = np.linspace(0, 1, 2 * 3 * 4).reshape(2, 3, 4)
    path = save_probabilities(tmp_path / "p.npz", ["a", "b"], prob)
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.files) == ["image_ids", "prob"]
        assert archive["prob"].dtype == np.uint8
        np.testing.assert_array_equal(archive["prob"], np.rint(prob * 255).astype(np.uint8))
        assert archive["image_ids"].tolist() == ["a", "b"]


def test_metrics_of_loaded_maps_equal_metrics_of_stored_codes(tmp_path):
    rng = np.random.default_rng(1)
    gt = rng.random((3, 16, 16)) < 0.3
    prob = np.clip(0.2 + 0.6 * gt + rng.normal(0, 0.3, gt.shape), 0, 1)
    _, loaded = load_probabilities(save_probabilities(tmp_path / "p.npz", ["x", "y", "z"], prob))
    pd.testing.assert_frame_equal(per_image_metrics(loaded, gt), per_image_metrics(quantize(prob), gt))


def test_uint8_input_is_stored_as_is(tmp_path):
    codes = np.arange(16, dtype=np.uint8).reshape(1, 4, 4) * 17
    _, loaded = load_probabilities(save_probabilities(tmp_path / "p.npz", ["a"], codes))
    np.testing.assert_array_equal(np.rint(loaded * 255).astype(np.uint8), codes)


@pytest.mark.parametrize(
    "ids, prob, message",
    [
        (["a"], np.zeros((2, 4, 4)), "2 probability maps"),
        (["a", "a"], np.zeros((2, 4, 4)), "unique"),
        (["a"], np.zeros((4, 4)), r"\(N, H, W\)"),
        (["a"], np.full((1, 4, 4), 1.2), r"\[0, 1\]"),
        (["a"], np.full((1, 4, 4), np.nan), "NaN"),
        (["a"], np.zeros((1, 4, 4), np.int16), "dtype"),
    ],
)
def test_save_rejects_bad_input(tmp_path, ids, prob, message):
    with pytest.raises(ValueError, match=message):
        save_probabilities(tmp_path / "p.npz", ids, prob)
    assert not (tmp_path / "p.npz").exists()


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match="missing.npz"):
        load_probabilities(tmp_path / "missing.npz")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not an archive")
    with pytest.raises(DataError, match="garbage.npz"):
        load_probabilities(garbage)
    partial = tmp_path / "partial.npz"
    np.savez_compressed(partial, prob=np.zeros((1, 2, 2), np.uint8))
    with pytest.raises(DataError, match="image_ids"):
        load_probabilities(partial)
    floats = tmp_path / "floats.npz"
    np.savez_compressed(floats, image_ids=np.array(["a"]), prob=np.zeros((1, 2, 2), np.float32))
    with pytest.raises(DataError, match="uint8"):
        load_probabilities(floats)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(DataError, match="single.npy"):
        load_probabilities(single)
