"""Loading saved VGG-UNets: the custom classes must be registered first (importing them does it)."""

from __future__ import annotations

import os

import keras

from medseglab.models.layers import VGGPreprocess
from medseglab.models.metrics import DiceCoefficient


def custom_objects() -> dict:
    """The classes a saved VGG-UNet refers to (for loaders that take ``custom_objects``)."""
    return {"medseglab>VGGPreprocess": VGGPreprocess, "medseglab>DiceCoefficient": DiceCoefficient}


def load_model(path: str | os.PathLike, compile: bool = True) -> keras.Model:
    """`keras.saving.load_model` with medseglab's layers and metrics registered."""
    return keras.saving.load_model(path, custom_objects=custom_objects(), compile=compile)
