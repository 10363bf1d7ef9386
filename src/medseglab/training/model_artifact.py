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

    Read from the model's own input and output tensors (shape and dtype, batch size -1), so it states
    what the model really takes and gives without running it (a forward pass on the new inference view
    traced one more graph per training: 0.23 s of a demo training, measured with cProfile).
    """
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Schema, TensorSpec

    def spec(tensor):
        if any(d is None for d in tensor.shape[1:]):
            raise ValueError(f"model {model.name}: the signature needs a fixed input size, got {tensor.shape}")
        return TensorSpec(np.dtype(str(tensor.dtype)), (-1, *(int(d) for d in tensor.shape[1:])))

    return ModelSignature(inputs=Schema([spec(model.inputs[0])]), outputs=Schema([spec(model.outputs[0])]))


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
