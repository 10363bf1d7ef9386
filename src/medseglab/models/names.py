"""Stable layer names of the VGG-UNet: other stages (explain, tracking) address layers by these.

Plain strings; `medseglab.models` re-exports the ones other stages use.
"""

from __future__ import annotations

INPUT_NAME = "image"
PREPROCESS_LAYER = "vgg_preprocess"

# Keras VGG16 (include_top=False) names: weights copy one-to-one from ImageNet/HED files.
ENCODER_CONV_LAYERS = (
    "block1_conv1", "block1_conv2",
    "block2_conv1", "block2_conv2",
    "block3_conv1", "block3_conv2", "block3_conv3",
    "block4_conv1", "block4_conv2", "block4_conv3",
    "block5_conv1", "block5_conv2", "block5_conv3",
)
ENCODER_POOL_LAYERS = ("block1_pool", "block2_pool", "block3_pool", "block4_pool", "block5_pool")
# Skip connections, deepest first: decoder stage i concatenates SKIP_LAYERS[i - 1].
SKIP_LAYERS = ("block5_conv3", "block4_conv3", "block3_conv3", "block2_conv2", "block1_conv2")
DECODER_FILTERS = (256, 128, 64, 32, 16)

# The last 3x3 convolution before the 1x1 classifier: Grad-CAM layer and penultimate features.
LAST_CONV_LAYER = "decoder_last_conv"
FEATURE_LAYER = LAST_CONV_LAYER
LOGITS_LAYER = "logits"
OUTPUT_LAYER = "softmax"

# Five 2x2 poolings: height and width must be multiples of 2**5.
SIZE_MULTIPLE = 32


def decoder_layer(stage: int, part: str) -> str:
    """Name of a decoder layer: stage 1 (deepest, H/16) .. 5 (full resolution); part up|concat|conv1|conv2."""
    if stage == len(DECODER_FILTERS) and part == "conv2":
        return LAST_CONV_LAYER
    return f"decoder{stage}_{part}"
