"""Batched Grad-CAM against an independent per-image computation, on real ISIC images."""

from __future__ import annotations

import numpy as np
import pytest

from medseglab.explain import gradcam as gc
from medseglab.explain.gradcam_reference import gradcam_per_image, upsample_bilinear

from .conftest import tiny_unet

ATOL = 1e-5


def _close(a, b):
    """Equal to 1e-5 relative to the map's own scale (raw maps carry the score's units)."""
    scale = max(float(np.abs(b).max()), 1.0)
    np.testing.assert_allclose(a, b, rtol=0, atol=ATOL * scale)


def test_default_layer_is_last_conv_before_the_classifier(unet32):
    assert gc.conv_layer_names(unet32)[-1] == "logits"
    assert gc.default_layer(unet32) == "dec1"  # the 1x1 classifier is skipped


def test_default_layer_of_vgg_unet_is_its_named_last_conv():
    from medseglab import models
    model, _ = models.build_vgg_unet((32, 32, 3), init="lmi", seed=0)
    assert gc.default_layer(model) == models.LAST_CONV_LAYER


def test_unknown_layer_names_the_choices(unet32):
    with pytest.raises(ValueError, match="enc1"):
        gc.GradCam(unet32, "no_such_layer")


@pytest.mark.parametrize("layer", ["dec1", "logits", "dec2", "bottleneck"])  # full, full, 1/2, 1/4 resolution
def test_batched_equals_per_image_reference(unet32, isic32, layer):
    _, images, _ = isic32
    batched = gc.gradcam(unet32, images, classes=(0, 1), layer=layer, batch_size=3)  # 3 + 1: uneven batches
    reference = gradcam_per_image(unet32, images, classes=(0, 1), layer=layer)
    assert batched.shape == (len(images), 2, 32, 32)
    assert np.all(batched.max(axis=(1, 2, 3)) > 0)  # every image has a non-zero map: no trivial pass
    _close(batched, reference)


def test_region_score_restricts_to_mask(unet32, isic32):
    _, images, masks = isic32
    batched = gc.gradcam(unet32, images, classes=(1,), layer="dec1", region=masks, batch_size=4)
    reference = gradcam_per_image(unet32, images, classes=(1,), layer="dec1", region=masks)
    whole = gc.gradcam(unet32, images, classes=(1,), layer="dec1")
    assert batched.max() > 0
    _close(batched, reference)
    assert not np.allclose(batched, whole)


def test_batch_composition_does_not_change_a_map(unet32, isic32):
    _, images, _ = isic32
    alone = gc.gradcam(unet32, images[2:3], batch_size=1)
    together = gc.gradcam(unet32, images, batch_size=4)[2:3]
    _close(together, alone)


def test_bilinear_reference_matches_tf_resize():
    import tensorflow as tf

    cam = np.random.default_rng(0).random((4, 6)).astype(np.float32)
    ours = upsample_bilinear(cam, 16, 24)
    theirs = tf.image.resize(cam[None, :, :, None], (16, 24), method="bilinear").numpy()[0, :, :, 0]
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_tf_keras_vis_agrees(unet32, isic32):
    import tf_keras_vis.gradcam as tkv  # test extra: an independent Grad-CAM
    import tensorflow as tf

    _, images, _ = isic32
    ours = gc.gradcam(unet32, images, classes=(1,), layer="dec1")[:, 0]
    theirs = tkv.Gradcam(unet32, clone=False)(
        lambda out: tf.reduce_sum(out[..., 1], axis=(1, 2)), images,
        penultimate_layer="dec1", seek_penultimate_conv_layer=False, normalize_cam=False, expand_cam=False,
    )
    _close(ours, np.asarray(theirs))


def test_two_class_maps_are_complementary(unet32, isic32):
    # p0 = 1 - p1, so the class-0 weights are minus the class-1 weights: where one map is > 0 the other is 0
    _, images, _ = isic32
    maps = gc.gradcam(unet32, images, classes=(0, 1), layer="dec1")
    assert np.all(np.minimum(maps[:, 0], maps[:, 1]) <= 1e-6 * maps.max())


def test_normalise_and_quantise():
    maps = np.zeros((2, 2, 4, 4), np.float32)
    maps[0, 1, 1, 1] = 3.0
    maps[0, 1, 2, 2] = 1.5
    maps[1, 0] = np.arange(16, dtype=np.float32).reshape(4, 4)
    norm = gc.normalise_maps(maps)
    assert norm[0, 1].max() == 1.0 and norm[0, 1, 2, 2] == 0.5
    assert np.all(norm[0, 0] == 0)  # an all-zero map stays zero, no division by zero
    quant, scale = gc.quantise(maps)
    assert quant.dtype == np.uint8 and scale.shape == (2, 2)
    np.testing.assert_allclose(gc.dequantise(quant, scale), maps, atol=float(scale.max()) / 510 + 1e-6)


@pytest.mark.parametrize("average", ["raw", "normalised"])
def test_repeat_average_is_mean_of_maps(isic32, average):
    _, images, _ = isic32
    models = [tiny_unet(32, seed=s, name=f"rep{s}") for s in (1, 2, 3)]
    each = [gc.gradcam(m, images, layer="dec1") for m in models]
    if average == "normalised":
        each = [gc.normalise_maps(m) for m in each]
    mean = gc.gradcam_repeats(models, images, layer="dec1", average=average)
    np.testing.assert_allclose(mean, np.mean(each, axis=0), rtol=1e-6, atol=1e-7)
    assert not np.allclose(each[0], each[1])  # the repeats differ, so the mean is not any one of them


def test_repeat_average_rejects_unknown_mode(unet32, isic32):
    with pytest.raises(ValueError, match="explain.average"):
        gc.gradcam_repeats([unet32], isic32[1], average="median")


def test_vgg_unet_batched_equals_reference(isic32):
    from medseglab import models
    model, _ = models.build_vgg_unet((32, 32, 3), init="lmi", seed=0)
    images = isic32[1][:2]
    batched = gc.gradcam(model, images, batch_size=2)
    reference = gradcam_per_image(model, images, layer=models.LAST_CONV_LAYER)
    assert np.all(batched.max(axis=(1, 2, 3)) > 0)
    _close(batched, reference)


def test_model_with_list_wrapped_input_and_output(unet32, isic32):
    # a model reloaded from MLflow may wrap its one input and output in lists
    import keras

    wrapped = keras.Model([unet32.inputs[0]], [unet32.outputs[0]])
    images = isic32[1][:2]
    np.testing.assert_array_equal(gc.gradcam(wrapped, images), gc.gradcam(unet32, images))
