"""`synthetic`: seeded phantoms that say they are synthetic and that a model can learn."""

from __future__ import annotations

import numpy as np
import pytest

from medseglab.data import load_prepared, prepare_dataset

from .helpers import make_cfg

LABELS = {"skin": {"benign", "malignant"}, "prostate": {"tumor", "no tumor"}, "kidney": {"kidney", "no kidney"}}


def phantoms(tmp_path, modality, n=24, size=(32, 24), **options):
    cfg = make_cfg("synthetic", modality=modality, n_images=n, image_size=size, options=options)
    return load_prepared(prepare_dataset(cfg, tmp_path / f"{modality}-{n}-{options.get('seed', 0)}"))


@pytest.mark.parametrize("modality", ["skin", "prostate", "kidney"])
def test_phantoms_say_they_are_synthetic(tmp_path, modality):
    ds = phantoms(tmp_path, modality)
    m = ds.manifest
    assert ds.info["synthetic"] is True and m["synthetic"].all()
    assert m["image_id"].str.startswith("synth-").all()
    assert m["source_image"].str.startswith("synthetic:").all()
    assert ds.info["source"] is None and ds.info["importer"]["modality"] == modality
    assert set(m["clinical_label"]) == LABELS[modality]  # both labels occur in 24 images
    sizes = m.groupby("group_id").size()
    assert len(sizes) < len(m) and sizes.min() >= 2  # several images per synthetic patient / case
    images = ds.load_images()
    assert images.shape == (24, 24, 32, 3) and images.std() > 10


@pytest.mark.parametrize("modality, positive", [("prostate", "tumor"), ("kidney", "kidney")])
def test_labels_follow_the_masks(tmp_path, modality, positive):
    ds = phantoms(tmp_path, modality)
    has_target = ds.load_masks().reshape(len(ds), -1).any(axis=1)
    assert ((ds.manifest["clinical_label"] == positive) == has_target).all()
    assert has_target.any() and not has_target.all()  # some empty masks, as in the real data


def test_skin_lesions_in_every_image_and_malignant_ones_larger(tmp_path):
    ds = phantoms(tmp_path, "skin", n=30)
    frac = ds.manifest.set_index("clinical_label")["target_fraction"]
    assert (frac > 0).all()
    assert frac.loc["malignant"].mean() > frac.loc["benign"].mean()


def test_phantom_i_depends_only_on_seed_and_index(tmp_path):
    small, large = phantoms(tmp_path, "skin", n=4), phantoms(tmp_path, "skin", n=9)
    np.testing.assert_array_equal(small.load_images(), large.load_images(small.ids))
    assert (small.manifest["content_hash"].values == large.manifest["content_hash"].values[:4]).all()
    other = phantoms(tmp_path, "skin", n=4, seed=5)
    assert not np.array_equal(other.load_images(), small.load_images())


def test_image_size_is_w_by_h(tmp_path):
    ds = phantoms(tmp_path, "kidney", n=2, size=(40, 16))
    assert ds.load_images().shape == (2, 16, 40, 3) and ds.load_masks().shape == (2, 16, 40)


@pytest.mark.parametrize("modality", ["skin", "prostate", "kidney"])
def test_target_is_learnable_from_local_appearance(tmp_path, modality):
    """A per-pixel tree on colour + local mean, fit on 20 phantoms, segments 20 others well:
    the target is visible, not noise (a cheap stand-in for training a U-Net)."""
    from scipy.ndimage import uniform_filter
    from sklearn.tree import DecisionTreeClassifier

    ds = phantoms(tmp_path, modality, n=40, size=(32, 32))
    images, masks = ds.load_images().astype(np.float32), ds.load_masks()
    local = uniform_filter(images, size=(1, 5, 5, 1))
    features = np.concatenate([images, local], axis=-1).reshape(-1, 6)
    half = 20 * 32 * 32
    tree = DecisionTreeClassifier(max_depth=6, random_state=0).fit(features[:half], masks.reshape(-1)[:half])
    pred, gt = tree.predict(features[half:]), masks.reshape(-1)[half:]
    dice = 2 * (pred & gt).sum() / (pred.sum() + gt.sum())
    chance = 2 * gt.mean() / (1 + gt.mean())  # Dice of predicting everything
    assert dice > 0.8 and dice > 2 * chance, (dice, chance)


@pytest.mark.slow
@pytest.mark.parametrize("modality", ["skin", "prostate", "kidney"])
def test_vgg_unet_learns_phantoms_in_two_epochs(tmp_path, modality):
    """SPEC demo promise: 40 phantoms at 64x64, 2 epochs, the study's optimizer -> Dice well above chance."""
    import keras

    from medseglab.models import compile as compile_mod
    from medseglab.models import vgg_unet
    keras.utils.set_random_seed(0)
    ds = phantoms(tmp_path, modality, n=60, size=(64, 64))
    x, y = ds.load_images().astype("float32"), ds.load_masks()
    model, _ = vgg_unet.build_vgg_unet((64, 64, 3), init="lmi", seed=0)
    compile_mod.compile_model(model, {"optimizer": "adadelta", "learning_rate": 1.0, "jit_compile": False})
    model.fit(x[:40], y[:40], batch_size=2, epochs=2, verbose=0)
    pred = model.predict(x[40:], verbose=0)[..., 1] >= 0.5
    gt = y[40:].astype(bool)
    dice = 2 * (pred & gt).sum() / (pred.sum() + gt.sum())
    assert dice > 0.6, dice
