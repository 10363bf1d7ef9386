"""Precision, XLA and replication of a training (training.acceleration): how `auto` resolves, the
dtype policy does not leak out of a build, a mixed-precision model trains, saves, reloads and explains
in float32, and MirroredStrategy over two logical CPUs gives one device's loss curve."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import types

import keras
import numpy as np
import pytest

from medseglab.config import ConfigError
from medseglab.training import acceleration as A

TRAIN = {"optimizer": "adadelta", "learning_rate": 1.0, "threshold": 0.5, "batch_size": 2, "deterministic": True}


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("MEDSEGLAB_OFFLINE", "1")


def _has_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


def test_auto_resolves_for_the_visible_devices():
    acc = A.resolve_acceleration(TRAIN)
    if _has_gpu():
        assert (acc.precision, acc.device) == ("mixed_float16", "gpu")
    else:  # fp32 on CPUs: bf16 lost Dice at equal steps there (docs/MODEL.md, benchmarks/precision_throughput.py)
        assert (acc.precision, acc.jit_compile, acc.device) == ("float32", False, "cpu")
    assert (acc.distribute, acc.replicas) == ("none", 1)  # one device of each kind at most in this process
    assert acc.params() == {"training.precision": acc.precision, "training.jit_compile": str(acc.jit_compile).lower(),
                            "training.distribute": "none", "training.replicas": "1", "training.device": acc.device}
    assert acc.tags()["medseglab.precision"] == acc.precision


@pytest.mark.parametrize("jit, deterministic, expected", [("false", True, False), (False, False, False),
                                                          ("true", False, True), (True, False, True)])
def test_explicit_xla(jit, deterministic, expected):
    acc = A.resolve_acceleration({**TRAIN, "jit_compile": jit, "deterministic": deterministic})
    assert acc.jit_compile is expected


@pytest.mark.parametrize("cfg, match", [
    ({"precision": "fp16"}, r"train.precision='fp16'"),
    ({"distribute": "horovod"}, r"train.distribute='horovod'"),
    ({"jit_compile": "yes"}, r"train.jit_compile='yes'"),
    ({"jit_compile": True, "deterministic": True}, r"deterministic: false"),
])
def test_bad_settings_are_config_errors(cfg, match):
    with pytest.raises(ConfigError, match=match):
        A.resolve_acceleration({**TRAIN, **cfg})


def test_mirrored_needs_a_batch_that_splits_evenly(monkeypatch):
    import tensorflow as tf

    fake = [types.SimpleNamespace(name=f"/device:CPU:{i}") for i in range(3)]
    monkeypatch.setattr(tf.config, "list_logical_devices", lambda kind=None: [] if kind == "GPU" else fake)
    with pytest.raises(ConfigError, match="batch_size=2 cannot be split evenly over 3 replicas"):
        A.resolve_acceleration({**TRAIN, "distribute": "mirrored"})
    acc = A.resolve_acceleration({**TRAIN, "distribute": "mirrored", "batch_size": 6})
    assert acc.replicas == 3 and acc.params()["training.replicas"] == "3"


def test_cpu_bf16_flag(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16\n")
    assert A.cpu_has_bf16(info)
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f\n")
    assert not A.cpu_has_bf16(info)
    assert not A.cpu_has_bf16(tmp_path / "missing")


def _build(precision: str, **train):
    from medseglab.models import build_vgg_unet, compile_model

    cfg = {**TRAIN, "precision": precision, **train}
    acc = A.resolve_acceleration(cfg)
    with A.build_scope(acc):
        model, _ = build_vgg_unet((32, 32, 3), init="lmi", seed=0)
        compile_model(model, A.compile_config(cfg, acc))
    return model


def test_the_dtype_policy_is_reset_after_a_build_even_on_error():
    assert keras.config.dtype_policy().name == "float32"
    model = _build("mixed_bfloat16")
    assert keras.config.dtype_policy().name == "float32"  # the next key of a study builds in float32
    assert model.get_layer("block1_conv1").compute_dtype == "bfloat16"
    assert model.get_layer("block1_conv1").variable_dtype == "float32"
    assert model.get_layer("softmax").compute_dtype == "float32"
    assert model.output.dtype == "float32"
    with pytest.raises(RuntimeError, match="boom"):
        with A.build_scope(A.resolve_acceleration({**TRAIN, "precision": "mixed_float16"})):
            assert keras.config.dtype_policy().name == "mixed_float16"
            raise RuntimeError("boom")
    assert keras.config.dtype_policy().name == "float32"
    assert _build("float32").get_layer("block1_conv1").compute_dtype == "float32"


def test_mixed_float16_gets_loss_scaling():
    model = _build("mixed_float16")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert model.output.dtype == "float32"


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_a_mixed_precision_model_trains_reloads_and_explains_in_float32(tmp_path):
    from medseglab.explain.gradcam import gradcam
    from medseglab.models import load_model

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(2, 32, 32, 3)).astype("float32")
    y = (x[..., 0] > 127).astype("int32")
    model = _build("mixed_bfloat16")
    history = model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    prob = model.predict(x, verbose=0)
    assert prob.dtype == np.float32
    np.testing.assert_allclose(prob.sum(-1), 1.0, atol=1e-5)  # a float32 softmax, not a bf16 one

    model.save(tmp_path / "m.keras")
    again = load_model(tmp_path / "m.keras", compile=False)
    assert keras.config.dtype_policy().name == "float32"
    assert again.get_layer("block1_conv1").compute_dtype == "bfloat16"  # the policy travels with the model
    reloaded = again.predict(x, verbose=0)
    assert reloaded.dtype == np.float32
    np.testing.assert_array_equal(reloaded, prob)
    maps = gradcam(again, x, classes=(0, 1))
    assert maps.dtype == np.float32 and maps.shape == (2, 2, 32, 32) and np.isfinite(maps).all()


# Runs in a fresh interpreter: logical devices must be configured before TensorFlow initialises,
# and the test process has initialised it already.
MIRRORED_SCRIPT = textwrap.dedent("""
    import json, os, sys
    os.environ["MEDSEGLAB_OFFLINE"] = "1"
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np
    from medseglab.models import build_vgg_unet, compile_model
    from medseglab.training.acceleration import build_scope, compile_config, resolve_acceleration
    from medseglab.training.feeding import ArrayBatches
    from medseglab.training.train import _seed_everything

    rng = np.random.default_rng(0)
    corner = rng.integers(0, 16, size=(8, 2, 1, 1))  # a bright 16x16 square on dark noise per image
    index = np.arange(32)
    masks = (((index[:, None] - corner[:, 0]) % 32 < 16) & ((index[None, :] - corner[:, 1]) % 32 < 16))
    masks = masks.astype("uint8")
    images = (rng.uniform(0, 60, size=(8, 32, 32, 3)) + 150 * masks[..., None]).astype("uint8")
    train = json.loads(sys.argv[1])
    out = {}
    for distribute in ("none", "mirrored"):
        cfg = {**train, "distribute": distribute}
        acc = resolve_acceleration(cfg)
        _seed_everything(0, True)
        with build_scope(acc):
            model, _ = build_vgg_unet((32, 32, 3), 2, "lmi", seed=0)
            compile_model(model, compile_config(cfg, acc))
        feeder = ArrayBatches(images, masks, cfg["batch_size"], seed=0)  # the training's own feeder
        history = model.fit(feeder, epochs=3, shuffle=False, verbose=0)
        out[distribute] = {"replicas": acc.replicas, "devices": list(acc.devices),
                           "in_sync": int(model.distribute_strategy.num_replicas_in_sync),
                           "loss": history.history["loss"], "accuracy": history.history["accuracy"]}
    print("RESULT " + json.dumps(out))
""")

# Both runs compute the same math (Keras scales each replica's mean loss by 1/replicas and sums the
# gradients over replicas): only the float32 summation order differs (per-replica sums, then an
# all-reduce, vs one sum over the batch), and training amplifies that rounding. On this well-posed
# task (bright squares; the loss falls from 0.86 to 0.004) it stayed below 6e-7 relative over the 3
# epochs (12 Adadelta steps) on the development CPU; on pure noise thresholded per pixel (loss 2.2 after epoch 1) it reached 4e-4 by
# epoch 3, so the task matters. 1e-4 leaves room for another CPU's rounding; replicas that started
# from different weights or saw another share of the batch would not agree to rounding.
TOLERANCE = 1e-4


@pytest.mark.slow
def test_mirrored_over_two_cpu_devices_gives_the_one_device_loss_curve():
    cfg = {**TRAIN, "precision": "float32", "jit_compile": "auto"}
    proc = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT, json.dumps(cfg)], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
    one, two = result["none"], result["mirrored"]
    assert (one["replicas"], one["in_sync"]) == (1, 1)
    assert (two["replicas"], two["in_sync"]) == (2, 2)  # the global batch of 2: one image per replica
    assert two["devices"] == ["/device:CPU:0", "/device:CPU:1"]
    assert one["loss"][-1] < 0.95 * one["loss"][0]  # it learns: the curves compared are not flat
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=TOLERANCE)
    np.testing.assert_allclose(two["accuracy"], one["accuracy"], rtol=TOLERANCE)
