"""The prepared-dataset contract: files, manifest, dataset.json, atomicity, subsets, cache dirs."""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import pytest
from PIL import Image

from medseglab.config import ConfigError, config_hash, prepare_config
from medseglab.data import DataError, ensure_prepared, load_prepared, prepare_dataset, prepared_dir_for
from medseglab.data import prepared as prepared_module

from .helpers import assert_nothing_left, make_cfg, rgb, square_mask, write_png


def synth_cfg(n=6, size=(20, 14), **kw):
    return make_cfg("synthetic", modality=kw.pop("modality", "skin"), n_images=n, image_size=size, **kw)


def test_contract_files_and_columns(tmp_path):
    out = prepare_dataset(synth_cfg(), tmp_path / "skin")
    ds = load_prepared(out)
    m = ds.manifest
    assert list(m.columns) == ["image_id", "group_id", "clinical_label", "source_image", "source_mask",
                               "content_hash", "target_fraction", "synthetic"]
    assert m["target_fraction"].dtype == np.float64 and m["synthetic"].dtype == bool
    assert m["image_id"].is_monotonic_increasing
    for key in ("name", "format", "source", "synthetic", "image_size", "n_images", "prepare_config",
                "content_hash", "created"):
        assert key in ds.info
    assert ds.info["image_size"] == [20, 14] and ds.info["n_images"] == 6
    assert ds.info["prepare_config"] == prepare_config(synth_cfg())
    for image_id, digest in zip(m["image_id"], m["content_hash"]):
        image = Image.open(out / "images" / f"{image_id}.png")
        assert image.mode == "RGB" and image.size == (20, 14)
        both = (out / "images" / f"{image_id}.png").read_bytes() + (out / "masks" / f"{image_id}.png").read_bytes()
        assert hashlib.sha256(both).hexdigest() == digest
    expected = hashlib.sha256("".join(sorted(m["content_hash"])).encode()).hexdigest()
    assert ds.info["content_hash"] == expected
    images, masks = ds.load_images(), ds.load_masks()
    assert images.shape == (6, 14, 20, 3) and images.dtype == np.uint8
    assert masks.shape == (6, 14, 20) and set(np.unique(masks)) <= {0, 1}
    np.testing.assert_allclose(m["target_fraction"], masks.reshape(6, -1).mean(axis=1))


def test_load_by_ids_keeps_order_and_refuses_unknown(tmp_path):
    ds = load_prepared(prepare_dataset(synth_cfg(), tmp_path / "skin"))
    ids = [ds.ids[3], ds.ids[0]]
    np.testing.assert_array_equal(ds.load_masks(ids)[0], ds.load_masks([ds.ids[3]])[0])
    with pytest.raises(DataError, match="nope"):
        ds.load_images(["nope"])
    assert ds.load_images([]).shape == (0, 14, 20, 3)


def test_load_prepared_of_a_plain_folder_says_what_to_run(tmp_path):
    with pytest.raises(DataError, match="medseglab prepare"):
        load_prepared(tmp_path)


def test_resizing_bilinear_images_nearest_masks(tmp_path):
    src = tmp_path / "src"
    image = rgb(12, 16)
    mask = np.zeros((12, 16), np.uint8)
    mask[::2, ::3] = 1  # a fine pattern: a bilinear resize would blur it, nearest keeps {0,1}
    write_png(src / "images" / "a.png", image)
    write_png(src / "masks" / "a.png", mask)
    ds = load_prepared(prepare_dataset(make_cfg("folder", src, image_size=(8, 5)), tmp_path / "out"))
    want_image = np.asarray(Image.fromarray(image).resize((8, 5), Image.Resampling.BILINEAR))
    want_mask = np.asarray(Image.fromarray(mask).resize((8, 5), Image.Resampling.NEAREST))
    np.testing.assert_array_equal(ds.load_images()[0], want_image)
    np.testing.assert_array_equal(ds.load_masks()[0], want_mask)


def test_same_config_same_hashes_other_seed_other_pixels(tmp_path):
    a = load_prepared(prepare_dataset(synth_cfg(), tmp_path / "a"))
    b = load_prepared(prepare_dataset(synth_cfg(), tmp_path / "b"))
    c = load_prepared(prepare_dataset(synth_cfg(options={"seed": 1}), tmp_path / "c"))
    assert a.info["content_hash"] == b.info["content_hash"]
    assert a.info["content_hash"] != c.info["content_hash"]


def test_max_images_picks_evenly_spaced_sorted_ids(tmp_path):
    src = tmp_path / "src"
    for i in range(10):
        write_png(src / "images" / f"im{i:02d}.png", rgb(6, 6, i))
        write_png(src / "masks" / f"im{i:02d}.png", square_mask(6, 6))
    cfg = make_cfg("folder", src, image_size=(6, 6), max_images=4)
    ds = load_prepared(prepare_dataset(cfg, tmp_path / "out"))
    assert ds.ids == ["im00", "im03", "im06", "im09"]
    assert ds.info["n_found"] == 10 and ds.info["n_images"] == 4
    again = load_prepared(prepare_dataset(cfg, tmp_path / "again"))
    assert again.ids == ds.ids


def test_unknown_format_lists_the_known_ones(tmp_path):
    out = tmp_path / "prepared" / "x"
    with pytest.raises(DataError) as info:
        prepare_dataset(make_cfg("nifti-magic", tmp_path), out)
    for known in ("isic2018", "gleason2019", "kits19", "folder", "synthetic"):
        assert known in str(info.value)
    assert_nothing_left(out)


def test_missing_source_folder_names_it_and_the_fix(tmp_path):
    out = tmp_path / "prepared" / "x"
    with pytest.raises(DataError) as info:
        prepare_dataset(make_cfg("folder", tmp_path / "no-such-dir"), out)
    assert "no-such-dir" in str(info.value) and "--source" in str(info.value)
    assert_nothing_left(out)
    with pytest.raises(DataError, match="source is not set"):
        prepare_dataset(make_cfg("isic2018", None), out)


def test_bad_config_values_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="image_size"):
        prepare_dataset(synth_cfg(size=(0, 10)), tmp_path / "o")
    with pytest.raises(ConfigError, match="combien"):
        prepare_dataset(synth_cfg(options={"combien": "majority"}), tmp_path / "o")
    with pytest.raises(ConfigError, match="modality"):
        prepare_dataset(synth_cfg(modality="brain"), tmp_path / "o")
    # an option of another format is kept for later and ignored (params.yaml's synthetic datasets)
    prepare_dataset(synth_cfg(n=2, options={"combine": "majority", "hu_window": [-200, 300]}), tmp_path / "ok")


def test_failed_reimport_keeps_the_existing_dataset(tmp_path):
    src = tmp_path / "src"
    for i in range(3):
        write_png(src / "images" / f"i{i}.png", rgb(8, 8, i))
        write_png(src / "masks" / f"i{i}.png", square_mask(8, 8))
    out = tmp_path / "prepared" / "ds"
    before = load_prepared(prepare_dataset(make_cfg("folder", src, image_size=(8, 8)), out)).info["content_hash"]
    (src / "images" / "i2.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DataError, match="i2.png"):
        prepare_dataset(make_cfg("folder", src, image_size=(8, 8)), out)
    after = load_prepared(out)
    assert after.info["content_hash"] == before and len(after) == 3
    assert [p.name for p in out.parent.iterdir()] == ["ds"]  # no temporary folder left


def test_prepared_dir_for_reuses_matching_default_else_cache(tmp_path):
    base = tmp_path / "data" / "prepared"
    cfg = synth_cfg(name="skin")
    cache = tmp_path / "data" / "cache" / f"skin-{config_hash(prepare_config(cfg))}"
    assert prepared_dir_for(cfg, base) == cache  # nothing prepared yet
    prepare_dataset(cfg, base / "skin")
    assert prepared_dir_for(cfg, base) == base / "skin"
    other = synth_cfg(name="skin", n=7)
    assert prepared_dir_for(other, base).parent == tmp_path / "data" / "cache"
    assert prepared_dir_for(other, base) != cache


def test_ensure_prepared_builds_once_and_rebuilds_when_stale(tmp_path, monkeypatch):
    base = tmp_path / "data" / "prepared"
    prepare_dataset(synth_cfg(name="skin"), base / "skin")  # the DVC-tracked demo data
    demo = json.loads((base / "skin" / "dataset.json").read_text())["content_hash"]
    real = synth_cfg(name="skin", n=4, options={"seed": 3})
    ds = ensure_prepared(real, base)
    assert ds.root.parent == tmp_path / "data" / "cache" and len(ds) == 4
    assert json.loads((base / "skin" / "dataset.json").read_text())["content_hash"] == demo  # untouched

    calls = []
    monkeypatch.setattr(prepared_module, "prepare_dataset", lambda cfg, out: calls.append(out))
    assert ensure_prepared(real, base).info["content_hash"] == ds.info["content_hash"]
    assert calls == []  # fresh: no rebuild
    assert ensure_prepared(synth_cfg(name="skin"), base).root == base / "skin" and calls == []

    monkeypatch.undo()
    (ds.root / "dataset.json").write_text(json.dumps({**ds.info, "prepare_config": {"stale": True}}))
    rebuilt = ensure_prepared(real, base)
    assert rebuilt.info["prepare_config"] == prepare_config(real)


@pytest.mark.parametrize("stem", [".", "..", ".hidden"])
def test_dot_image_ids_refused_like_predict(tmp_path, stem):
    """prepare and predict share one id rule (medseglab.data.ids): ``..png`` gives id '.', a folder."""
    source = tmp_path / "src"
    write_png(source / "images" / "a.png", rgb(8, 8))
    write_png(source / "masks" / "a.png", square_mask(8, 8))
    # PIL reads no extension from "..png": name the format
    Image.fromarray(rgb(8, 8)).save(source / "images" / f"{stem}.png", format="PNG")
    Image.fromarray(square_mask(8, 8)).save(source / "masks" / f"{stem}.png", format="PNG")
    out = tmp_path / "out"
    with pytest.raises(DataError, match=re.escape(f"{stem}.png: ") + ".* cannot be an image id.*rename the file"):
        prepare_dataset(make_cfg("folder", source), out)
    assert_nothing_left(out)
