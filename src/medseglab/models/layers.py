"""Custom layers of the VGG-UNet, registered so saved models load with plain `keras.saving.load_model`."""

from __future__ import annotations

import keras
from keras import ops

# keras.applications.vgg16.preprocess_input ("caffe" mode): ImageNet mean in BGR order.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="medseglab")
class VGGPreprocess(keras.layers.Layer):
    """Raw RGB in 0..255 -> BGR minus the ImageNet mean, as `vgg16.preprocess_input` does.

    Inside the model so callers feed raw pixels and a saved model carries its own preprocessing.
    """

    def __init__(self, mean=CAFFE_MEAN_BGR, **kwargs):
        super().__init__(**kwargs)
        self.mean = tuple(float(m) for m in mean)
        if len(self.mean) != 3:
            raise ValueError(f"VGGPreprocess mean must have 3 values (B, G, R), got {mean!r}")

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        bgr = ops.flip(x, axis=-1)
        return bgr - ops.convert_to_tensor(self.mean, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mean": list(self.mean)}
