"""How a training uses its hardware: precision, XLA and replication over devices (issue #10).

params.yaml's ``train.precision``, ``train.jit_compile`` and ``train.distribute`` are resolved once
per training into an `Acceleration` (``auto`` decided by the devices TensorFlow sees), recorded on
the run (`Acceleration.params` / `.tags`) and applied only while the model is built and compiled
(`build_scope`): the global Keras dtype policy is restored afterwards, so one training of a study
does not leak its policy into the next one in the same process. The model's softmax output and the
loss stay float32 under mixed precision (`models.vgg_unet`), so metrics and the NaN policy do not change.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from pathlib import Path

from medseglab.config import ConfigError

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
DISTRIBUTES = ("auto", "none", "mirrored")
_BOOL_WORDS = {"true": True, "false": False, "auto": "auto"}


@dataclasses.dataclass(frozen=True)
class Acceleration:
    """The resolved settings of one training."""

    precision: str               # float32 | mixed_float16 | mixed_bfloat16 (a Keras dtype policy)
    jit_compile: bool            # XLA for the train/predict steps
    distribute: str              # none | mirrored
    devices: tuple[str, ...]     # the replicas' devices (mirrored), else ()
    device: str                  # "gpu" or "cpu": what `auto` was decided for

    @property
    def replicas(self) -> int:
        return max(1, len(self.devices))

    def params(self, model=None) -> dict[str, str]:
        """MLflow params (``training.*``; ``train.*`` holds the configured words, e.g. ``auto``).
        With ``model``, XLA is what Keras actually compiled with."""
        jit = self.jit_compile if model is None else bool(model.jit_compile)
        return {
            "training.precision": self.precision, "training.jit_compile": str(jit).lower(),
            "training.distribute": self.distribute, "training.replicas": str(self.replicas),
            "training.device": self.device,
        }

    def tags(self, model=None) -> dict[str, str]:
        """The same values as tags ``medseglab.<name>`` (set again on every start, resumes included)."""
        return {f"medseglab.{k.split('.', 1)[1]}": v for k, v in self.params(model).items()}


def cpu_has_bf16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """Whether the CPU computes bfloat16 natively (AVX512-BF16 or AMX); elsewhere oneDNN emulates it slowly."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return False
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[-1].split())
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def _word(train_cfg: dict, key: str, allowed: tuple[str, ...]) -> str:
    value = train_cfg.get(key, "auto")
    value = "auto" if value is None else str(value).lower()
    if value not in allowed:
        raise ConfigError(f"train.{key}={train_cfg.get(key)!r}: use one of {list(allowed)} (params.yaml train:)")
    return value


def _jit_word(train_cfg: dict):
    value = train_cfg.get("jit_compile", "auto")
    if isinstance(value, bool):
        return value
    word = _BOOL_WORDS.get("auto" if value is None else str(value).lower())
    if word is None:
        raise ConfigError(f"train.jit_compile={value!r}: use auto, true or false (params.yaml train:)")
    return word


def resolve_acceleration(train_cfg: dict) -> Acceleration:
    """Resolve the ``train:`` section's precision / jit_compile / distribute for the devices TensorFlow sees.

    auto: precision mixed_float16 on a GPU, float32 on CPUs (measured: benchmarks/precision_throughput.py);
    jit_compile true on a GPU without op determinism and without replication (Keras' own rule);
    distribute mirrored when more than one GPU is visible. ``mirrored`` without GPUs replicates over
    the logical CPU devices (more than one only when configured, as the replication test does).
    """
    import tensorflow as tf

    precision = _word(train_cfg, "precision", PRECISIONS)
    distribute = _word(train_cfg, "distribute", DISTRIBUTES)
    jit = _jit_word(train_cfg)
    deterministic = bool(train_cfg.get("deterministic", True))
    gpus = tf.config.list_logical_devices("GPU")
    device = "gpu" if gpus else "cpu"

    if precision == "auto":
        precision = "mixed_float16" if gpus else "float32"
    elif not gpus and precision == "mixed_float16":
        log.warning("train.precision=mixed_float16 on a CPU: float16 is emulated there and slow")
    elif not gpus and precision == "mixed_bfloat16" and not cpu_has_bf16():
        log.warning("train.precision=mixed_bfloat16 on a CPU without bf16 instructions: emulated and slow")

    if distribute == "auto":
        distribute = "mirrored" if len(gpus) > 1 else "none"
    devices: tuple[str, ...] = ()
    if distribute == "mirrored":
        devices = tuple(d.name for d in (gpus or tf.config.list_logical_devices("CPU")))
        batch = int(train_cfg.get("batch_size", 2))
        if batch % len(devices):
            raise ConfigError(
                f"train.batch_size={batch} cannot be split evenly over {len(devices)} replicas "
                f"({', '.join(devices)}): set batch_size to a multiple of {len(devices)} or train.distribute: none"
            )

    if jit == "auto":
        jit = bool(gpus) and not deterministic and len(devices) <= 1
    elif jit and deterministic:
        raise ConfigError(
            "train.jit_compile=true with train.deterministic=true: Keras turns XLA off under op determinism; "
            "set train.deterministic: false to train with XLA, or train.jit_compile: auto"
        )
    return Acceleration(precision, bool(jit), distribute, devices, device)


@contextlib.contextmanager
def build_scope(acc: Acceleration):
    """Build and compile the model inside: the dtype policy set, under the replication strategy when
    mirrored. The previous global dtype policy is restored on exit (errors included); yields the
    strategy or None."""
    import keras
    import tensorflow as tf

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(acc.precision)
    try:
        with contextlib.ExitStack() as stack:
            strategy = None
            if acc.distribute == "mirrored":
                strategy = tf.distribute.MirroredStrategy(devices=list(acc.devices))
                stack.enter_context(strategy.scope())
            yield strategy
    finally:
        keras.config.set_dtype_policy(previous)


def compile_config(train_cfg: dict, acc: Acceleration) -> dict:
    """The ``train:`` section as `models.compile_model` takes it, with XLA resolved."""
    return {**train_cfg, "jit_compile": acc.jit_compile}
