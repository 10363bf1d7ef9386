"""Depletion chains: nested train sets, growing test sets, whole groups (SPEC 2)."""

import pytest

from medseglab.splits import make_splits, set_sizes, train_test_ids

RATIOS = [80, 60, 40, 20, 10]


@pytest.mark.parametrize("n_groups", [None, 50])
def test_chain_is_nested_and_sized(manifest_factory, n_groups):
    manifest = manifest_factory(200, n_groups, seed=5)
    splits = make_splits(manifest, 5, 0.2, RATIOS[1:], 2021)
    biggest = manifest.groupby("group_id").size().max()
    group_of = manifest.set_index("image_id")["group_id"]
    for split in range(5):
        previous_train, previous_test = None, None
        for ratio in RATIOS:
            train, test = train_test_ids(splits, split, ratio)
            train, test = set(train), set(test)
            assert not train & test and len(train | test) == 200
            assert abs(len(train) - ratio / 100 * 200) <= biggest
            assert not set(group_of[list(train)]) & set(group_of[list(test)])
            if previous_train is not None:
                assert train < previous_train  # strictly fewer: 200 images leave room at every step
                assert test > previous_test
            previous_train, previous_test = train, test


def test_depletion_from_one_split_only(manifest_factory):
    splits = make_splits(manifest_factory(100), 5, 0.2, [60, 40], 1, depletion_from=2)
    ratios = splits.groupby("split")["ratio"].unique()
    assert sorted(ratios[2]) == [40, 60, 80]
    assert all(list(ratios[s]) == [80] for s in (0, 1, 3, 4))


def test_chains_of_different_splits_are_independent(manifest_factory):
    """Depleting only split 3 leaves split 3's chain as it is when all splits are depleted."""
    manifest = manifest_factory(100)
    all_chains = make_splits(manifest, 5, 0.2, [60, 40], 8)
    one_chain = make_splits(manifest, 5, 0.2, [60, 40], 8, depletion_from=3)
    for ratio in (60, 40):
        assert train_test_ids(all_chains, 3, ratio) == train_test_ids(one_chain, 3, ratio)


def test_tiny_dataset_keeps_a_train_group(manifest_factory):
    splits = make_splits(manifest_factory(10), 5, 0.2, [60, 40, 20, 10], 0)
    sizes = set_sizes(splits)
    assert (sizes["n_train"] >= 1).all()
    assert sizes.loc[sizes["ratio"] == 10, "n_train"].eq(1).all()
