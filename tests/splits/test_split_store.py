"""The splits folder: files, round trip, report numbers, errors that say what to do."""

import json

import pandas as pd
import pytest

from medseglab.data.errors import DataError
from medseglab.splits import (
    load_splits,
    make_splits,
    split_overlap,
    split_report,
    splits_hash,
    train_test_ids,
    write_splits,
)
from medseglab.splits.report import heldout_sets


@pytest.fixture(scope="module")
def written(tmp_path_factory, glas_manifest):
    splits = make_splits(glas_manifest, 5, 0.2, [60, 40, 20, 10], 2021)
    out = write_splits(
        tmp_path_factory.mktemp("glas") / "splits", splits, glas_manifest, params={"seed": 2021}, dataset_info={"name": "glas", "content_hash": "abc"}
    )
    return out, splits


def test_writes_the_contract_files_and_reads_them_back(written):
    out, splits = written
    assert sorted(p.name for p in out.iterdir()) == [
        "split_overlap.csv", "split_report.csv", "split_report.png", "splits.json", "splits.parquet"
    ]
    loaded = load_splits(out)
    pd.testing.assert_frame_equal(loaded, splits)
    assert list(loaded.columns) == ["split", "ratio", "image_id", "subset"]
    info = json.loads((out / "splits.json").read_text())
    assert info["content_hash"] == splits_hash(loaded)
    assert info["dataset_content_hash"] == "abc" and info["dataset"] == "glas"
    assert info["params"] == {"seed": 2021}
    assert info["overlap"]["in_all_tests"] == 0
    assert (out / "split_report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "split_report.png").stat().st_size > 20_000  # four panels, not a blank canvas


def test_hash_follows_content_not_row_order(written):
    _, splits = written
    assert splits_hash(splits.sample(frac=1.0, random_state=1)) == splits_hash(splits)
    changed = splits.copy()
    changed.loc[0, "subset"] = "test" if changed.loc[0, "subset"] == "train" else "train"
    assert splits_hash(changed) != splits_hash(splits)


def test_report_counts_add_up(written, glas_manifest):
    out, splits = written
    report = pd.read_csv(out / "split_report.csv")
    pd.testing.assert_frame_equal(report, split_report(splits, glas_manifest), check_dtype=False)
    assert set(report["clinical_label"]) == {"benign", "malignant"}
    for (split, ratio, subset), rows in report.groupby(["split", "ratio", "subset"]):
        train, test = train_test_ids(splits, split, ratio)
        ids = train if subset == "train" else test
        assert rows["n_images"].sum() == len(ids) == rows["n_subset"].iloc[0]
        assert rows["percent"].sum() == pytest.approx(100, abs=0.05)
        labels = glas_manifest.set_index("image_id").loc[ids, "clinical_label"]
        for row in rows.itertuples():
            assert row.n_images == (labels == row.clinical_label).sum()


def test_overlap_table_matches_the_sets(written):
    out, splits = written
    overlap = pd.read_csv(out / "split_overlap.csv")
    tests = heldout_sets(splits)
    assert len(overlap) == 10
    for row in overlap.itertuples():
        assert row.n_shared == len(tests[row.split_a] & tests[row.split_b])
        assert row.fraction == pytest.approx(row.n_shared / min(row.n_test_a, row.n_test_b), abs=1e-4)
    pd.testing.assert_frame_equal(overlap, split_overlap(splits), check_dtype=False)


def test_rewrite_replaces_the_folder(tmp_path, manifest_factory):
    manifest = manifest_factory(40)
    out = tmp_path / "s"
    write_splits(out, make_splits(manifest, 5, 0.2, [60], 1), manifest, plot=False)
    (out / "stale.txt").write_text("old")
    write_splits(out, make_splits(manifest, 5, 0.2, [60], 2), manifest, plot=False)
    assert not (out / "stale.txt").exists()
    assert not (out / "split_report.png").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["s"]  # no temp folders left


def test_train_test_ids_names_the_fix(manifest_factory):
    splits = make_splits(manifest_factory(50), 5, 0.2, [60], 1, depletion_from=0)
    train, test = train_test_ids(splits, 0, 60)
    assert len(train) == 30 and len(test) == 20 and train == sorted(train)
    with pytest.raises(DataError, match="depletion_from"):
        train_test_ids(splits, 1, 60)
    with pytest.raises(DataError, match="n_splits"):
        train_test_ids(splits, 9, 80)


def test_load_splits_errors(tmp_path):
    with pytest.raises(DataError, match="medseglab split"):
        load_splits(tmp_path / "nowhere")
    (tmp_path / "splits.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="unreadable"):
        load_splits(tmp_path)
    pd.DataFrame({"split": [0]}).to_parquet(tmp_path / "splits.parquet")
    with pytest.raises(DataError, match="missing column"):
        load_splits(tmp_path / "splits.parquet")
