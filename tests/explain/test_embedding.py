"""Pooled penultimate features and their UMAP table / figure."""

from __future__ import annotations

import base64
import warnings

import numpy as np
import pandas as pd
import pytest

from medseglab.explain import embedding as emb


def _manual_pool(model, images, layer, weights_fn):
    import keras

    probe = keras.Model(model.input, [model.get_layer(layer).output, model.output])
    acts, probs = (t.numpy() for t in probe(images, training=False))
    out = np.zeros((len(images), 2, acts.shape[-1]))
    for i in range(len(images)):
        for c in (0, 1):
            w = weights_fn(probs[i], c)
            f = acts.shape[1]
            if f != w.shape[0]:  # area average to the feature map's size (integer factor)
                k = w.shape[0] // f
                w = w.reshape(f, k, f, k).mean(axis=(1, 3))
            out[i, c] = (acts[i] * w[..., None]).sum(axis=(0, 1)) / w.sum()
    return out


@pytest.mark.parametrize("layer", ["dec1", "dec2"])  # full and half resolution
def test_predicted_pooling_is_mean_over_predicted_pixels(unet32, isic32, layer):
    _, images, _ = isic32
    feats, fallback = emb.pooled_features(unet32, images, pool="predicted", layer=layer, batch_size=3)
    assert not fallback.any()  # the fitted model predicts both classes on every image
    expected = _manual_pool(unet32, images, layer, lambda p, c: (p.argmax(-1) == c).astype(float))
    np.testing.assert_allclose(feats, expected, rtol=1e-4, atol=1e-5)


def test_ground_truth_pooling_and_fallback(unet32, isic32):
    _, images, masks = isic32
    masks = masks.copy()
    masks[0] = 0  # image 0 has no class-1 pixel: its class-1 vector falls back to probability weights
    feats, fallback = emb.pooled_features(unet32, images, pool="ground_truth", masks=masks, layer="dec1")
    assert fallback[:, 1].tolist() == [True, False, False, False] and not fallback[:, 0].any()
    expected = _manual_pool(unet32, images, "dec1", lambda p, c: p[..., c])
    np.testing.assert_allclose(feats[0, 1], expected[0, 1], rtol=1e-4, atol=1e-5)
    gt_mean = _manual_pool(unet32, images[1:2], "dec1", lambda p, c: (masks[1] == c).astype(float))
    np.testing.assert_allclose(feats[1], gt_mean[0], rtol=1e-4, atol=1e-5)


def test_ground_truth_pooling_needs_masks(unet32, isic32):
    with pytest.raises(ValueError, match="ground-truth"):
        emb.pooled_features(unet32, isic32[1], pool="ground_truth")


@pytest.fixture(scope="module")
def features():
    rng = np.random.default_rng(0)
    centres = np.repeat(np.eye(2, 16) * 5, 4, axis=0)  # two clusters of 4 images
    return (centres[:, None, :] + rng.normal(size=(8, 2, 16))).astype(np.float32)


def _table(features, seed=0, n_neighbors=5):
    ids = [f"img{i}" for i in range(len(features))]
    labels = (["benign"] * 4 + ["malignant"] * 4)[: len(features)]
    fallback = np.zeros(features.shape[:2], bool)
    return emb.embedding_table(ids, labels, "tii", features, fallback, (0, 1), "predicted", n_neighbors, 0.01, seed)


def test_umap_table_one_row_per_image_and_class_reproducible(features):
    table = _table(features)
    assert list(table.columns) == emb.TABLE_COLUMNS
    assert len(table) == 16 and table.groupby("class")["image_id"].nunique().tolist() == [8, 8]
    assert table.set_index(["image_id", "class"])["clinical_label"].loc[("img5", 1)] == "malignant"
    assert np.isfinite(table[["x", "y"]].to_numpy()).all()
    pd.testing.assert_frame_equal(table, _table(features))  # same seed, same coordinates
    assert not np.allclose(table[["x", "y"]], _table(features, seed=1)[["x", "y"]])


def test_umap_clamps_n_neighbors_and_says_so(features):
    with pytest.warns(UserWarning, match="clamped to 3"):
        table = _table(features[:4], n_neighbors=5)
    assert set(table["n_neighbors"]) == {3}


def test_umap_of_two_images_is_a_line():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        coords, used = emb.umap_embed(np.ones((2, 3)), 5, 0.01)
    assert coords.shape == (2, 2) and used == 0


def test_scatter_coloured_by_label_written_as_html_and_json(features, tmp_path):
    import plotly.io as pio

    fig = emb.scatter_figure(_table(features))
    assert {trace.name for trace in fig.data} == {"benign", "malignant"}
    emb.write_figure(fig, tmp_path / "umap.html", tmp_path / "umap.json")
    again = pio.from_json((tmp_path / "umap.json").read_text())
    assert sum(len(_values(trace.x)) for trace in again.data) == 16
    assert "plotly" in (tmp_path / "umap.html").read_text()[:5000].lower()


def _values(array):
    """Plotly JSON stores numeric arrays as base64 typed arrays ({'dtype', 'bdata'})."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"])
    return np.asarray(array)


def test_umap_png_names_its_axes_and_labels(features, tmp_path, monkeypatch):
    import matplotlib.pyplot as plt
    from PIL import Image

    from medseglab.stats.provenance import Provenance

    table = pd.concat([_table(features), _table(features).assign(init="lmi")], ignore_index=True)
    table.loc[0, "pooled_over"] = "probability"
    closed = []
    close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: (closed.append(fig), close(fig)))
    path = emb.scatter_png(table, tmp_path / "umap.png", "skin: UMAP", Provenance(tii_weights=("hed-bsds500",)))
    assert Image.open(path).format == "PNG"
    fig = closed[-1]
    assert len(fig.axes) == 4  # (LMI, TII) x (class 0, class 1)
    assert {ax.get_xlabel() for ax in fig.axes} == {"UMAP 1"} and {ax.get_ylabel() for ax in fig.axes} == {"UMAP 2"}
    assert any("TII (BSDS500 VGG16 fallback)" in ax.get_title() for ax in fig.axes)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[:2] == ["benign", "malignant"] and "probability-pooled" in legend[2]
