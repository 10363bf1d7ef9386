"""VGGPreprocess must be exactly keras.applications.vgg16.preprocess_input, inside the model."""

import keras
import numpy as np

from medseglab.models.layers import VGGPreprocess


def test_matches_keras_vgg16_preprocess_input(images):
    expected = keras.applications.vgg16.preprocess_input(images.copy())
    got = keras.ops.convert_to_numpy(VGGPreprocess()(images))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)


def test_config_round_trip_keeps_mean():
    layer = VGGPreprocess(mean=(1.0, 2.0, 3.0), name="p")
    clone = VGGPreprocess.from_config(layer.get_config())
    assert clone.mean == (1.0, 2.0, 3.0)
    out = keras.ops.convert_to_numpy(clone(np.zeros((1, 2, 2, 3), "float32")))
    np.testing.assert_array_equal(out[0, 0, 0], [-1.0, -2.0, -3.0])
