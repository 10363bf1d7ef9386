import numpy as np
import pandas as pd
import pytest

from medseglab.data.errors import DataError
from medseglab.stats.combined import combined_table


def _study():
    rows = []
    for rep in (0, 1):
        for img in ("a", "b"):
            rows.append({"image_id": img, "group_id": img, "clinical_label": "x", "dataset": "skin", "init": "tii",
                         "split": 0, "ratio": 80, "repeat": rep, "run_id": f"r{rep}"})
    return pd.DataFrame(rows)


GT = {"a": np.array([[1, 1, 0, 0]] * 2, np.uint8), "b": np.zeros((2, 4), np.uint8)}
PROBS = {
    # image a: repeat 0 finds both target columns and one false column; repeat 1 only the first column
    "r0": np.array([[[0.9, 0.8, 0.7, 0.1]] * 2, [[0.6, 0.1, 0.1, 0.1]] * 2], np.float32),
    "r1": np.array([[[0.9, 0.4, 0.2, 0.1]] * 2, [[0.2, 0.1, 0.1, 0.1]] * 2], np.float32),
}


def _loaders(ids_r1=("a", "b"), gt_shape=None):
    def load_probs(run_id):
        if run_id == "r1" and list(ids_r1) != ["a", "b"]:
            order = [("a", "b").index(i) for i in ids_r1]
            return np.array(ids_r1), PROBS[run_id][order]
        return np.array(["a", "b"]), PROBS[run_id]

    def load_masks(dataset, ids):
        masks = np.stack([GT[i] for i in ids])
        return masks[:, :, :gt_shape] if gt_shape else masks

    return load_probs, load_masks


def test_intersection_counts_from_combined_masks():
    out = combined_table(_study(), *_loaders(), method="intersection").set_index("image_id")
    # a: intersection mask = first column only -> tp 2, fn 2, fp 0; b: empty GT, both empty -> tn 8
    assert out.loc["a", ["tp", "fp", "fn", "tn"]].tolist() == [2, 0, 2, 4]
    assert out.loc["a", "dice"] == pytest.approx(2 * 2 / (2 * 2 + 0 + 2))
    assert out.loc["b", ["tp", "fp"]].tolist() == [0, 0] and np.isnan(out.loc["b", "dice"])
    assert out.loc["a", "repeat"] == -1 and out.loc["a", "run_id"] == "r0+r1" and out.loc["a", "n_repeats"] == 2


def test_mean_combination_and_id_alignment():
    # repeat 1 stores its images in the other order: they must be realigned by id
    out = combined_table(_study(), *_loaders(ids_r1=("b", "a")), method="mean").set_index("image_id")
    # a: mean of columns = 0.9, 0.6, 0.45, 0.1 -> mask 1,1,0,0 = GT exactly
    assert out.loc["a", ["tp", "fp", "fn"]].tolist() == [4, 0, 0]
    assert out.loc["a", "dice"] == 1.0
    assert out.loc["b", "fp"] == 0  # mean 0.4 in the first column of b


def test_shape_mismatch_is_a_data_error():
    with pytest.raises(DataError, match="another image size"):
        combined_table(_study(), *_loaders(gt_shape=3))


def test_find_prepared_by_study_data_hash(tmp_path):
    import json

    from medseglab.tracking.repeats import find_prepared

    base = tmp_path / "data" / "prepared"
    for folder, digest in ((base / "skin", "aaa"), (tmp_path / "data" / "cache" / "skin-123", "bbb")):
        folder.mkdir(parents=True)
        (folder / "dataset.json").write_text(json.dumps({"content_hash": digest}))
    params = {"datasets": {"skin": {"format": "synthetic"}}, "profiles": {"demo": {}}, "profile": "demo"}
    assert find_prepared("skin", params, data_hash="bbb", base=str(base)).name == "skin-123"
    assert find_prepared("skin", params, data_hash=None, base=str(base)) == base / "skin"
    with pytest.raises(DataError, match="rerun `medseglab study`"):
        find_prepared("skin", params, data_hash="ccc", base=str(base))
