"""What a split table says about itself: label mix per subset, test-set overlap (paper Table S2, Fig. S1A)."""

from __future__ import annotations

import itertools

import pandas as pd

from medseglab.data.errors import DataError


def _joined(splits: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
    columns = ["image_id", "group_id"] + (["clinical_label"] if "clinical_label" in manifest else [])
    info = manifest.loc[:, columns].astype({"image_id": str})
    joined = splits.merge(info, on="image_id", how="left", validate="many_to_one")
    missing = joined["group_id"].isna()
    if missing.any():
        raise DataError(
            f"{int(missing.sum())} split row(s) name images the manifest lacks (e.g. "
            f"{joined.loc[missing, 'image_id'].iloc[0]!r}); the splits are stale: re-run `medseglab split`"
        )
    if "clinical_label" not in joined:
        joined["clinical_label"] = "unknown"
    joined["clinical_label"] = joined["clinical_label"].fillna("unknown").astype(str)
    return joined


def split_report(splits: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
    """One row per (split, ratio, subset, clinical_label).

    Columns: `n_images` and `n_groups` of that label in that subset, `percent` of the subset's
    images, `n_subset` (the subset's images), `percent_of_dataset` (the subset's share of all images).
    Labels absent from a subset appear with 0, so train and test rows line up.
    """
    joined = _joined(splits, manifest)
    keys = ["split", "ratio", "subset", "clinical_label"]
    counts = joined.groupby(keys, sort=True).agg(n_images=("image_id", "size"), n_groups=("group_id", "nunique"))
    sets = joined[["split", "ratio"]].drop_duplicates()
    labels = sorted(joined["clinical_label"].unique())
    full = sets.merge(pd.DataFrame({"subset": ["train", "test"]}), how="cross").merge(
        pd.DataFrame({"clinical_label": labels}), how="cross"
    )
    report = full.merge(counts.reset_index(), on=keys, how="left").fillna({"n_images": 0, "n_groups": 0})
    report[["n_images", "n_groups"]] = report[["n_images", "n_groups"]].astype("int64")
    n_subset = report.groupby(["split", "ratio", "subset"])["n_images"].transform("sum")
    n_set = report.groupby(["split", "ratio"])["n_images"].transform("sum")
    report["n_subset"] = n_subset.astype("int64")
    report["percent"] = (100 * report["n_images"] / n_subset.where(n_subset > 0)).round(2)
    report["percent_of_dataset"] = (100 * n_subset / n_set).round(2)
    report = report.sort_values(
        ["split", "ratio", "subset", "clinical_label"], ascending=[True, False, False, True], kind="stable"
    )
    return report.reset_index(drop=True)


def heldout_sets(splits: pd.DataFrame, ratio: int | None = None) -> dict[int, set[str]]:
    """Test image ids of each split at ``ratio`` (default: the undepleted, largest ratio)."""
    ratio = int(splits["ratio"].max()) if ratio is None else ratio
    rows = splits[(splits["ratio"] == ratio) & (splits["subset"] == "test")]
    return {int(s): set(ids) for s, ids in rows.groupby("split")["image_id"]}


def split_overlap(splits: pd.DataFrame) -> pd.DataFrame:
    """Pairwise overlap of the undepleted test sets: one row per pair `split_a` < `split_b`.

    `n_shared` images in both; `fraction` = n_shared / the smaller test set; `jaccard` = shared / union.
    """
    tests = heldout_sets(splits)
    rows = []
    for a, b in itertools.combinations(sorted(tests), 2):
        shared = len(tests[a] & tests[b])
        rows.append(
            {
                "split_a": a,
                "split_b": b,
                "n_test_a": len(tests[a]),
                "n_test_b": len(tests[b]),
                "n_shared": shared,
                "fraction": round(shared / max(1, min(len(tests[a]), len(tests[b]))), 4),
                "jaccard": round(shared / max(1, len(tests[a] | tests[b])), 4),
            }
        )
    columns = ["split_a", "split_b", "n_test_a", "n_test_b", "n_shared", "fraction", "jaccard"]
    return pd.DataFrame(rows, columns=columns)


def heldout_counts(splits: pd.DataFrame) -> pd.Series:
    """For every image: in how many undepleted test sets it is (0..n_splits)."""
    top = splits[splits["ratio"] == splits["ratio"].max()]
    return (top["subset"] == "test").groupby(top["image_id"]).sum().astype("int64")


def overlap_summary(splits: pd.DataFrame) -> dict:
    """Shares of all images in no / exactly one / two or more / all undepleted test sets."""
    counts = heldout_counts(splits)
    n_sets = int(splits["split"].nunique())
    n = max(1, len(counts))
    summary = {
        "n_images": int(len(counts)),
        "n_sets": n_sets,
        "in_no_test": int((counts == 0).sum()),
        "in_one_test": int((counts == 1).sum()),
        "in_two_or_more_tests": int((counts >= 2).sum()),
        "in_all_tests": int((counts == n_sets).sum()),
    }
    for key in ("in_no_test", "in_one_test", "in_two_or_more_tests", "in_all_tests"):
        summary[f"{key}_fraction"] = round(summary[key] / n, 4)
    return summary


def set_sizes(splits: pd.DataFrame) -> pd.DataFrame:
    """One row per (split, ratio): `n_train`, `n_test`, `train_percent` (actual, vs the nominal ratio)."""
    sizes = splits.pivot_table(index=["split", "ratio"], columns="subset", values="image_id", aggfunc="size", fill_value=0)
    sizes = sizes.reindex(columns=["train", "test"], fill_value=0).rename(columns={"train": "n_train", "test": "n_test"})
    sizes.columns.name = None
    sizes = sizes.reset_index().sort_values(["split", "ratio"], ascending=[True, False], kind="stable")
    sizes["train_percent"] = (100 * sizes["n_train"] / (sizes["n_train"] + sizes["n_test"])).round(2)
    return sizes.reset_index(drop=True)
