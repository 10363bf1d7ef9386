"""Architecture: shapes, softmax, stable layer names, input-size checks, seeded LMI."""

import keras
import numpy as np
import pytest

from medseglab.config import ConfigError
from medseglab.models import names
from medseglab.models.vgg_unet import build_vgg_unet


def _weights(model):
    return [w.numpy() for w in model.weights]


@pytest.mark.parametrize("shape", [(32, 32, 3), (64, 32, 3)])
def test_output_is_a_softmax_at_input_resolution(shape):
    model, info = build_vgg_unet(shape, n_classes=2, init="lmi", seed=0)
    x = np.random.default_rng(1).uniform(0, 255, size=(2, *shape)).astype("float32")
    prob = model.predict(x, verbose=0)
    assert prob.shape == (2, shape[0], shape[1], 2)
    assert prob.dtype == np.float32
    np.testing.assert_allclose(prob.sum(axis=-1), 1.0, atol=1e-5)
    assert info.source == "random"


def test_layer_names_are_the_documented_ones():
    model, _ = build_vgg_unet((32, 32, 3), init="lmi", seed=0)
    layer_names = [layer.name for layer in model.layers]
    for name in (*names.ENCODER_CONV_LAYERS, *names.ENCODER_POOL_LAYERS, names.PREPROCESS_LAYER):
        assert name in layer_names
    # Grad-CAM layer = the last 3x3 conv, directly before the 1x1 classifier and the softmax.
    assert layer_names[-3:] == [names.LAST_CONV_LAYER, names.LOGITS_LAYER, names.OUTPUT_LAYER]
    convs = [l.name for l in model.layers if isinstance(l, keras.layers.Conv2D) and l.kernel_size == (3, 3)]
    assert convs[-1] == names.LAST_CONV_LAYER
    assert model.get_layer(names.LOGITS_LAYER).kernel_size == (1, 1)
    assert model.output.shape[-1] == 2
    # Each decoder stage concatenates the encoder map of its scale.
    for stage, skip in enumerate(names.SKIP_LAYERS, start=1):
        concat = model.get_layer(names.decoder_layer(stage, "concat"))
        assert concat.output.shape[1:3] == model.get_layer(skip).output.shape[1:3]


def test_encoder_has_keras_vgg16_weight_shapes():
    model, _ = build_vgg_unet((32, 32, 3), init="lmi", seed=0)
    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    for name in names.ENCODER_CONV_LAYERS:
        assert [w.shape for w in model.get_layer(name).weights] == [w.shape for w in vgg.get_layer(name).weights]


def test_unknown_size_model_accepts_any_multiple_of_32():
    model, _ = build_vgg_unet((None, None, 3), init="lmi", seed=0)
    for h, w in ((32, 32), (32, 96)):
        assert model(np.zeros((1, h, w, 3), "float32")).shape == (1, h, w, 2)


@pytest.mark.parametrize(
    "shape, match",
    [((48, 64, 3), "height 48 is not a positive multiple of 32.*32 or 64"), ((64, 64, 1), "3 channels"), ((64, 70, 3), "width 70")],
)
def test_bad_input_shape_says_how_to_fix(shape, match):
    with pytest.raises(ConfigError, match=match):
        build_vgg_unet(shape, init="lmi")


def test_unknown_init_is_a_config_error():
    with pytest.raises(ConfigError, match="'imagenet'.*tii"):
        build_vgg_unet((32, 32, 3), init="imagenet")


def test_lmi_is_deterministic_with_a_seed():
    a, _ = build_vgg_unet((32, 32, 3), init="lmi", seed=7)
    b, _ = build_vgg_unet((32, 32, 3), init="lmi", seed=7)
    c, _ = build_vgg_unet((32, 32, 3), init="lmi", seed=8)
    for wa, wb in zip(_weights(a), _weights(b)):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a.get_layer("block3_conv1").kernel.numpy(), c.get_layer("block3_conv1").kernel.numpy())
    # Distinct layers get distinct draws (one seeded initialiser reused would repeat values).
    assert not np.array_equal(a.get_layer("block4_conv2").kernel.numpy(), a.get_layer("block4_conv3").kernel.numpy())
