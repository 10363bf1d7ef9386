"""One image file -> network input for training data and served models (no train/serve skew)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from medseglab.data import load_prepared, prepare_dataset
from medseglab.data.errors import DataError
from medseglab.data.imaging import network_input

from .helpers import make_cfg, rgb, write_jpg, write_png

SIZE_WH = (64, 48)  # not square: a W/H mix-up shows


class RecordingModel:
    """Stands in for a Keras model: remembers what predict feeds it, answers 'background'."""

    input_shape = (None, SIZE_WH[1], SIZE_WH[0], 3)

    def __init__(self):
        self.seen = []

    def predict_on_batch(self, images):
        self.seen.append(np.array(images))
        out = np.zeros((*images.shape[:3], 2), np.float32)
        out[..., 0] = 1.0
        return out


def predicted_inputs(folder, tmp_path) -> dict[str, np.ndarray]:
    """What ``predict_folder`` hands the models for each image in ``folder``, by image id."""
    from medseglab.ensemble.predict import list_images, predict_folder
    from medseglab.ensemble.queue import ReviewQueue

    model = RecordingModel()
    with ReviewQueue(tmp_path / "review.db") as queue:
        predict_folder({"lmi": [model], "tii": [RecordingModel()]}, folder, tmp_path / "pred", queue,
                       dataset="skin", batch_size=1)
    ids = [image_id for image_id, _ in list_images(folder)]
    return dict(zip(ids, np.concatenate(model.seen)))


def test_real_isic_prepare_and_predict_feed_the_model_the_same_pixels(shared_dataset, tmp_path):
    """The JPEG that trained a model (prepared PNG, read back) is what predict feeds it, to the bit."""
    source = shared_dataset("isic2018")
    cfg = make_cfg("isic2018", source, name="skin", image_size=SIZE_WH, max_images=3)
    ds = load_prepared(prepare_dataset(cfg, tmp_path / "prepared"))
    folder = tmp_path / "incoming"
    folder.mkdir()
    for row in ds.manifest.itertuples():
        (folder / f"{row.image_id}.jpg").symlink_to(row.source_image)
    served = predicted_inputs(folder, tmp_path)
    trained = ds.load_images(ds.ids)
    assert len(served) == 3
    for image_id, image in zip(ds.ids, trained):
        assert served[image_id].shape == (SIZE_WH[1], SIZE_WH[0], 3)
        np.testing.assert_array_equal(served[image_id].astype(np.uint8), image, err_msg=image_id)
        array, original = network_input(folder / f"{image_id}.jpg", SIZE_WH)
        np.testing.assert_array_equal(array, image, err_msg=image_id)
        with Image.open(folder / f"{image_id}.jpg") as src:
            assert original == src.size


def test_contract_rgb_uint8_at_w_h(tmp_path):
    path = write_png(tmp_path / "a.png", rgb(30, 40))
    array, original = network_input(path, SIZE_WH)
    assert array.shape == (48, 64, 3) and array.dtype == np.uint8 and original == (40, 30)
    want = np.asarray(Image.fromarray(rgb(30, 40)).resize(SIZE_WH, Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(array, want)
    same, _ = network_input(write_png(tmp_path / "b.png", rgb(48, 64)), SIZE_WH)
    np.testing.assert_array_equal(same, rgb(48, 64))  # already at size: untouched


def test_grayscale_and_16_bit_become_three_equal_channels(tmp_path):
    gray = np.arange(48 * 64, dtype=np.uint8).reshape(48, 64)
    array, _ = network_input(write_png(tmp_path / "g.png", gray), SIZE_WH)
    assert array.shape == (48, 64, 3)
    np.testing.assert_array_equal(array[..., 0], gray)
    assert (array == array[..., :1]).all()
    deep = (np.arange(48 * 64).reshape(48, 64) * 20).astype(np.uint16)  # 0..61420: stretched to 0..255
    Image.fromarray(deep).save(tmp_path / "d.png")
    array, _ = network_input(tmp_path / "d.png", SIZE_WH)
    assert array[0, 0, 0] == 0 and array[-1, -1, 0] == 255 and (array == array[..., :1]).all()


def test_large_jpeg_is_decoded_at_a_reduced_scale_on_both_paths(tmp_path):
    """A JPEG 4x the target is decoded at 1/4 (fast for Gleason cores), in prepare and predict alike."""
    path = write_jpg(tmp_path / "big.jpg", rgb(4 * 48, 4 * 64, seed=3))
    with Image.open(path) as img:
        img.draft("RGB", SIZE_WH)
        img.load()
        want = np.asarray(img.convert("RGB"))
    array, original = network_input(path, SIZE_WH)
    assert original == (256, 192)
    np.testing.assert_array_equal(array, want)


def test_unreadable_file_is_a_data_error(tmp_path):
    bad = tmp_path / "x.jpg"
    bad.write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.raises(DataError, match="x.jpg: cannot read this image"):
        network_input(bad, SIZE_WH)
