"""Label / manifest tables: rows naming images that are not there are warned about, not silently dropped."""

from __future__ import annotations

import logging

import numpy as np

from medseglab.data import load_prepared, prepare_dataset

from .helpers import make_cfg, square_mask, write_png
from .test_folder import make_folder


def _warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("medseglab")]


def test_rows_for_missing_images_are_warned_with_count_and_first_ids(tmp_path, caplog):
    src = make_folder(tmp_path / "src")
    rows = "".join(f"ghost{k},benign\n" for k in range(7))
    (src / "labels.csv").write_text("image_id,label\nimg0,malignant\n" + rows)
    with caplog.at_level(logging.WARNING):
        ds = load_prepared(prepare_dataset(make_cfg("folder", src), tmp_path / "out"))
    assert ds.manifest.set_index("image_id").loc["img0", "clinical_label"] == "malignant"  # still imported
    [message] = _warnings(caplog)
    assert "labels.csv" in message and "7 id(s)" in message and "ghost0, ghost1" in message and "2 more" in message
    assert ds.info["importer"]["table_ids_without_image"] == 7


def test_a_table_that_matches_warns_nothing(tmp_path, caplog):
    src = make_folder(tmp_path / "src")
    (src / "labels.csv").write_text("image_id,label\nimg0,malignant\nimg1,benign\n")
    with caplog.at_level(logging.WARNING):
        ds = load_prepared(prepare_dataset(make_cfg("folder", src), tmp_path / "out"))
    assert _warnings(caplog) == [] and ds.info["importer"]["table_ids_without_image"] == 0


def test_kits_slice_manifest_rows_without_slices_are_warned(tmp_path, caplog):
    for name in ("100_1", "100_2"):
        write_png(tmp_path / "s" / "images" / f"{name}.png", np.full((6, 6), 80, np.uint8))
        write_png(tmp_path / "s" / "labels" / f"{name}.png", square_mask(6, 6, 1))
    (tmp_path / "s" / "manifest.csv").write_text("name,kits19_case\n100_1,case_100\n100_2,case_100\n100_9,case_100\n")
    with caplog.at_level(logging.WARNING):
        prepare_dataset(make_cfg("kits19", tmp_path / "s", image_size=(6, 6)), tmp_path / "o")
    [message] = _warnings(caplog)
    assert "manifest.csv" in message and "1 id(s)" in message and "100_9" in message
