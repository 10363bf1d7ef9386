"""study_choices on in-memory runs: repeat alignment, skipped splits, mismatched test sets."""

import numpy as np
import pandas as pd
import pytest

from medseglab.ensemble.source import study_choices
from medseglab.tracking.repeats import finished_trainings as usable_children, stack_repeats

IDS = np.array(["a", "b", "c"])
GT = np.zeros((3, 4, 4), np.uint8)
GT[:, :2] = 1  # top half is foreground in every image


def children(rows):
    return pd.DataFrame(rows, columns=["init", "split", "ratio", "repeat", "run_id", "status"])


def test_repeats_aligned_on_image_ids():
    perfect = GT.astype(np.float32)
    store = {"r0": (IDS, perfect), "r1": (IDS[::-1], perfect[::-1] * 0.8)}
    ids, stacked = stack_repeats(["r0", "r1"], store.__getitem__)
    assert list(ids) == ["a", "b", "c"] and stacked.dtype == np.uint8 and stacked.shape == (2, 3, 4, 4)
    np.testing.assert_array_equal(stacked[1], np.rint(perfect * 0.8 * 255).astype(np.uint8))
    store["r2"] = (np.array(["a", "b", "z"]), perfect)
    with pytest.raises(ValueError, match="other images"):
        stack_repeats(["r0", "r2"], store.__getitem__)


def test_study_choices_skips_incomplete_split_and_unfinished_runs():
    good = GT.astype(np.float32)
    lmi_bad = good.copy()
    lmi_bad[:, :, :2] = 0  # LMI finds half the lesion: Dice 2/3
    store = {"l0": (IDS, lmi_bad), "t0": (IDS, good), "t9": (IDS, np.zeros_like(good)), "l1": (IDS, good)}
    table = children([
        ("lmi", 0, 80, 0, "l0", "trained"), ("tii", 0, 80, 0, "t0", "FINISHED"),  # runs.csv / MLflow states
        ("tii", 0, 80, 1, "t9", "FAILED"),    # not used: unfinished
        ("lmi", 1, 80, 0, "l1", "skipped"),   # split 1 has no TII: skipped with a note
        ("tii", 1, 80, 0, "t0", "RUNNING"),
        ("lmi", 0, 60, 0, "l0", "FINISHED"),  # other ratio: ignored
    ])
    choices, notes = study_choices(table, store.__getitem__, lambda ids: GT[[list(IDS).index(i) for i in ids]])
    assert list(choices["split"].unique()) == [0] and len(choices) == 3
    assert (choices["chosen"] == "tii").all() and (choices["branch"] == "mixed").all()
    assert choices["dice_lmi"].to_numpy() == pytest.approx([2 / 3] * 3)
    assert notes == ["split 1: no finished TII training; skipped"]
    with pytest.raises(ValueError, match="no split at ratio 40"):
        study_choices(table, store.__getitem__, lambda ids: GT, ratio=40)


def test_masks_of_other_data_are_refused():
    store = {"l0": (IDS, GT.astype(np.float32)), "t0": (IDS, GT.astype(np.float32))}
    table = children([("lmi", 0, 80, 0, "l0", "FINISHED"), ("tii", 0, 80, 0, "t0", "FINISHED")])
    with pytest.raises(ValueError, match="not the one the study used"):
        study_choices(table, store.__getitem__, lambda ids: np.zeros((3, 8, 8), np.uint8))


def test_usable_children_needs_key_columns():
    with pytest.raises(ValueError, match="lacks columns"):
        usable_children(pd.DataFrame({"run_id": ["x"]}), 80)
