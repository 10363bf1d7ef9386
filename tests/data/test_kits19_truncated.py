"""A KiTS19 volume whose header reads but whose voxels are cut short is named by its file, not its case."""

from __future__ import annotations

import pytest

from medseglab.data import DataError, prepare_dataset

from .helpers import assert_nothing_left, make_cfg
from .test_kits19 import kits_case


@pytest.mark.parametrize("name", ["imaging.nii.gz", "segmentation.nii.gz"])
def test_truncated_volume_data_names_the_file(tmp_path, name):
    kits_case(tmp_path / "kits", n=40, h=32, w=32)  # big enough that the header survives the cut
    path = tmp_path / "kits" / "case_00001" / name
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    out = tmp_path / "prepared" / "kidney"
    with pytest.raises(DataError) as info:
        prepare_dataset(make_cfg("kits19", tmp_path / "kits"), out)
    message = str(info.value)
    assert str(path) in message and "truncated" in message and "re-download" in message, message
    assert_nothing_left(out)
