"""Grad-CAM for segmentation (SPEC 8), batched, and averaged over the repeats of a model (Eq. 3).

For a target class c the score of one image is the class-c softmax output summed over its pixels
(or over a region mask). With A the activations of a convolutional layer (h x w x K), the channel
weights are the spatial mean of dScore/dA, the map is ReLU(sum_k w_k A_k), bilinearly upsampled
(half-pixel centres, ``tf.image.resize``) to the input size.

A whole batch goes through one forward pass and one backward pass per class: the batch score is
the sum of the per-image scores, and because the images of a batch do not interact at inference
(no batch statistics: VGG-UNet has no BatchNorm, and Keras runs BatchNorm in inference mode with
``training=False`` anyway), the gradient of that sum with respect to image i's activations is
image i's own gradient.

Maps are returned *raw* (the units of score x activation). :func:`normalise_maps` divides each
(image, class) map by its maximum, giving [0, 1] maps as Grad-CAM tools display them (an all-zero
map stays zero). :func:`gradcam_repeats` averages normalised maps by default, so that each repeat
weighs the same whatever the scale of its gradients; ``average="raw"`` averages raw maps.
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

import numpy as np

AVERAGES = ("normalised", "raw")


def io_tensors(model):
    """The model's one input and one output tensor (a reloaded model may wrap them in lists)."""
    inputs, outputs = list(model.inputs), list(model.outputs)
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(
            f"model {model.name!r} has {len(inputs)} inputs and {len(outputs)} outputs; "
            "Grad-CAM and features need one image input and one softmax output"
        )
    return inputs[0], outputs[0]


def conv_layer_names(model) -> list[str]:
    """Names of the model's top-level 2D convolution layers, in graph order."""
    import keras

    return [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def default_layer(model) -> str:
    """The Grad-CAM layer when none is named: the last convolution that sees spatial context.

    A VGG-UNet names it (``medseglab.models.LAST_CONV_LAYER``, the last 3x3 decoder conv).
    Other models: the last Conv2D, skipping a final 1x1 classifier (filters = number of classes),
    whose Grad-CAM would only restate the per-pixel prediction.
    """
    import keras

    from medseglab.models.names import LAST_CONV_LAYER

    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    if any(layer.name == LAST_CONV_LAYER for layer in convs):
        return LAST_CONV_LAYER
    if not convs:
        raise ValueError(
            f"model {model.name!r} has no top-level Conv2D layer; pass the Grad-CAM layer by name "
            "(params.yaml explain.layer)"
        )
    last = convs[-1]
    is_classifier = tuple(last.kernel_size) == (1, 1) and last.filters == int(io_tensors(model)[1].shape[-1])
    return convs[-2].name if is_classifier and len(convs) > 1 else last.name


def get_layer(model, name: str | None):
    """The named layer (default: :func:`default_layer`), with an error that lists the choices."""
    name = name or default_layer(model)
    try:
        return model.get_layer(name)
    except ValueError as exc:
        raise ValueError(
            f"model {model.name!r} has no layer {name!r}; its conv layers are {conv_layer_names(model)} "
            "(set params.yaml explain.layer to one of them, or null for the last)"
        ) from exc


def activation_model(model, layer: str | None = None):
    """A model with the same input that outputs [layer activations, softmax output]."""
    import keras

    target = get_layer(model, layer)
    if len(target.output.shape) != 4:
        raise ValueError(f"layer {target.name!r} outputs shape {target.output.shape}; Grad-CAM needs a 4D feature map")
    inp, out = io_tensors(model)
    return keras.Model(inp, [target.output, out], name=f"{model.name}_gradcam")


def _as_batch(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must be (N, H, W, C), got shape {images.shape}")
    return images.astype(np.float32, copy=False)


def _check_classes(classes: Sequence[int], n_classes: int) -> tuple[int, ...]:
    classes = tuple(int(c) for c in classes)
    bad = [c for c in classes if not 0 <= c < n_classes]
    if bad or not classes:
        raise ValueError(f"classes {classes} not in 0..{n_classes - 1} (the model has {n_classes} outputs)")
    return classes


def _drop_retracing_warning(record) -> bool:
    return "triggered tf.function retracing" not in record.getMessage()


class GradCam:
    """Batched Grad-CAM of one model at one layer.

    ``GradCam(model, layer=None)(images, classes=(0, 1), region=None)`` returns raw float32 maps
    of shape (N, len(classes), H, W). The compiled step is built once per instance; reuse the
    instance across batches.
    """

    def __init__(self, model, layer: str | None = None):
        import tensorflow as tf

        self.layer = get_layer(model, layer).name
        self._model = activation_model(model, self.layer)
        self.n_classes = int(io_tensors(model)[1].shape[-1])
        self._tf = tf
        self._steps: dict[tuple[int, ...], Callable] = {}
        # each model is traced once, by design; TF's heuristic counts traces of all models together
        logger = tf.get_logger()
        if _drop_retracing_warning not in logger.filters:
            logger.addFilter(_drop_retracing_warning)

    def _step(self, classes: tuple[int, ...]):
        """One compiled graph per class tuple, traced once for any batch size and image size."""
        if classes not in self._steps:
            tf = self._tf
            channels = int(self._model.inputs[0].shape[-1])
            self._steps[classes] = tf.function(
                lambda images, region: self._maps(images, region, classes),
                input_signature=[tf.TensorSpec([None, None, None, channels], tf.float32),
                                 tf.TensorSpec([None, None, None], tf.float32)],
            )
        return self._steps[classes]

    def _maps(self, images, region, classes):
        tf = self._tf
        height, width = tf.shape(images)[1], tf.shape(images)[2]
        with tf.GradientTape(persistent=True) as tape:
            acts, probs = self._model(images, training=False)
            # one scalar per class: the sum over the batch of the per-image region scores
            scores = [tf.reduce_sum(probs[..., c] * region) for c in classes]
        maps = []
        for score in scores:
            grads = tape.gradient(score, acts)
            weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
            cam = tf.nn.relu(tf.reduce_sum(weights * acts, axis=-1, keepdims=True))
            cam = tf.image.resize(cam, tf.stack([height, width]), method="bilinear")
            maps.append(cam[..., 0])
        del tape
        return tf.stack(maps, axis=1)

    def __call__(self, images: np.ndarray, classes: Sequence[int] = (0, 1), region: np.ndarray | None = None) -> np.ndarray:
        tf = self._tf
        images = _as_batch(images)
        classes = _check_classes(classes, self.n_classes)
        if region is None:
            region = np.ones(images.shape[:3], np.float32)
        region = np.asarray(region, np.float32)
        if region.shape != images.shape[:3]:
            raise ValueError(f"region must be (N, H, W) = {images.shape[:3]}, got {region.shape}")
        out = self._step(classes)(tf.constant(images), tf.constant(region))
        return out.numpy().astype(np.float32, copy=False)


def _batches(n: int, batch_size: int) -> Iterable[slice]:
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size} (params.yaml explain.batch_size)")
    for start in range(0, n, batch_size):
        yield slice(start, min(n, start + batch_size))


def gradcam(
    model,
    images: np.ndarray,
    classes: Sequence[int] = (0, 1),
    layer: str | None = None,
    region: np.ndarray | None = None,
    batch_size: int = 8,
    on_batch: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Raw Grad-CAM maps (N, len(classes), H, W) float32 of ``images`` (raw 0..255 RGB, N x H x W x 3).

    ``region`` (N, H, W) restricts the score to a region (1 inside); ``on_batch(n)`` is called
    after each batch with its size (for a progress bar).
    """
    images = _as_batch(images)
    cam = GradCam(model, layer)
    out = np.empty((images.shape[0], len(classes), *images.shape[1:3]), np.float32)
    for part in _batches(images.shape[0], batch_size):
        sub_region = None if region is None else np.asarray(region)[part]
        out[part] = cam(images[part], classes, sub_region)
        if on_batch is not None:
            on_batch(part.stop - part.start)
    return out


def normalise_maps(maps: np.ndarray) -> np.ndarray:
    """Each map divided by its own maximum over (H, W): [0, 1] per image and class; zero maps stay 0."""
    maps = np.asarray(maps, np.float32)
    peak = maps.max(axis=(-2, -1), keepdims=True)
    return np.divide(maps, peak, out=np.zeros_like(maps), where=peak > 0)


def gradcam_repeats(
    models: Sequence,
    images: np.ndarray,
    classes: Sequence[int] = (0, 1),
    layer: str | None = None,
    region: np.ndarray | None = None,
    batch_size: int = 8,
    average: str = "normalised",
    on_batch: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Equation 3: the mean over the repeat models of their Grad-CAM maps, (N, len(classes), H, W).

    ``average="normalised"`` normalises each repeat's maps per image and class before the mean
    (the result lies in [0, 1]); ``"raw"`` averages raw maps.
    """
    if average not in AVERAGES:
        raise ValueError(f"unknown Grad-CAM average {average!r}; choose one of {AVERAGES} (params.yaml explain.average)")
    if not models:
        raise ValueError("no repeat models to average")
    total = None
    for model in models:
        maps = gradcam(model, images, classes, layer, region, batch_size, on_batch)
        if average == "normalised":
            maps = normalise_maps(maps)
        total = maps.astype(np.float64) if total is None else total + maps
    return (total / len(models)).astype(np.float32)


def quantise(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Compact storage: uint8 maps relative to each (image, class) maximum, and that maximum.

    ``maps ~= q / 255 * scale[..., None, None]`` (error <= scale / 510).
    """
    maps = np.asarray(maps, np.float32)
    scale = maps.max(axis=(-2, -1)).astype(np.float32)
    quant = np.rint(normalise_maps(maps) * 255.0).astype(np.uint8)
    return quant, scale


def dequantise(quant: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Inverse of :func:`quantise` (raw maps up to the uint8 rounding)."""
    return np.asarray(quant, np.float32) / np.float32(255.0) * np.asarray(scale, np.float32)[..., None, None]
