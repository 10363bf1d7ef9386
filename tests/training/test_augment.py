"""`train.augment`: flips move image and mask together, draws are fixed by (seed, epoch, batch), off = unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from medseglab.errors import ConfigError
from medseglab.training.augment import augment_batch, check_augment
from medseglab.training.feeding import ArrayBatches


def _batch(n=8, h=6, w=5):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, h, w, 3)).astype(np.float32)
    masks = (images[..., 0] > 128).astype(np.int32)  # the mask is a function of the image's pixels
    return images, masks


def test_off_leaves_the_batch_as_it_is():
    images, masks = _batch()
    out_i, out_m = augment_batch(images, masks, check_augment({"hflip": False}), 0, 0, 0)
    assert out_i is images and out_m is masks


def test_flips_keep_each_mask_on_its_image_and_flip_about_half():
    images, masks = _batch(n=64)
    out_i, out_m = augment_batch(images, masks, check_augment({"hflip": True, "vflip": True}), 1, 2, 3)
    np.testing.assert_array_equal(out_m, (out_i[..., 0] > 128).astype(np.int32))
    changed = [not np.array_equal(a, b) for a, b in zip(images, out_i)]
    assert 32 < sum(changed) < 64  # each image flipped with probability 3/4 (either flip)
    for before, after in zip(images, out_i):  # only flips: the same pixels
        assert any(np.array_equal(after, f) for f in (before, before[:, ::-1], before[::-1], before[::-1, ::-1]))
    again = augment_batch(images, masks, check_augment({"hflip": True, "vflip": True}), 1, 2, 3)[0]
    other = augment_batch(images, masks, check_augment({"hflip": True, "vflip": True}), 1, 3, 3)[0]
    np.testing.assert_array_equal(again, out_i)
    assert not np.array_equal(other, out_i)


def test_brightness_scales_images_only_within_ten_percent():
    images, masks = _batch()
    out_i, out_m = augment_batch(images, masks, {"brightness": True}, 0, 0, 0)
    np.testing.assert_array_equal(out_m, masks)
    ratio = out_i[images > 20] / images[images > 20]
    assert ratio.min() >= 0.9 - 1e-6 and np.clip(images * 1.1, 0, 255).max() >= out_i.max()
    assert not np.array_equal(out_i, images)


def test_feeder_applies_its_switches():
    images, masks = _batch(n=4)
    plain = ArrayBatches(images.astype(np.uint8), masks.astype(np.uint8), 4, shuffle=False)
    flipped = ArrayBatches(images.astype(np.uint8), masks.astype(np.uint8), 4, shuffle=False, augment={"hflip": True})
    assert plain[0][0].dtype == np.float32 and plain[0][1].dtype == np.int32
    np.testing.assert_array_equal(plain[0][0], images.astype(np.uint8))
    assert not np.array_equal(flipped[0][0], plain[0][0])


@pytest.mark.parametrize("value, message", [([1], "mapping"), ({"rotate": True}, "unknown switches"),
                                            ({"hflip": "yes"}, "true or false")])
def test_bad_switches_are_config_errors(value, message):
    with pytest.raises(ConfigError, match=message):
        check_augment(value)
