"""The dashboard's two writes through the browser: a review decision that survives a restart, and a
promotion whose alias MlflowClient then reads; with a token, a write without it changes nothing."""

from __future__ import annotations

import numpy as np
import pytest

from medseglab.names import CANDIDATES


@pytest.fixture
def queue(tmp_path):
    """A review queue with one pending image and its four candidate masks on disk."""
    from PIL import Image

    from medseglab.ensemble.queue import ReviewQueue

    folder = tmp_path / "predictions" / "skin" / "new01"
    folder.mkdir(parents=True)
    source = tmp_path / "incoming" / "new01.png"
    source.parent.mkdir()
    Image.fromarray(np.full((16, 16, 3), 120, np.uint8)).save(source)
    item = {"dataset": "skin", "image_id": "new01", "source_path": str(source), "proxy": "fp", "suggested": "tii"}
    for k, cand in enumerate(CANDIDATES):
        mask = np.zeros((16, 16), np.uint8)
        mask[4:12, 4:8 + k] = 255
        Image.fromarray(mask).save(folder / f"{cand}.png")
        item.update({f"{cand}_path": str(folder / f"{cand}.png"), f"{cand}_fg": 0.1, f"{cand}_fp_proxy": 0.01 * k,
                     f"{cand}_fn_proxy": 0.0})
    path = tmp_path / "review.db"
    with ReviewQueue(path) as q:
        assert q.enqueue(item)
    return path


def test_a_review_decision_persists_across_a_restart(fake_store, queue, serve, open_page):
    from medseglab.ensemble.queue import ReviewQueue

    page = open_page(serve(fake_store["uri"], queue=queue))
    p = page.open("/review")
    page.choose("review-item", "skin / new01 (pending)")
    assert p.locator("#review-candidates img").count() == 5 and not page.broken_images()
    p.fill("#review-reviewer", "dr-test")
    p.click("text=accept union")
    p.wait_for_function("document.querySelector('#review-message').innerText.startsWith('saved')")
    serve.stop_all()
    with ReviewQueue(queue) as q:
        row = q.get("new01", "skin")
    assert (row["status"], row["decision"], row["reviewer"]) == ("accepted", "union", "dr-test")
    page = open_page(serve(fake_store["uri"], queue=queue))
    p = page.open("/review")
    page.choose("review-status", "accepted")
    assert "new01" in p.locator("#review-grid").inner_text() and "union" in p.locator("#review-grid").inner_text()
    assert not page.errors, page.errors


def _registered(fake_store, versions: int = 2) -> str:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=fake_store["uri"])
    name = "medseglab-skin-tii"
    client.create_registered_model(name)
    for _ in range(versions):
        client.create_model_version(name, f"runs:/{fake_store['run_id']}/explain", run_id=fake_store["run_id"])
    return name


def _promote(page, name: str, version: str, alias: str):
    p = page.open("/registry")
    page.choose("registry-model", name)
    page.choose("registry-version", version)
    page.choose("registry-alias", alias)
    p.click("#registry-promote")
    p.wait_for_function("document.querySelector('#registry-message').innerText.length > 0")
    return p.locator("#registry-message").inner_text()


def test_promote_from_the_page_sets_the_alias(fake_store, serve, open_page):
    from mlflow.tracking import MlflowClient

    name = _registered(fake_store)
    page = open_page(serve(fake_store["uri"]))
    message = _promote(page, name, "2", "champion")
    assert message.startswith("promoted"), message
    assert str(MlflowClient(tracking_uri=fake_store["uri"]).get_model_version_by_alias(name, "champion").version) == "2"
    assert not page.errors, page.errors


def test_with_a_token_the_page_needs_a_login_before_it_writes(fake_store, serve, open_page, queue):
    from mlflow.tracking import MlflowClient

    name = _registered(fake_store, 1)
    base = serve(fake_store["uri"], token="tok-1234", queue=queue)
    page = open_page(base)
    p = page.open("/registry")
    assert "/login" in p.url  # no token, no page
    p.fill("input[name=token]", "tok-1234")
    p.click("button[type=submit]")
    p.wait_for_load_state("networkidle")
    assert _promote(page, name, "1", "challenger").startswith("promoted")
    assert str(MlflowClient(tracking_uri=fake_store["uri"]).get_model_version_by_alias(name, "challenger").version) == "1"
