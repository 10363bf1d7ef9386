"""The validation part of a train set is made of whole groups."""

from __future__ import annotations

import pytest

from medseglab.training.validation import split_validation


def test_validation_takes_whole_groups_until_the_fraction():
    ids = [f"i{n}" for n in range(30)]
    groups = [f"g{n // 3}" for n in range(30)]  # 10 groups of 3
    fit, val = split_validation(ids, groups, 0.2, seed=1)
    assert len(val) == 6 and len(fit) == 24
    assert set(fit).isdisjoint(val) and set(fit) | set(val) == set(ids)
    group_of = dict(zip(ids, groups))
    assert {group_of[i] for i in fit}.isdisjoint({group_of[i] for i in val})
    assert fit == [i for i in ids if i in set(fit)]  # order kept
    assert split_validation(ids, groups, 0.2, seed=1) == (fit, val)
    assert split_validation(ids, groups, 0.2, seed=2) != (fit, val)


@pytest.mark.parametrize("fraction, groups", [(0.0, ["a", "b", "c"]), (0.5, ["a", "a", "a"])])
def test_no_validation_without_a_fraction_or_with_one_group(fraction, groups):
    fit, val = split_validation(["x", "y", "z"], groups, fraction, seed=0)
    assert (fit, val) == (["x", "y", "z"], [])


def test_at_least_one_group_stays_for_fitting():
    fit, val = split_validation(["x", "y"], ["a", "b"], 0.99, seed=0)
    assert len(fit) == 1 and len(val) == 1


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match="2 image ids but 1 group ids"):
        split_validation(["x", "y"], ["a"], 0.1, seed=0)
