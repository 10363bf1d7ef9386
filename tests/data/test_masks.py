"""The mask policy (docs/DATA.md, "Masks"): alpha must be opaque, palette indices, 16-bit values as stored."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from medseglab.config import ConfigError
from medseglab.data import DataError, load_prepared, prepare_dataset
from medseglab.data.records import binary_mask, read_label_map

from .helpers import assert_nothing_left, make_cfg, rgb, square_mask, write_png

LESION = square_mask(12, 16, 1).astype(bool)


def _save(path, image: Image.Image):
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def _rgba(alpha: np.ndarray, grey: int = 0) -> Image.Image:
    arr = np.zeros((*alpha.shape, 4), np.uint8)
    arr[..., :3] = grey
    arr[..., 3] = alpha
    return Image.fromarray(arr, mode="RGBA")


def _palette(indices: np.ndarray, palette: list[int], **info) -> Image.Image:
    image = Image.fromarray(indices.astype(np.uint8), mode="P")
    image.putpalette(palette)
    image.info.update(info)
    return image


def test_lesion_drawn_only_in_alpha_is_refused_with_how_to_flatten(tmp_path):
    src = tmp_path / "src"
    write_png(src / "images" / "a.png", rgb(12, 16))
    mask = _save(src / "masks" / "a.png", _rgba(np.where(LESION, 255, 0)))  # RGB constant, lesion in alpha
    out = tmp_path / "prepared" / "ds"
    with pytest.raises(DataError) as info:
        prepare_dataset(make_cfg("folder", src), out)
    message = str(info.value)
    assert str(mask) in message and "alpha" in message and "getchannel('A')" in message and "-alpha off" in message
    assert_nothing_left(out)


@pytest.mark.parametrize("mode", ["LA", "RGBA"])
def test_any_transparent_alpha_band_is_refused(tmp_path, mode):
    image = _rgba(np.where(LESION, 255, 128), grey=1).convert(mode)
    path = _save(tmp_path / "m.png", image)
    with pytest.raises(DataError, match="not opaque"):
        read_label_map(path)


def test_opaque_alpha_is_ignored(tmp_path):
    arr = np.zeros((12, 16, 4), np.uint8)
    arr[..., :3] = np.where(LESION, 255, 0)[..., None]
    arr[..., 3] = 255
    path = _save(tmp_path / "m.png", Image.fromarray(arr, mode="RGBA"))
    np.testing.assert_array_equal(binary_mask(read_label_map(path), path), LESION.astype(np.uint8))


def test_palette_masks_use_indices_not_colours(tmp_path):
    # Index 0 is drawn white and index 1 black: the class is the index, whatever its colour.
    path = _save(tmp_path / "m.png", _palette(LESION, [255, 255, 255, 0, 0, 0]))
    assert Image.open(path).mode == "P"
    np.testing.assert_array_equal(read_label_map(path), LESION.astype(np.uint8))


def test_palette_transparency_belongs_to_an_index_and_is_ignored(tmp_path):
    path = tmp_path / "m.png"
    _palette(LESION, [0, 0, 0, 255, 255, 255]).save(path, transparency=0)
    assert "transparency" in Image.open(path).info
    np.testing.assert_array_equal(read_label_map(path), LESION.astype(np.uint8))


@pytest.mark.parametrize("high, accepted", [(1, True), (255, True), (65535, False)])
def test_16_bit_masks_keep_their_integer_values(tmp_path, high, accepted):
    path = _save(tmp_path / "m.png", Image.fromarray(np.where(LESION, high, 0).astype(np.uint16)))
    assert Image.open(path).mode == "I;16"
    values = read_label_map(path)
    assert set(np.unique(values).tolist()) == {0, high}  # as stored, not rescaled
    if accepted:
        np.testing.assert_array_equal(binary_mask(values, path), LESION.astype(np.uint8))
    else:
        with pytest.raises(DataError, match=r"m\.png.*not binary \(values 0, 65535\)"):
            binary_mask(values, path)


def test_a_palette_mask_prepares_like_a_grey_one(tmp_path):
    src = tmp_path / "src"
    write_png(src / "images" / "a.png", rgb(12, 16))
    _save(src / "masks" / "a.png", _palette(LESION, [0, 0, 0, 255, 0, 0]))
    ds = load_prepared(prepare_dataset(make_cfg("folder", src), tmp_path / "out"))
    np.testing.assert_array_equal(ds.load_masks()[0], LESION.astype(np.uint8))


def _alpha_lesion_folder(src):
    write_png(src / "images" / "a.png", rgb(12, 16))
    _save(src / "masks" / "a.png", _rgba(np.where(LESION, 255, 0), grey=0))
    return src


def test_mask_channel_alpha_reads_the_lesion_from_alpha(tmp_path):
    src = _alpha_lesion_folder(tmp_path / "src")
    ds = load_prepared(prepare_dataset(make_cfg("folder", src, options={"mask_channel": "alpha"}), tmp_path / "out"))
    np.testing.assert_array_equal(ds.load_masks()[0], LESION.astype(np.uint8))
    assert ds.info["options"]["mask_channel"] == "alpha"


def test_mask_channel_colour_ignores_alpha(tmp_path):
    src = _alpha_lesion_folder(tmp_path / "src")
    ds = load_prepared(prepare_dataset(make_cfg("folder", src, options={"mask_channel": "colour"}), tmp_path / "out"))
    assert ds.load_masks()[0].sum() == 0  # the colours are all background: what the user asked for


def test_mask_channel_alpha_on_a_mask_without_alpha_names_the_file(tmp_path):
    src = tmp_path / "src"
    write_png(src / "images" / "a.png", rgb(12, 16))
    mask = write_png(src / "masks" / "a.png", square_mask(12, 16))
    with pytest.raises(DataError, match=rf"{mask}.*no alpha channel"):
        prepare_dataset(make_cfg("folder", src, options={"mask_channel": "alpha"}), tmp_path / "out")


def test_isic_mask_channel_option(tmp_path):
    from medseglab.data.formats.isic2018 import IMAGES_DIR, MASKS_DIR

    src = tmp_path / "isic"
    write_png(src / IMAGES_DIR / "ISIC_1.jpg", rgb(12, 16))
    _save(src / MASKS_DIR / "ISIC_1_segmentation.png", _rgba(np.where(LESION, 255, 0)))
    with pytest.raises(DataError, match="mask_channel"):
        prepare_dataset(make_cfg("isic2018", src), tmp_path / "a")
    ds = load_prepared(prepare_dataset(make_cfg("isic2018", src, options={"mask_channel": "alpha"}), tmp_path / "b"))
    np.testing.assert_array_equal(ds.load_masks()[0], LESION.astype(np.uint8))


def test_unknown_mask_channel_is_a_config_error(tmp_path):
    src = _alpha_lesion_folder(tmp_path / "src")
    with pytest.raises(ConfigError, match=r"datasets\.ds\.options\.mask_channel = 'red'.*alpha"):
        prepare_dataset(make_cfg("folder", src, options={"mask_channel": "red"}), tmp_path / "out")
