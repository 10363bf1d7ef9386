"""`gleason2019`: per-pathologist grade maps combined per pixel (fixtures in the release layout)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from medseglab.config import ConfigError
from medseglab.data import DataError, load_prepared, prepare_dataset

from .helpers import assert_nothing_left, make_cfg, rgb, write_jpg, write_png

H, W = 8, 10


def grades(columns: dict[int, int]) -> np.ndarray:
    """A grade map whose column j has grade columns[j] (others 0)."""
    g = np.zeros((H, W), np.uint8)
    for j, value in columns.items():
        g[:, j] = value
    return g


# Pathologist 1 marks columns 0-3, 2 marks 2-5, 3 marks 3 and 8 (grade 1-2 are not tumour).
READERS = {
    1: grades({0: 3, 1: 4, 2: 5, 3: 3, 9: 2}),
    2: grades({2: 3, 3: 4, 4: 5, 5: 3, 9: 1}),
    3: grades({3: 5, 8: 4}),
}


def make_release(root, readers=READERS, cores=("slide001_core001", "slide001_core002"), flat=False):
    images = root if flat else root / "Train Imgs"
    for i, core in enumerate(cores):
        write_jpg(images / f"{core}.jpg", rgb(H, W, i))
        for k, g in readers.items():
            # core 2 is benign for every pathologist
            write_png(root / f"Maps{k}_T" / f"{core}_classimg_nonconvex.png", g if i == 0 else np.minimum(g, 2))
    return root


def columns(mask_row) -> list[int]:
    return [j for j, v in enumerate(mask_row) if v]


@pytest.mark.parametrize("combine, expected", [
    ("majority", [2, 3]),                  # >= 2 of 3
    ("union", [0, 1, 2, 3, 4, 5, 8]),
    ("intersection", [3]),
    ("any_2", [2, 3]),
    ("any_3", [3]),
    ("pathologist_3", [3, 8]),
])
def test_combination_methods(tmp_path, combine, expected):
    src = make_release(tmp_path / "g")
    out = prepare_dataset(make_cfg("gleason2019", src, image_size=(W, H), options={"combine": combine}), tmp_path / "o")
    ds = load_prepared(out)
    masks = ds.load_masks()
    assert columns(masks[0][0]) == expected
    assert (masks[0] == masks[0][0]).all()  # every row the same
    assert masks[1].sum() == 0
    assert ds.manifest["clinical_label"].tolist() == ["tumor", "no tumor"]
    assert json.loads((out / "dataset.json").read_text())["importer"]["combine"] == combine


def test_majority_tie_counts_as_tumour_and_is_recorded(tmp_path):
    src = make_release(tmp_path / "g", readers={1: READERS[1], 2: READERS[2]}, flat=True)
    ds = load_prepared(prepare_dataset(make_cfg("gleason2019", src, image_size=(W, H)), tmp_path / "o"))
    assert columns(ds.load_masks()[0][0]) == [0, 1, 2, 3, 4, 5]  # 1 of 2 readers = a tie -> tumour
    assert ds.info["importer"]["majority_ties"] == "tumour"
    assert ds.info["importer"]["pathologists"] == [1, 2]


def test_cores_with_fewer_readers_vote_among_their_own(tmp_path):
    src = make_release(tmp_path / "g")
    (src / "Maps3_T" / "slide001_core001_classimg_nonconvex.png").unlink()
    ds = load_prepared(prepare_dataset(make_cfg("gleason2019", src, image_size=(W, H),
                                                options={"combine": "any_3"}), tmp_path / "o"))
    assert columns(ds.load_masks()[0][0]) == [2, 3]  # any_3 with 2 readers = both
    assert ds.info["importer"]["maps_per_core"] == {"2": 1, "3": 1}


def test_pathologist_missing_for_a_core_is_an_error(tmp_path):
    src = make_release(tmp_path / "g")
    (src / "Maps3_T" / "slide001_core002_classimg_nonconvex.png").unlink()
    out = tmp_path / "o"
    with pytest.raises(DataError, match=r"slide001_core002.*pathologist 3.*combine"):
        prepare_dataset(make_cfg("gleason2019", src, options={"combine": "pathologist_3"}), out)
    assert_nothing_left(out)


@pytest.mark.parametrize("bad", ["mean", "any_0", "pathologist_x", "any"])
def test_unknown_combination_is_a_config_error(tmp_path, bad):
    with pytest.raises(ConfigError, match="combine"):
        prepare_dataset(make_cfg("gleason2019", make_release(tmp_path / "g"), options={"combine": bad}), tmp_path / "o")


def _core_without_maps(src):
    write_jpg(src / "Train Imgs" / "slide002_core009.jpg", rgb(H, W))
    return "slide002_core009.jpg", "image without mask"


def _maps_without_core(src):
    write_png(src / "Maps2_T" / "slide003_core001_classimg_nonconvex.png", grades({}))
    return "slide003_core001_classimg_nonconvex.png", "mask without image"


def _map_size_mismatch(src):
    write_png(src / "Maps2_T" / "slide001_core001_classimg_nonconvex.png", np.zeros((H + 2, W), np.uint8))
    return "Maps2_T", "must have its image's size"


def _not_grades(src):
    write_png(src / "Maps1_T" / "slide001_core002_classimg_nonconvex.png", grades({1: 200}))
    return "slide001_core002_classimg_nonconvex.png", "not Gleason grades"


def _no_map_folders(src):
    import shutil

    for k in READERS:
        shutil.rmtree(src / f"Maps{k}_T")
    return "Maps1_T", "no Maps<k>_T"


def _truncated_core(src):
    path = src / "Train Imgs" / "slide001_core002.jpg"
    path.write_bytes(path.read_bytes()[:40])
    return "slide001_core002.jpg", "truncated"


@pytest.mark.parametrize("breaker", [_core_without_maps, _maps_without_core, _map_size_mismatch, _not_grades,
                                     _no_map_folders, _truncated_core])
def test_malformed_release_fails_cleanly(tmp_path, breaker):
    src = make_release(tmp_path / "g")
    name, fix = breaker(src)
    out = tmp_path / "prepared" / "prostate"
    with pytest.raises(DataError) as info:
        prepare_dataset(make_cfg("gleason2019", src), out)
    assert name in str(info.value) and fix in str(info.value), str(info.value)
    assert_nothing_left(out)
