"""models stage: the VGG-UNet and its TII / LMI initialisation (SPEC 3, docs/MODEL.md).

Layer names (`medseglab.models.names`) import without TensorFlow; everything else loads Keras
on first use. Importing `medseglab.models.layers` and `.metrics` registers the custom classes
that saved models need (`load_model` does it for you).
"""

from __future__ import annotations

import importlib

from medseglab.models.names import (  # noqa: F401  (light: no Keras)
    ENCODER_CONV_LAYERS,
    FEATURE_LAYER,
    LAST_CONV_LAYER,
    LOGITS_LAYER,
    OUTPUT_LAYER,
    PREPROCESS_LAYER,
    SIZE_MULTIPLE,
    SKIP_LAYERS,
)

_LAZY = {
    "build_vgg_unet": "medseglab.models.vgg_unet",
    "INITS": "medseglab.models.vgg_unet",
    "compile_model": "medseglab.models.compile",
    "make_optimizer": "medseglab.models.compile",
    "make_loss": "medseglab.models.compile",
    "DiceCoefficient": "medseglab.models.metrics",
    "VGGPreprocess": "medseglab.models.layers",
    "WeightsInfo": "medseglab.models.weights",
    "load_backbone": "medseglab.models.weights",
    "clear_backbone_cache": "medseglab.models.weights",
    "load_model": "medseglab.models.saving",
    "custom_objects": "medseglab.models.saving",
}

__all__ = sorted(_LAZY) + [
    "ENCODER_CONV_LAYERS", "FEATURE_LAYER", "LAST_CONV_LAYER", "LOGITS_LAYER",
    "OUTPUT_LAYER", "PREPROCESS_LAYER", "SIZE_MULTIPLE", "SKIP_LAYERS",
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'medseglab.models' has no attribute {name!r}")
