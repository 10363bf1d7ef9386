"""The 80:20 sets: sizes, group-disjointness, partial overlap, determinism (SPEC 2)."""

import numpy as np
import pandas as pd
import pytest

from medseglab.config import ConfigError
from medseglab.data.errors import DataError
from medseglab.splits import make_splits, overlap_summary
from medseglab.splits.report import heldout_counts, heldout_sets


def _groups_cross(splits, manifest):
    """Number of groups on both sides of any (split, ratio)."""
    joined = splits.merge(manifest[["image_id", "group_id"]], on="image_id")
    sides = joined.groupby(["split", "ratio", "group_id"])["subset"].nunique()
    return int((sides > 1).sum())


@pytest.mark.parametrize("n_images,n_groups", [(100, None), (300, 60), (48, None)])
def test_test_sets_hold_a_fifth_within_group_granularity(manifest_factory, n_images, n_groups):
    manifest = manifest_factory(n_images, n_groups, seed=3)
    splits = make_splits(manifest, 5, 0.2, [], 7)
    biggest = manifest.groupby("group_id").size().max()
    sizes = [len(ids) for ids in heldout_sets(splits).values()]
    assert len(sizes) == 5
    for size in sizes:
        assert abs(size - 0.2 * n_images) <= biggest
    # each set lists every image exactly once
    per_set = splits.groupby(["split", "ratio"])["image_id"].agg(["size", "nunique"])
    assert (per_set["size"] == n_images).all() and (per_set["nunique"] == n_images).all()


@pytest.mark.parametrize("n_groups", [20, 60])
def test_no_group_on_both_sides(manifest_factory, n_groups):
    manifest = manifest_factory(240, n_groups, seed=1)
    splits = make_splits(manifest, 5, 0.2, [60, 40, 20, 10], 2021)
    assert _groups_cross(splits, manifest) == 0


def test_real_kits_slices_never_split_a_case(kits_manifest):
    splits = make_splits(kits_manifest, 5, 0.2, [60, 40, 20, 10], 2021)
    assert _groups_cross(splits, kits_manifest) == 0
    assert all(len(ids) > 0 for ids in heldout_sets(splits).values())


def test_about_a_fifth_of_images_in_two_test_sets_none_in_all(manifest_factory):
    splits = make_splits(manifest_factory(500), 5, 0.2, [], 11)
    summary = overlap_summary(splits)
    assert summary["in_two_or_more_tests_fraction"] == pytest.approx(0.2, abs=0.02)
    assert summary["in_all_tests"] == 0
    assert heldout_counts(splits).max() == 2  # borrowed at most once
    # the overlap is spread over pairs, not one pair
    tests = heldout_sets(splits)
    shared_pairs = sum(bool(tests[a] & tests[b]) for a in tests for b in tests if a < b)
    assert shared_pairs >= 5


def test_overlap_parameter_controls_sharing(manifest_factory):
    manifest = manifest_factory(400)
    disjoint = make_splits(manifest, 5, 0.2, [], 5, overlap=0.0)
    counts = heldout_counts(disjoint)
    assert (counts == 1).all()  # plain K-fold: every image tested exactly once
    more = overlap_summary(make_splits(manifest, 5, 0.2, [], 5, overlap=0.3))
    assert more["in_two_or_more_tests_fraction"] == pytest.approx(0.3, abs=0.02)


def test_deterministic_under_seed_and_row_order(manifest_factory):
    manifest = manifest_factory(120, 40, seed=2)
    first = make_splits(manifest, 5, 0.2, [60, 40], 2021)
    shuffled = manifest.sample(frac=1.0, random_state=9)
    again = make_splits(shuffled, 5, 0.2, [60, 40], 2021)
    pd.testing.assert_frame_equal(first, again)
    other = make_splits(manifest, 5, 0.2, [60, 40], 2022)
    assert not first.equals(other)
    assert heldout_sets(first) != heldout_sets(other)


def test_folds_are_label_balanced(manifest_factory):
    manifest = manifest_factory(500, seed=4, labels=("benign", "malignant", "malignant", "malignant"))
    share = (manifest["clinical_label"] == "benign").mean()
    splits = make_splits(manifest, 5, 0.2, [], 3, overlap=0.0)
    labels = manifest.set_index("image_id")["clinical_label"]
    for ids in heldout_sets(splits).values():
        assert (labels[list(ids)] == "benign").mean() == pytest.approx(share, abs=0.01)


def test_tiny_dataset_with_too_few_groups_is_a_clear_data_error(manifest_factory):
    manifest = manifest_factory(10, 3)
    with pytest.raises(DataError, match=r"3 group.*split\.n_splits"):
        make_splits(manifest, 5, 0.2, [60, 40, 20, 10], 2021)
    # the fix the message names works
    splits = make_splits(manifest, 3, 0.2, [60], 2021)
    assert _groups_cross(splits, manifest) == 0


def test_one_giant_group_stays_whole():
    """A group holding most images cannot be cut: its test set is big, and the group is on one side."""
    manifest = pd.DataFrame(
        {"image_id": [f"i{k}" for k in range(14)], "group_id": ["big"] * 10 + ["a", "b", "c", "d"]}
    )
    splits = make_splits(manifest, 5, 0.2, [], 0)
    assert _groups_cross(splits, manifest) == 0
    sizes = sorted(len(ids) for ids in heldout_sets(splits).values())
    assert sizes[-1] >= 10 and sizes[0] <= 2


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"n_splits": 1}, "n_splits"),
        ({"test_fraction": 1.5}, "test_fraction"),
        ({"depletion": [40, 60]}, "descending"),
        ({"depletion": [90]}, "depletion"),
        ({"depletion_from": 7}, "depletion_from"),
        ({"overlap": 0.9}, "overlap"),
        ({"seed": "abc"}, "seed"),
    ],
)
def test_bad_parameters_name_the_key(manifest_factory, kwargs, match):
    args = {"n_splits": 5, "test_fraction": 0.2, "depletion": [60, 40], "seed": 1, **kwargs}
    with pytest.raises(ConfigError, match=match):
        make_splits(manifest_factory(50), **args)


def test_missing_columns_and_duplicate_ids_are_data_errors():
    with pytest.raises(DataError, match="group_id"):
        make_splits(pd.DataFrame({"image_id": ["a", "b"]}))
    with pytest.raises(DataError, match="more than once"):
        make_splits(pd.DataFrame({"image_id": ["a"] * 10, "group_id": list("abcdefghij")}))


def test_labels_missing_still_split(manifest_factory):
    manifest = manifest_factory(60).drop(columns="clinical_label")
    splits = make_splits(manifest, 5, 0.2, [], 1)
    assert np.isclose(len(splits), 60 * 5)


@pytest.mark.parametrize("n_images,group_size", [(300, 3), (150, 5), (48, 3)])
def test_coarse_groups_keep_sizes_and_overlap_within_a_group_or_two(n_images, group_size):
    manifest = pd.DataFrame(
        {"image_id": [f"i{k:04d}" for k in range(n_images)], "group_id": [f"g{k // group_size}" for k in range(n_images)]}
    )
    for seed in range(3):
        splits = make_splits(manifest, 5, 0.2, [], seed)
        for ids in heldout_sets(splits).values():
            assert abs(len(ids) - 0.2 * n_images) <= group_size
        shared = overlap_summary(splits)["in_two_or_more_tests"]
        assert 0 < shared and abs(shared - 0.2 * n_images) <= 2 * group_size
