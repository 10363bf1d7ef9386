"""`make_splits`: the five 80:20 sets and their depletion chains as one long table."""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from medseglab.config import ConfigError
from medseglab.progress import bar
from medseglab.splits.depletion import deplete
from medseglab.splits.groups import check_manifest, group_table
from medseglab.splits.sets import make_test_sets

DEFAULT_OVERLAP = 0.2  # SPEC 2: "about 20% of images shared by at least two test sets"
COLUMNS = ("split", "ratio", "image_id", "subset")


def base_ratio(test_fraction: float) -> int:
    """Train % of the undepleted sets: 80 for test_fraction 0.2."""
    return int(round(100 * (1 - test_fraction)))


def check_split_params(
    n_splits, test_fraction, depletion, seed, overlap=DEFAULT_OVERLAP, depletion_from="all"
) -> dict:
    """Validate the `split` section's values; returns them normalised (ints, floats, sorted lists)."""
    if isinstance(n_splits, bool) or not isinstance(n_splits, (int, np.integer)) or n_splits < 2:
        raise ConfigError(f"split.n_splits={n_splits!r}: needs an integer >= 2 (the study uses 5)")
    n_splits = int(n_splits)
    try:
        test_fraction = float(test_fraction)
        overlap = float(overlap)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"split.test_fraction / split.overlap must be numbers ({exc})") from exc
    if not 0 < test_fraction < 1:
        raise ConfigError(f"split.test_fraction={test_fraction}: needs a value between 0 and 1 (the study uses 0.2)")
    if n_splits < 3:
        overlap = 0.0  # with two sets, an image shared by two test sets would be common to all of them
    lowest, highest = max(0.0, n_splits * test_fraction - 1), n_splits * test_fraction / 2
    if lowest > highest:
        raise ConfigError(
            f"split.n_splits={n_splits} with split.test_fraction={test_fraction}: {n_splits} folds of "
            f"{100 / n_splits:.3g}% cannot make test sets of {100 * test_fraction:.3g}%; use n_splits <= "
            f"{int(2 / test_fraction)} (n_splits = 1 / test_fraction is plain K-fold)"
        )
    if not lowest <= overlap <= highest:
        raise ConfigError(
            f"split.overlap={overlap}: with n_splits={n_splits} and test_fraction={test_fraction} it must lie in "
            f"[{lowest:.3g}, {highest:.3g}] (each test set at least half its own fold, no image in three sets)"
        )
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ConfigError(f"split.seed={seed!r}: needs an integer")
    top = base_ratio(test_fraction)
    ratios = list(depletion or [])
    if any(isinstance(r, bool) or not isinstance(r, (int, np.integer)) for r in ratios):
        raise ConfigError(f"split.depletion={ratios!r}: needs integer train percentages, e.g. [60, 40, 20, 10]")
    ratios = [int(r) for r in ratios]
    if ratios != sorted(set(ratios), reverse=True) or any(not 0 < r < top for r in ratios):
        raise ConfigError(
            f"split.depletion={ratios}: needs distinct train percentages in descending order, each between 0 "
            f"and {top} (the undepleted train %), e.g. [60, 40, 20, 10]"
        )
    if depletion_from in (None, "all"):
        sources = list(range(n_splits))
    else:
        items = depletion_from if isinstance(depletion_from, (list, tuple)) else [depletion_from]
        if any(isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < n_splits for i in items):
            raise ConfigError(
                f"split.depletion_from={depletion_from!r}: needs `all` or a split index 0..{n_splits - 1}"
            )
        sources = sorted({int(i) for i in items})
    return {
        "n_splits": n_splits,
        "test_fraction": test_fraction,
        "depletion": ratios,
        "depletion_from": "all" if depletion_from in (None, "all") else sources,
        "seed": int(seed),
        "overlap": overlap,
        "base_ratio": top,
        "depletion_splits": sources,
    }


def make_splits(
    manifest: pd.DataFrame,
    n_splits: int = 5,
    test_fraction: float = 0.2,
    depletion: Iterable[int] = (60, 40, 20, 10),
    seed: int = 2021,
    *,
    overlap: float = DEFAULT_OVERLAP,
    depletion_from="all",
) -> pd.DataFrame:
    """Long table, one row per (split, ratio, image): `split`, `ratio`, `image_id`, `subset`.

    ``manifest`` needs `image_id` and `group_id` (`clinical_label` balances the folds when present).
    The same manifest and arguments always give the same table; see `medseglab.splits` for the method.
    """
    p = check_split_params(n_splits, test_fraction, list(depletion), seed, overlap, depletion_from)
    manifest = check_manifest(manifest)
    groups = group_table(manifest)
    sizes = groups["n_images"].to_numpy()
    image_group = groups.reset_index().set_index("group_id").loc[manifest["group_id"], "index"].to_numpy()
    image_ids = manifest["image_id"].to_numpy()

    rng = np.random.default_rng(p["seed"])
    tests = make_test_sets(groups, p["n_splits"], p["test_fraction"], p["overlap"], rng)
    frames = []
    for split in bar(range(p["n_splits"]), desc="splits", unit="set"):
        in_test = np.zeros(len(groups), dtype=bool)
        in_test[tests[split]] = True
        frames.append(_rows(split, p["base_ratio"], image_ids, in_test[image_group]))
        # One generator per chain, so depleting split 3 does not change split 4's chain.
        chain_rng = np.random.default_rng([p["seed"], split])
        if split in p["depletion_splits"] and p["depletion"]:
            chain = deplete(np.flatnonzero(~in_test), sizes, p["depletion"], chain_rng)
            for ratio, train in chain.items():
                in_train = np.zeros(len(groups), dtype=bool)
                in_train[train] = True
                frames.append(_rows(split, ratio, image_ids, ~in_train[image_group]))
    table = pd.concat(frames, ignore_index=True)
    return sort_splits(table)


def _rows(split: int, ratio: int, image_ids: np.ndarray, is_test: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "split": np.full(len(image_ids), split, dtype=np.int64),
            "ratio": np.full(len(image_ids), ratio, dtype=np.int64),
            "image_id": image_ids.astype(str),
            "subset": np.where(is_test, "test", "train"),
        }
    )


def sort_splits(table: pd.DataFrame) -> pd.DataFrame:
    """Canonical row order: split ascending, ratio descending, image_id."""
    table = table.sort_values(["split", "ratio", "image_id"], ascending=[True, False, True], kind="stable")
    return table.loc[:, list(COLUMNS)].reset_index(drop=True)
