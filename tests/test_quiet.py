"""The CLI keeps library noise off the terminal: set before TensorFlow loads, user values win."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from medseglab.quiet import RETRACING, quiet_libraries, tf_log_level

NOISE_VARS = ("TF_CPP_MIN_LOG_LEVEL", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")


def _python(code: str, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in NOISE_VARS}
    return subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
                          timeout=300)


def test_importing_the_cli_sets_the_env_before_tensorflow():
    done = _python("import os, sys, medseglab.cli\n"
                   "assert 'tensorflow' not in sys.modules and 'mlflow' not in sys.modules\n"
                   "print(os.environ['TF_CPP_MIN_LOG_LEVEL'], os.environ['MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR'])")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [tf_log_level(), "false"]


def test_the_users_own_values_win():
    done = _python("import os, medseglab.cli; print(os.environ['TF_CPP_MIN_LOG_LEVEL'], "
                   "os.environ['MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR'])",
                   TF_CPP_MIN_LOG_LEVEL="0", MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="true")
    assert done.stdout.split() == ["0", "true"]


def test_tensorflow_after_the_cli_prints_no_cuinit_failure():
    """On a machine without a GPU TF logs "failed call to cuInit ... (303)" at its first device query."""
    done = _python("import medseglab.cli, tensorflow as tf; print(len(tf.config.list_physical_devices()))")
    assert done.returncode == 0, done.stderr
    assert "cuInit" not in done.stderr


def test_tensorflow_import_notices_are_filtered_through_keras_too():
    """TF's C++ writes its oneDNN / "Could not find cuda drivers" notices to fd 2 during import, before
    TF_CPP_MIN_LOG_LEVEL applies; importing it through Keras (as the stages do) must print none."""
    done = _python("import sys, medseglab.cli, keras; print('imported', file=sys.stderr)")
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "imported"
    shown = _python("import medseglab.cli, tensorflow", TF_CPP_MIN_LOG_LEVEL="0")  # the user asked to see them
    assert "oneDNN" in shown.stderr or "cuda" in shown.stderr


def test_filtered_stderr_keeps_real_errors_written_by_native_code(capfd):
    from medseglab.quiet import filtered_stderr

    with filtered_stderr():
        os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on. You may see ...\n")
        os.write(2, b"E0000 loader.cc:12] could not load libfoo.so: no such file\n")
    err = capfd.readouterr().err
    assert "could not load libfoo.so" in err
    assert "oneDNN" not in err


def test_tf_log_level_keeps_errors_where_a_gpu_driver_is(tmp_path):
    assert tf_log_level(tmp_path) == "2"  # driver present: C++ errors (OOM, driver mismatch) stay visible
    assert tf_log_level(tmp_path / "absent") == "3"


def test_retracing_warnings_dropped_other_tf_warnings_kept(caplog):
    quiet_libraries()
    logger = logging.getLogger("tensorflow")
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        logger.warning("5 out of the last 5 calls to <f> %s. Tracing is expensive", RETRACING)
        logger.warning("a real warning")
        logger.error("a real error")
    assert [r.getMessage() for r in caplog.records] == ["a real warning", "a real error"]
