"""Provenance labels (synthetic data, TII weights) and reading them from a study's runs."""

import json

import pandas as pd
import pytest

from medseglab.stats.provenance import UNKNOWN, Provenance, from_dataset_info, from_manifest, study_provenance

HED = Provenance(True, "synthetic phantoms", ("hed-bsds500",))


def test_labels_say_synthetic_and_fallback_weights():
    assert HED.init_label("tii") == "TII (BSDS500 VGG16 fallback)" and HED.init_label("lmi") == "LMI"
    assert HED.caption("Table 1. skin") == "Table 1. skin [SYNTHETIC demo data]"
    assert "SYNTHETIC" in HED.figure_title("x").splitlines()[1] and "BSDS500" in HED.figure_title("x")
    assert HED.fallback and "not ImageNet" in HED.weights_note()
    imagenet = Provenance(False, "isic2018", ("imagenet-keras-cache",))
    assert imagenet.init_label("tii") == "TII (ImageNet VGG16)" and not imagenet.fallback
    assert imagenet.caption("T") == "T" and imagenet.data_note() == ""
    assert Provenance(tii_weights=("hed-bsds500", "imagenet-path")).init_label("tii").startswith("TII (mixed: ")


def test_unknown_provenance_adds_nothing():
    assert UNKNOWN.init_label("tii") == "TII" and UNKNOWN.caption("T") == "T"
    assert UNKNOWN.figure_title("T") == "T" and UNKNOWN.weights_note() == "" and UNKNOWN.data_note() == ""


def test_from_dataset_info_and_manifest():
    assert from_dataset_info({"synthetic": True, "format": "synthetic"}).synthetic is True
    real = from_dataset_info({"synthetic": False, "format": "isic2018", "source": "data/raw/isic"}, ["imagenet-path"])
    assert real.synthetic is False and real.data_source == "isic2018 data/raw/isic" and real.tii_weights == ("imagenet-path",)
    assert from_dataset_info(None).synthetic is None
    assert from_manifest(pd.DataFrame({"image_id": ["a", "b"], "synthetic": [False, True]})).synthetic is True
    assert from_manifest(pd.DataFrame({"image_id": ["a"]})).synthetic is None  # an old manifest: unknown


def test_study_provenance_from_runs_and_prepared_data(tmp_path, monkeypatch):
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    monkeypatch.chdir(tmp_path)
    prepared = tmp_path / "data" / "prepared" / "skin"
    prepared.mkdir(parents=True)
    (prepared / "dataset.json").write_text(json.dumps({"synthetic": True, "format": "synthetic", "content_hash": "h1"}))
    client = MlflowClient(uri)
    exp = client.create_experiment("medseglab/skin", artifact_location=(tmp_path / "art").as_uri())
    study = client.create_run(exp, tags={"medseglab.kind": "study", "medseglab.dataset": "skin",
                                         "medseglab.data_hash": "h1"}).info.run_id
    runs = {}
    for init, source in (("tii", "hed-bsds500"), ("lmi", "random")):
        runs[init] = client.create_run(exp, tags={"medseglab.weights.source": source}).info.run_id
    children = pd.DataFrame({"init": ["tii", "lmi"], "run_id": [runs["tii"], runs["lmi"]]})
    prov = study_provenance(client.get_run(study), children=children)
    assert prov.synthetic is True and prov.tii_weights == ("hed-bsds500",)
    assert prov.init_label("tii") == "TII (BSDS500 VGG16 fallback)"
    # prepared data of another hash: synthetic unknown, the weights still found; never an error
    (prepared / "dataset.json").write_text(json.dumps({"synthetic": True, "content_hash": "other"}))
    prov = study_provenance(client.get_run(study), children=children)
    assert prov.synthetic is None and prov.tii_weights == ("hed-bsds500",)


def test_report_provenance_without_a_run_reads_the_prepared_dataset(tmp_path, monkeypatch):
    from medseglab.stats.provenance import report_provenance

    monkeypatch.chdir(tmp_path)
    assert report_provenance("skin") == UNKNOWN  # nothing prepared: no claim
    prepared = tmp_path / "data" / "prepared" / "skin"
    prepared.mkdir(parents=True)
    (prepared / "dataset.json").write_text(json.dumps({"synthetic": True, "format": "synthetic"}))
    assert report_provenance("skin", run_id="no-such-run", uri=f"sqlite:///{tmp_path / 'none.db'}").synthetic is True
