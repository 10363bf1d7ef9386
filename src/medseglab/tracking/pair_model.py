"""The deployable unit: LMI and TII repeats as one MLflow pyfunc model giving Algorithm 1's four candidates.

Logged by :func:`medseglab.tracking.registry.promote` and registered as ``<pair name>@champion``.

Input: a pandas DataFrame with one string column ``path`` (image files the process can read: png,
jpg, 16-bit png, ...; the signature enforces it). Paths, not pixel arrays, so that serving decodes and resizes
exactly as ``prepare`` made the training data (``data.imaging.network_input``).

Output: a DataFrame, one row per input path: ``path``, ``width``, ``height`` (the file's size) and
``lmi``, ``tii``, ``union``, ``intersection``, each a uint8 0/1 mask (height x width). The repeats of
each init are combined as the study combines them (``model_config['combine']``, Equation 2 for
``intersection``), then thresholded at ``model_config['threshold']``. A pair promoted with the study's Dice
estimator (artifact ``estimator``, ``ensemble.estimator``) adds ``est_dice_<candidate>`` (each candidate's
estimated Dice, no ground truth needed) and ``estimated_choice`` (the candidate with the highest estimate).

Artifacts: one Keras model folder per member, named ``<init>-<repeat>``; ``model_config['members']``
lists them per init.
"""

from __future__ import annotations

import mlflow.pyfunc
import pandas as pd

INPUT_COLUMN = "path"


class PairModel(mlflow.pyfunc.PythonModel):
    """``mlflow.pyfunc`` model of the champion pair (see the module docstring for input and output)."""

    def load_context(self, context):
        import mlflow.keras

        import medseglab.models.saving  # noqa: F401  (registers the VGG-UNet's custom layers and metrics)

        config = context.model_config or {}
        self.config = dict(config)  # members, combine, threshold, run_ids, study_run_id, split, ratio
        self.combine = str(config["combine"])
        self.threshold = float(config["threshold"])
        self.models = {init: [mlflow.keras.load_model(context.artifacts[name]) for name in names]
                       for init, names in config["members"].items()}
        self.estimator = None
        if config.get("estimator") and config["estimator"] in context.artifacts:
            from medseglab.ensemble.estimator import DiceEstimator

            self.estimator = DiceEstimator.load(context.artifacts[config["estimator"]])

    # pd.DataFrame: a hint MLflow accepts without inferring a schema from it (the signature states the
    # input); with no hint MLflow warns at class creation, past any warning filter.
    def predict(self, context, model_input: pd.DataFrame, params=None):
        from medseglab.ensemble.serve import segment_files

        if isinstance(model_input, pd.DataFrame):
            if INPUT_COLUMN not in model_input.columns:
                raise ValueError(f"the pair model takes a DataFrame with a {INPUT_COLUMN!r} column of image "
                                 f"files; got columns {list(model_input.columns)}")
            paths = model_input[INPUT_COLUMN].astype(str).tolist()
        else:
            paths = [str(p) for p in model_input]
        batch = int((params or {}).get("batch_size", 8))
        return pd.DataFrame(segment_files(self.models, paths, combine=self.combine, threshold=self.threshold,
                                          batch_size=batch, estimator=getattr(self, "estimator", None)))


def input_signature():
    """The pair's signature: a string column ``path`` in (the output, masks per row, is documented)."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    return ModelSignature(inputs=Schema([ColSpec("string", INPUT_COLUMN)]),
                          params=ParamSchema([ParamSpec("batch_size", "long", 8)]))
