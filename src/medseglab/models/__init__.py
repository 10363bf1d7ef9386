"""models stage: the VGG-UNet and its TII / LMI initialisation (SPEC 3, docs/MODEL.md).

Importing this package imports Keras and registers the custom classes (`VGGPreprocess`,
`DiceCoefficient`) that saved VGG-UNets refer to: `import medseglab.models` before
`keras.saving.load_model` or `mlflow.keras.load_model`, or use `medseglab.models.load_model`.
"""

from __future__ import annotations

from medseglab.models.compile import compile_model, make_loss, make_metrics, make_optimizer
from medseglab.models.layers import VGGPreprocess
from medseglab.models.metrics import DiceCoefficient
from medseglab.models.names import (
    ENCODER_CONV_LAYERS,
    FEATURE_LAYER,
    LAST_CONV_LAYER,
    LOGITS_LAYER,
    OUTPUT_LAYER,
    PREPROCESS_LAYER,
    SIZE_MULTIPLE,
    SKIP_LAYERS,
)
from medseglab.models.saving import custom_objects, load_model
from medseglab.models.vgg_unet import INITS, build_vgg_unet
from medseglab.models.weights import WeightsInfo, clear_backbone_cache, load_backbone

__all__ = [
    "ENCODER_CONV_LAYERS", "FEATURE_LAYER", "INITS", "LAST_CONV_LAYER", "LOGITS_LAYER", "OUTPUT_LAYER",
    "PREPROCESS_LAYER", "SIZE_MULTIPLE", "SKIP_LAYERS", "DiceCoefficient", "VGGPreprocess", "WeightsInfo",
    "build_vgg_unet", "clear_backbone_cache", "compile_model", "custom_objects", "load_backbone",
    "load_model", "make_loss", "make_metrics", "make_optimizer",
]
