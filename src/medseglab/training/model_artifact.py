"""A training's ``model`` artifact: the MLflow Keras flavour with a signature.

The signature documents what a registered model takes and gives: raw 0..255 RGB float32
(N, H, W, 3) in, class softmax float32 (N, H, W, 2) out (docs/MODEL.md), so a served model can
be called without reading our code, and MLflow stops warning that the model has none.

No input example: ``mlflow.keras.log_model(input_example=...)`` writes the example before it
creates the model folder and fails (FileNotFoundError, mlflow/mlflow#16183, still open in the
pinned MLflow), and one example image at the paper's 608x416 would be ~9 MB of JSON per training.
"""

from __future__ import annotations

import numpy as np


def model_signature(model):
    """The MLflow signature of a Keras model with a fixed input size.

    Inferred from one black image of the model's input shape and dtype and the model's own
    output on it (one forward pass), so it states what the model really gives.
    """
    from mlflow.models import infer_signature

    _, height, width, channels = model.input_shape
    example = np.zeros((1, height, width, channels), dtype=np.dtype(model.inputs[0].dtype))
    return infer_signature(example, np.asarray(model.predict_on_batch(example)))


def log_trained_model(model) -> str:
    """Log ``model`` as the active run's ``model`` (an MLflow 3 LoggedModel); returns its model id.

    Nothing is registered here: a version enters the registry only when someone promotes it
    (``medseglab promote``, docs/REGISTRY.md), so the registry holds what was chosen."""
    import keras
    import mlflow.keras
    import tensorflow as tf

    # An uncompiled view sharing the trained layers: the logged model is for prediction, and the
    # optimizer state would triple its size (and cloning would re-initialise 15M weights first).
    inference = keras.Model(model.inputs, model.outputs, name=model.name)
    info = mlflow.keras.log_model(
        inference, name="model", signature=model_signature(inference),
        pip_requirements=[f"tensorflow=={tf.__version__}", f"keras=={keras.__version__}"],
    )
    return info.model_id
