"""explain_study end to end on tiny U-Nets and real ISIC images (no MLflow: an in-memory source)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from medseglab.explain import pipeline as pl
from medseglab.explain.gradcam import gradcam_repeats

from .conftest import fit_briefly, load_isic, tiny_unet


@pytest.fixture(scope="module")
def study(shared_dataset):
    ids, images, masks = load_isic(shared_dataset, 6, 32)
    masks[5] = 0  # one test image without lesion: NaN Dice, not ranked
    models, children, probs = {}, [], {}
    for init_index, init in enumerate(pl.INITS):
        for repeat in (0, 1):
            run_id = f"run-{init}-{repeat}"
            model = fit_briefly(tiny_unet(32, seed=10 * init_index + repeat, name=run_id.replace("-", "_")),
                                images, masks, epochs=6 + 6 * init_index)
            models[run_id] = model
            probs[run_id] = model.predict(images, verbose=0)[..., 1]
            children.append({"init": init, "split": 0, "ratio": 80, "repeat": repeat, "run_id": run_id,
                             "status": "FINISHED"})
    order = {i: k for k, i in enumerate(ids)}
    reversed_ids = ids[::-1]  # a repeat stored in another image order must be realigned

    def load_probabilities(run_id):
        if run_id.endswith("-1"):
            return np.array(reversed_ids), probs[run_id][::-1]
        return np.array(ids), probs[run_id]

    manifest = pd.DataFrame({"image_id": ids, "clinical_label": ["benign", "malignant"] * 3})
    source = pl.StudySource(
        children=pd.DataFrame(children), load_model=models.__getitem__, load_probabilities=load_probabilities,
        load_images=lambda wanted: images[[order[i] for i in wanted]].astype(np.uint8),
        load_masks=lambda wanted: masks[[order[i] for i in wanted]], manifest=manifest,
        choices=pd.DataFrame({"image_id": ids, "split": 0, "ratio": 80, "chosen": ["union"] * 6}),
        study_run_id="parent",
    )
    return source, models, images.astype(np.uint8).astype(np.float32), ids


def _settings(**kw):
    params = {"datasets": {"skin": {"umap": {"n_neighbors": 5, "min_dist": 0.01}}},
              "explain": {"n_per_kind": 1, "batch_size": 4, "seed": 0, **kw}}
    return pl.settings_from_params(params, "skin")


def test_explain_study_writes_every_file(study, tmp_path):
    source, models, images, ids = study
    summary = pl.explain_study(source, tmp_path / "explain", _settings(image_ids=[ids[5]]), dataset="skin")
    out = tmp_path / "explain"
    assert sorted(p.name for p in out.iterdir()) == sorted(pl.FILES)
    assert json.loads((out / "explain.json").read_text())["split"] == 0 == summary["split"]

    # stored Grad-CAM = the repeat average of the models, up to the uint8 step
    maps = pl.load_maps(out / "gradcam_tii.npz")
    assert maps["image_ids"] == ids and maps["layer"] == "dec1"
    expected = gradcam_repeats([models["run-tii-0"], models["run-tii-1"]], images, average="normalised")
    np.testing.assert_allclose(maps["maps"], expected, atol=1 / 510 + 1e-6)

    table = pd.read_parquet(out / "embedding.parquet")
    assert len(table) == 6 * 2 * 2 and set(table["n_neighbors"]) == {5}
    assert table.groupby(["init", "class"]).size().tolist() == [6, 6, 6, 6]
    labels = table.drop_duplicates("image_id").set_index("image_id")["clinical_label"]
    assert labels[ids[1]] == "malignant" and labels[ids[0]] == "benign"

    selection = pd.read_csv(out / "selection.csv")
    assert selection["kind"].tolist() == ["best", "worst", "median", "user"]
    assert selection["image_id"].tolist()[-1] == ids[5] and np.isnan(selection["delta_dice"].iloc[-1])
    assert (selection["chosen"] == "union").all()
    ranked = selection.iloc[:3]
    np.testing.assert_allclose(ranked["delta_dice"], ranked["dice_tii"] - ranked["dice_lmi"])
    assert ranked["delta_dice"].iloc[0] >= ranked["delta_dice"].iloc[2] >= ranked["delta_dice"].iloc[1]


def test_explain_study_selected_gradcam_only(study, tmp_path):
    source, _, _, ids = study
    pl.explain_study(source, tmp_path / "e", _settings(gradcam_images="selected", n_per_kind=0, image_ids=[ids[2]]),
                     dataset="skin")
    assert pl.load_maps(tmp_path / "e" / "gradcam_lmi.npz")["image_ids"] == [ids[2]]


def test_unknown_image_id_is_named(study, tmp_path):
    source = study[0]
    with pytest.raises(ValueError, match="ISIC_nope"):
        pl.explain_study(source, tmp_path / "x", _settings(image_ids=["ISIC_nope"]), dataset="skin")
    assert not (tmp_path / "x").exists()  # nothing half-written


def test_pick_runs_needs_both_inits():
    children = pd.DataFrame({"init": ["lmi", "lmi", "tii"], "split": [0, 1, 1], "ratio": 80, "repeat": 0,
                             "run_id": ["a", "b", "c"]})
    assert pl.pick_runs(children, None, 80) == (1, {"lmi": ["b"], "tii": ["c"]})
    # runs.csv statuses (trained / resumed / skipped) count as finished; MLflow's RUNNING / FAILED do not
    children["status"] = ["trained", "skipped", "RUNNING"]
    with pytest.raises(ValueError, match="no split at ratio 80"):
        pl.pick_runs(children, None, 80)
    children["status"] = ["FINISHED", "resumed", "trained"]
    assert pl.pick_runs(children, None, 80)[0] == 1
    with pytest.raises(ValueError, match=r"splits with both: \[1\]"):
        pl.pick_runs(children, 0, 80)


def test_settings_are_checked():
    from medseglab.config import ConfigError

    with pytest.raises(ConfigError, match="explain.average"):
        _settings(average="median")
    with pytest.raises(ConfigError, match="umap.n_neighbors"):
        pl.settings_from_params({"datasets": {"skin": {"umap": {"n_neighbors": 1}}}}, "skin")
