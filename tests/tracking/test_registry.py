"""The registry (issue #9): promotion of a synthetic and a real-ISIC study in one store, aliases, idempotent
reruns, recorded alias moves, the pair pyfunc model on a real ISIC image, --dry-run, predict's champion.

One module-scoped store holds two tiny studies (32x32, 1 epoch, split 0, repeats 0 and 1, both inits):
the synthetic demo and 12 real ISIC 2018 images.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from medseglab.tracking import conventions as C
from medseglab.tracking import registry

PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"
TINY = [
    "profiles.demo.image_size=[32,32]",
    "profiles.demo.epochs=1",
    "profiles.demo.splits=[0]",
    "profiles.demo.repeats=[0,1]",
    "profiles.demo.inits=[tii,lmi]",
    "profiles.demo.max_images=12",
    "split.n_splits=2",
    "profiles.demo.depletion=null",
    "datasets.skin.n_images=12",
    "train.val_fraction=0",
]
ISIC_IMAGES = "ISIC2018_Task1-2_Training_Input"

pytestmark = pytest.mark.slow  # eight real (tiny) trainings


def tiny_params(*extra: str) -> dict:
    from medseglab.config import load_params

    return load_params(PARAMS, [*TINY, *extra])


def _names(promotion) -> set[str]:
    return set(promotion.names.values())


@pytest.fixture(scope="module")
def store(tmp_path_factory, mlflow_db_template, shared_dataset):
    """Two finished studies in one store; the ISIC one dry-run first, then both promoted."""
    from medseglab.ensemble.promotion import promote_study
    from medseglab.study.study import run_study

    isic = shared_dataset("isic2018")
    root = tmp_path_factory.mktemp("registry")
    shutil.copy(mlflow_db_template, root / "mlflow.db")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    out = {"root": root, "uri": uri, "isic": isic}
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.setenv("MEDSEGLAB_NO_PROGRESS", "1")
        mp.setenv("MEDSEGLAB_OFFLINE", "1")
        params = tiny_params()
        out["params"] = params
        out["synthetic"] = run_study(params, "skin")
        out["real"] = run_study(params, "skin", source=str(isic), format="isic2018")
        out["dry"] = promote_study(params, "skin", out["real"].parent_run_id, dry_run=True, uri=uri)
        out["models_after_dry_run"] = registry.list_registered_models(uri=uri)
        out["p_synthetic"] = promote_study(params, "skin", out["synthetic"].parent_run_id, uri=uri)
        out["p_real"] = promote_study(params, "skin", out["real"].parent_run_id, uri=uri)
    return out


def test_dry_run_prints_the_ranking_and_changes_nothing(store):
    assert store["models_after_dry_run"].empty
    text = store["dry"].describe()
    assert "dry run: nothing changed" in text and "would" not in text.split("dry run")[0]
    assert {"init", "repeat", "score", "sd", "rank", "run_id"} <= set(store["dry"].ranking.columns)
    assert any("register run" in a for a in store["dry"].actions)


def test_a_synthetic_and_a_real_study_never_share_a_registered_model(store):
    synthetic, real = _names(store["p_synthetic"]), _names(store["p_real"])
    assert not synthetic & real
    assert all("-synthetic-" in n for n in synthetic) and all("-isic2018-" in n for n in real)
    models = registry.list_registered_models("skin", uri=store["uri"])
    assert set(models["name"]) == synthetic | real
    assert set(models["kind"]) == {"lmi", "tii", "pair"}
    for _, row in models.iterrows():
        assert row["source"] in ("synthetic", "isic2018") and len(row["data_hash"]) == 64


def test_champion_and_challenger_per_init_with_tags(store):
    client = MlflowClient(store["uri"])
    ranking = store["p_real"].ranking
    for init in ("lmi", "tii"):
        name = store["p_real"].names[init]
        rows = ranking[ranking["init"] == init].sort_values("rank")
        champion = client.get_model_version_by_alias(name, "champion")
        challenger = client.get_model_version_by_alias(name, "challenger")
        assert champion.run_id == rows["run_id"].iloc[0] and challenger.run_id == rows["run_id"].iloc[1]
        tags = champion.tags
        assert tags[C.INIT] == init and tags[C.SPLIT] == "0" and tags[C.RATIO] == "80"
        assert tags[C.STUDY_RUN] == store["real"].parent_run_id and tags[registry.RANK] == "1"
        assert tags[C.DATA_HASH] == client.get_run(champion.run_id).data.tags[C.DATA_HASH]
        assert tags[C.WEIGHTS_SOURCE] and "medseglab.metric.dice_median" in tags
        assert "medseglab.metric.test_dice_median" in tags
        assert champion.source.startswith("models:/m-")  # the training's LoggedModel, registered at promotion
    # the ranking: best median Dice first within each init
    for _, rows in ranking.groupby("init"):
        assert list(rows.sort_values("rank")["score"]) == sorted(rows["score"], reverse=True)


def test_rerun_is_idempotent(store):
    from medseglab.ensemble.promotion import promote_study

    client = MlflowClient(store["uri"])
    names = sorted(_names(store["p_real"]))
    before = {n: [v.version for v in client.search_model_versions(f"name='{n}'")] for n in names}
    again = promote_study(store["params"], "skin", store["real"].parent_run_id, uri=store["uri"])
    after = {n: [v.version for v in client.search_model_versions(f"name='{n}'")] for n in names}
    assert after == before
    assert all("stays at version" in a or "already" in a for a in again.actions if "@" in a or "already" in a)
    assert again.pair_version == store["p_real"].pair_version


def test_moving_an_alias_records_what_it_replaced(store):
    client = MlflowClient(store["uri"])
    study = client.get_run(store["synthetic"].parent_run_id)
    ranking = store["p_synthetic"].ranking.copy()
    name = store["p_synthetic"].names["lmi"]
    old = client.get_model_version_by_alias(name, "champion")
    lmi = ranking["init"] == "lmi"
    ranking.loc[lmi, "rank"] = ranking.loc[lmi, "rank"].max() + 1 - ranking.loc[lmi, "rank"]  # swap 1 and 2
    registry.promote(study, ranking, criterion="dice_median", combine="intersection", threshold=0.5,
                     uri=store["uri"])
    new = client.get_model_version_by_alias(name, "champion")
    assert new.version != old.version
    assert new.tags[registry.REPLACED + "champion"] == f"{name}/{old.version}"
    history = registry.alias_history(name, uri=store["uri"])
    assert history[-2:][0]["alias"] in ("champion", "challenger")
    moved = [h for h in history if h["alias"] == "champion"]
    assert moved[-1]["version"] == int(new.version) and moved[-1]["replaced"] == int(old.version)
    assert f"was v{old.version}" in client.get_registered_model(name).description
    versions = registry.list_versions(name, uri=store["uri"])
    assert set(versions["run_id"]) == set(ranking.loc[lmi, "run_id"])  # still one version per run


def test_the_champion_pair_segments_a_real_isic_image(store):
    import mlflow.pyfunc

    name = store["p_real"].names["pair"]
    image = sorted((store["isic"] / ISIC_IMAGES).glob("*.jpg"))[0]
    mlflow.set_tracking_uri(store["uri"])  # the conftest fixture clears it after the test
    model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    out = model.predict(pd.DataFrame({"path": [str(image)]}))
    assert len(out) == 1 and out["path"].iloc[0] == str(image)
    from PIL import Image

    width, height = Image.open(image).size
    for cand in ("lmi", "tii", "union", "intersection"):
        mask = out[cand].iloc[0]
        assert mask.shape == (height, width) and mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}
    union, inter = out["union"].iloc[0], out["intersection"].iloc[0]
    assert (inter <= union).all()
    champion = registry.resolve_champion("skin", name=name, uri=store["uri"])
    assert champion.model_uri == f"models:/{name}@champion"


def test_predict_uses_the_champion_pair_by_default(store, tmp_path, monkeypatch, capsys):
    from medseglab.cli import main
    from medseglab.ensemble.queue import ReviewQueue

    images = tmp_path / "images"
    images.mkdir()
    for src in sorted((store["isic"] / ISIC_IMAGES).glob("*.jpg"))[:2]:
        (images / src.name).symlink_to(src)
    monkeypatch.chdir(store["root"])
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    queue = tmp_path / "review.db"
    sets = [a for t in TINY for a in ("--set", t)]
    rc = main(["predict", "--params", str(PARAMS), *sets, "--dataset", "skin", "--images", str(images),
               "--out", str(tmp_path / "out"), "--queue", str(queue)])
    assert rc == 0
    assert "@champion" in capsys.readouterr().err
    with ReviewQueue(queue) as q:
        items = q.items("skin", None)
    assert len(items) == 2
    assert store["p_real"].names["pair"] in items["model_run_ids"].iloc[0]  # the newest promoted champion


def test_a_pair_with_a_dice_estimator_returns_the_estimates(store):
    """The study has one split, so `promote` found no estimator; a pair promoted with one (here a made-up
    one: estimated Dice = mask area) is a new version whose output has the estimates and the choice."""
    import mlflow.pyfunc

    from medseglab.ensemble.estimator import FEATURES, DiceEstimator
    from medseglab.names import CANDIDATES

    assert any("no Dice estimator" in a for a in store["p_real"].actions)
    client = MlflowClient(store["uri"])
    study = client.get_run(store["real"].parent_run_id)
    est = DiceEstimator({"features": list(FEATURES), "mean": [0.0] * 5, "scale": [1.0] * 5,
                         "coef": [0, 0, 0, 1.0, 0], "intercept": 0.0}, n_fit=30)
    before = store["p_real"].pair_version
    promotion = registry.promote(study, store["p_real"].ranking, criterion="dice_median", combine="intersection",
                                 threshold=0.5, uri=store["uri"], estimator=est.to_dict())
    assert promotion.pair_version != before
    image = sorted((store["isic"] / ISIC_IMAGES).glob("*.jpg"))[0]
    mlflow.set_tracking_uri(store["uri"])  # the conftest fixture clears it after the test
    out = mlflow.pyfunc.load_model(f"models:/{promotion.names['pair']}@champion").predict(
        pd.DataFrame({"path": [str(image)]}))
    row = out.iloc[0]
    values = {c: row[f"est_dice_{c}"] for c in CANDIDATES}
    assert row["estimated_choice"] == max(CANDIDATES, key=lambda c: (values[c], -CANDIDATES.index(c)))
    assert values["union"] >= values["lmi"] >= values["intersection"]  # areas: union >= each >= intersection
