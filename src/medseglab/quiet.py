"""Keep library noise a user cannot act on off the terminal; called by the CLI before TensorFlow loads.

Only defaults: a value the user set in the environment always wins, and errors stay visible
(a real TensorFlow or MLflow failure reaches the CLI as an exception, which it prints).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

RETRACING = "triggered tf.function retracing"


def _drop_retracing(record: logging.LogRecord) -> bool:
    # each model is traced once by design; TF's heuristic counts the traces of all models together
    return RETRACING not in record.getMessage()


def tf_log_level(driver: Path = Path("/proc/driver/nvidia")) -> str:
    """TensorFlow's C++ log floor: "2" (warnings off, errors shown) where an NVIDIA driver is
    installed; "3" where none is, as TF's only C++ error there is "failed call to cuInit ... (303)"."""
    return "2" if driver.exists() else "3"


def quiet_libraries() -> None:
    """Set the environment and loggers of TensorFlow, absl and MLflow; idempotent."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", tf_log_level())
    # one medseglab bar per stage instead of one MLflow "Downloading artifacts" bar per artifact
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # getLogger before TF imports gives TF the same logger objects, so these hold from the start
    tf_logger = logging.getLogger("tensorflow")
    if _drop_retracing not in tf_logger.filters:
        tf_logger.addFilter(_drop_retracing)
    absl = logging.getLogger("absl")
    if absl.level == logging.NOTSET:
        absl.setLevel(logging.ERROR)
