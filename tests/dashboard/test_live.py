"""A running study's progress on the Studies page follows its trainings without a reload."""

from __future__ import annotations

import shutil


def test_progress_of_a_running_study_refreshes(tmp_path, mlflow_db_template, serve, open_page):
    from mlflow.tracking import MlflowClient

    shutil.copy(mlflow_db_template, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("medseglab/skin", artifact_location=(tmp_path / "art").as_uri())
    study = client.create_run(exp, run_name="study-skin-demo-live",
                              tags={"medseglab.kind": "study", "medseglab.dataset": "skin", "medseglab.profile": "demo"})
    sid = study.info.run_id
    for key, value in {"format": "isic2018", "source": "/data/isic", "splits": "[0]", "repeats": "[0]",
                       "inits": '["tii", "lmi"]', "ratios": "[80]"}.items():
        client.log_param(sid, key, value)
    children = [client.create_run(exp, run_name=f"skin-{init}-s0-r80-rep0",
                                  tags={"medseglab.kind": "training", "mlflow.parentRunId": sid, "medseglab.init": init})
                for init in ("tii", "lmi")]
    client.set_terminated(children[0].info.run_id)  # one of two finished, the other running

    page = open_page(serve(uri))
    p = page.open("/", settle_ms=1500)
    p.wait_for_selector("text=1 of 2 trainings finished", timeout=30_000)
    assert "isic2018: /data/isic" in p.locator("#studies-grid").inner_text()  # real data, not marked synthetic
    client.set_terminated(children[1].info.run_id)
    p.wait_for_selector("text=2 of 2 trainings finished", timeout=30_000)  # the 3 s interval, 5 s cache
    assert not page.errors, page.errors


def test_the_review_page_does_not_create_a_queue(fake_store, serve, open_page):
    page = open_page(serve(fake_store["uri"]))
    p = page.open("/review")
    assert "no review queue at" in p.locator("#review-where").inner_text()
    assert not (fake_store["folder"] / "review.db").exists()  # default: beside the store's mlflow.db
    p = page.open("/drilldown")  # old names of two pages redirect
    assert p.url.endswith("/image")
    assert not page.errors, page.errors
