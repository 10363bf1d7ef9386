import numpy as np
import pytest

from medseglab.stats.combine import combine_masks, combine_repeats


def _probs():
    # 3 repeats, 1 image of 2x3 pixels
    return np.array(
        [
            [[[0.9, 0.6, 0.2], [0.5, 0.1, 0.7]]],
            [[[0.8, 0.4, 0.3], [0.5, 0.0, 0.9]]],
            [[[0.7, 0.7, 0.1], [0.6, 0.2, 0.4]]],
        ],
        dtype=np.float32,
    )


def test_intersection_mask_is_and_of_repeat_masks():
    probs = _probs()
    out = combine_repeats(probs, "intersection", 0.5)
    assert out.shape == (1, 2, 3)
    np.testing.assert_allclose(out[0], [[0.7, 0.4, 0.1], [0.5, 0.0, 0.4]], atol=1e-6)
    expected = np.all(probs >= 0.5, axis=0).astype(np.uint8)
    np.testing.assert_array_equal(combine_masks(probs, "intersection", 0.5), expected)
    np.testing.assert_array_equal(expected[0], [[1, 0, 0], [1, 0, 0]])


def test_union_and_mean():
    probs = _probs()
    np.testing.assert_array_equal(combine_masks(probs, "union", 0.5)[0], [[1, 1, 0], [1, 0, 1]])
    mean = combine_repeats(probs, "mean", 0.5)[0]
    np.testing.assert_allclose(mean, [[0.8, 17 / 30, 0.2], [16 / 30, 0.1, 2 / 3]], atol=1e-6)
    np.testing.assert_array_equal(combine_masks(probs, "mean", 0.5)[0], [[1, 1, 0], [1, 0, 1]])


def test_uint8_input_scaled_like_probabilities_npz():
    u8 = np.array([[[[255, 128]]], [[[0, 200]]]], dtype=np.uint8)
    out = combine_repeats(u8, "intersection")
    np.testing.assert_allclose(out, [[[0.0, 128 / 255]]], atol=1e-6)


@pytest.mark.parametrize("bad", ["vote", ""])
def test_unknown_method_named(bad):
    with pytest.raises(ValueError, match="stats.combine"):
        combine_repeats(_probs(), bad)


def test_shape_checked():
    with pytest.raises(ValueError, match="repeats, images"):
        combine_repeats(np.zeros((2, 3, 4), np.float32))
