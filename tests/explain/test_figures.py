"""Overlay colours, image selection and the PNG galleries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from medseglab.explain import figures as fg


def test_overlay_colours_exact():
    gt = np.array([[1, 1, 0, 0]] * 2, np.uint8)
    pred = np.array([[1, 0, 1, 0]] * 2, np.uint8)
    out = fg.overlay(pred, gt)
    assert out.dtype == np.uint8 and out.shape == (2, 4, 3)
    assert out[0].tolist() == [[0, 255, 0], [255, 255, 0], [255, 0, 0], [0, 0, 0]]  # TP, FN, FP, TN


def test_overlay_is_vectorised_and_checks_shapes():
    rng = np.random.default_rng(0)
    pred, gt = rng.integers(0, 2, (3, 5, 6)), rng.integers(0, 2, (3, 5, 6))
    out = fg.overlay(pred, gt)
    assert out.shape == (3, 5, 6, 3)
    np.testing.assert_array_equal(out[1], fg.overlay(pred[1], gt[1]))
    assert ((out == fg.TP_COLOUR).all(-1) == (pred & gt).astype(bool)).all()
    with pytest.raises(ValueError, match="shape"):
        fg.overlay(pred[0], gt)


def test_select_best_worst_median_and_user():
    delta = pd.Series({"a": -0.5, "b": -0.1, "c": 0.0, "d": 0.05, "e": 0.3, "f": np.nan, "g": 0.02})
    picked = fg.select_images(delta, n_per_kind=1, extra_ids=["f", "e"])
    # median of the 6 ranked deltas is 0.01: c and g are equally close, the tie goes by id
    assert picked.set_index("image_id")["kind"].to_dict() == {"e": "best", "a": "worst", "c": "median", "f": "user"}
    assert np.isnan(picked.set_index("image_id").loc["f", "delta_dice"])
    two = fg.select_images(delta, n_per_kind=2)
    assert two.loc[two["kind"] == "best", "image_id"].tolist() == ["e", "d"]
    assert two.loc[two["kind"] == "worst", "image_id"].tolist() == ["a", "b"]
    assert two.loc[two["kind"] == "median", "image_id"].tolist() == ["c", "g"]
    three = fg.select_images(delta, n_per_kind=3)  # only 6 ranked images: the median kind gets what is left
    assert three["image_id"].is_unique and len(three) == 6 and (three["kind"] == "median").sum() == 0


def test_select_rejects_unknown_user_ids():
    with pytest.raises(ValueError, match="nope"):
        fg.select_images(pd.Series({"a": 0.1}), extra_ids=["nope"])


def _rows(n=2, size=16, chosen=("union", None)):
    rng = np.random.default_rng(1)
    rows = []
    for i in range(n):
        gt = np.zeros((size, size), np.uint8)
        gt[4:12, 4:12] = 1
        rows.append(fg.GalleryRow(
            image_id=f"img{i}", image=rng.integers(0, 255, (size, size, 3)).astype(np.uint8), gt=gt,
            lmi=np.roll(gt, 2, axis=1), tii=gt.copy(), label="best", chosen=chosen[i % len(chosen)],
            cam_lmi=rng.random((2, size, size)), cam_tii=rng.random((2, size, size)),
        ))
    return rows


def test_comparison_gallery_png(tmp_path):
    path = fg.comparison_gallery(_rows(), tmp_path / "g.png", title="skin")
    image = Image.open(path)
    assert image.format == "PNG" and image.width > image.height
    pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    assert (pixels == fg.FP_COLOUR).all(-1).any() and (pixels == fg.FN_COLOUR).all(-1).any()


def test_ensemble_gallery_frames_the_choice(tmp_path):
    framed = np.asarray(Image.open(fg.ensemble_gallery(_rows(1, chosen=("tii",)), tmp_path / "a.png")).convert("RGB"))
    plain = np.asarray(Image.open(fg.ensemble_gallery(_rows(1, chosen=(None,)), tmp_path / "b.png")).convert("RGB"))
    frame_blue = np.array([0, 160, 255])
    assert (np.abs(framed.reshape(-1, 3) - frame_blue).sum(-1) < 30).sum() > 50
    assert (np.abs(plain.reshape(-1, 3) - frame_blue).sum(-1) < 30).sum() == 0
    with pytest.raises(ValueError, match="Algorithm 1 choice"):
        fg.ensemble_gallery(_rows(1, chosen=("o_uni",)), tmp_path / "c.png")


@pytest.mark.parametrize("kind, delta, expected", [
    ("best", 0.31, "largest TII gain (ΔDice +0.31)"),
    ("best", -0.02, "smallest TII loss (ΔDice -0.02)"),
    ("worst", -0.28, "largest TII loss (ΔDice -0.28)"),
    ("worst", 0.0, "no TII loss (ΔDice +0.00)"),  # both Dice 0.99: no contradiction with "worst"
    ("worst", 0.04, "smallest TII gain (ΔDice +0.04)"),
    ("median", 0.01, "median ΔDice (ΔDice +0.01)"),
    ("user", np.nan, "requested image (ΔDice n/a)"),
])
def test_row_labels_say_what_the_ranking_means(kind, delta, expected):
    assert fg.kind_label(kind, delta) == expected


def test_gallery_titles_carry_ranking_and_provenance(tmp_path, monkeypatch):
    from medseglab.stats.provenance import Provenance

    titles = []
    save = fg._save
    monkeypatch.setattr(fg, "_save", lambda fig, path: (titles.append(fig._suptitle.get_text()), save(fig, path))[1])
    prov = Provenance(True, "synthetic phantoms", ("hed-bsds500",))
    fg.comparison_gallery(_rows(), tmp_path / "c.png", "skin: LMI vs TII", subtitle=fg.RANKING_NOTE, provenance=prov)
    fg.ensemble_gallery(_rows(), tmp_path / "e.png", "skin: Algorithm 1", subtitle=fg.RANKING_NOTE, provenance=prov)
    for title in titles:
        assert "ΔDice = Dice(TII) - Dice(LMI)" in title
        assert "SYNTHETIC demo data" in title and "BSDS500 VGG16 fallback" in title
