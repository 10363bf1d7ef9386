"""Keep library noise a user cannot act on off the terminal; called by the CLI before TensorFlow loads.

Only defaults: a value the user set in the environment always wins, and errors stay visible
(a real TensorFlow or MLflow failure reaches the CLI as an exception, which it prints).
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import tempfile
from pathlib import Path

RETRACING = "triggered tf.function retracing"
# What TensorFlow's C++ side writes to fd 2 while it is imported, before absl's log level applies
# (TF_CPP_MIN_LOG_LEVEL cannot hide it): notices about the build and the absent GPU, nothing to act on.
IMPORT_NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called"
    r"|oneDNN custom operations are on"
    r"|Could not find cuda drivers"
    r"|cpu_feature_guard\.cc.*This TensorFlow binary is optimized"
    r"|^To enable the following instructions: .*rebuild TensorFlow"
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|failed call to cuInit"
)


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
    quiet_tensorflow_import()


@contextlib.contextmanager
def filtered_stderr(noise: re.Pattern = IMPORT_NOISE):
    """Capture what is written to file descriptor 2 (C++ included) in the block, then write back
    every line that is not ``noise``: real errors and warnings still reach the user."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().decode(errors="replace").splitlines():
                if line.strip() and not noise.search(line):
                    print(line, file=sys.stderr)


class _QuietImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Runs the first import of ``tensorflow`` (also when Keras or MLflow pull it in) inside
    :func:`filtered_stderr`, then steps aside."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)  # find the real spec, and never wrap a second time
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        self._loader = spec.loader
        spec.loader = self
        return spec

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        with filtered_stderr():
            self._loader.exec_module(module)


def quiet_tensorflow_import() -> None:
    """Filter TensorFlow's import-time C++ notices (see :data:`IMPORT_NOISE`); unless the user asked to
    see TensorFlow's logs (``TF_CPP_MIN_LOG_LEVEL`` set to 0 or 1), or it is already imported."""
    if "tensorflow" in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL", "") in ("0", "1"):
        return
    if not any(isinstance(finder, _QuietImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport())
