"""Datasets too small to split: the error says what can work (never a split.n_splits that cannot)."""

from __future__ import annotations

import pandas as pd
import pytest

from medseglab.data.errors import DataError
from medseglab.splits import make_splits


def _manifest(groups):
    return pd.DataFrame({"image_id": [f"i{k}" for k in range(len(groups))], "group_id": groups,
                         "clinical_label": "unknown"})


@pytest.mark.parametrize("n_splits", [5, 2])
def test_one_image_says_add_images_not_lower_n_splits(n_splits):
    with pytest.raises(DataError) as info:
        make_splits(_manifest(["i0"]), n_splits, 0.2, [60], 2021)
    message = str(info.value)
    assert "1 image" in message and "add images" in message, message
    assert "n_splits" not in message


def test_one_group_of_many_images_says_add_groups():
    with pytest.raises(DataError) as info:
        make_splits(_manifest(["case_1"] * 6), 5, 0.2, [60], 2021)
    message = str(info.value)
    assert "one group ('case_1'" in message and "other patients/cases" in message and "group" in message
    assert "n_splits" not in message


def test_two_groups_are_told_the_n_splits_that_works():
    manifest = _manifest(["a", "a", "b"])
    with pytest.raises(DataError, match=r"split\.n_splits=2\)"):
        make_splits(manifest, 5, 0.2, [], 2021)
    assert set(make_splits(manifest, 2, 0.2, [], 2021)["subset"]) == {"train", "test"}  # the advice works
