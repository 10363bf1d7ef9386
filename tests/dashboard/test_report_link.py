"""The Studies page links a finished study's HTML report, and the dashboard serves it so that it renders:
every section, every picture, nothing fetched from anywhere (headless Chromium, the session's tiny study)."""

from __future__ import annotations

import subprocess

import pytest

from shared_env import MEDSEGLAB, ROOT, quiet_env
from medseglab.report import sections as S

pytestmark = pytest.mark.slow  # the session's tiny study trains 6 tiny models


def test_the_studies_page_links_the_report_and_it_renders(tiny_study, serve, open_page, tmp_path):
    rid = tiny_study["run_id"]
    cmd = [MEDSEGLAB, "report", "--params", str(ROOT / "params.yaml"), "--dataset", "skin", "--html", "--run-id", rid,
           "--out", str(tmp_path)]
    done = subprocess.run(cmd, cwd=tiny_study["folder"], env=quiet_env(MLFLOW_TRACKING_URI=tiny_study["uri"]),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    base = serve(tiny_study["uri"], cwd=tiny_study["folder"])
    page = open_page(base)
    studies = page.open("/")
    link = studies.locator(f"#studies-grid a[href='/report/{rid}']")
    assert link.count() == 1 and link.inner_text() == "open"
    requests = []
    studies.on("request", lambda r: requests.append(r.url))
    studies.goto(base + f"/report/{rid}")
    studies.wait_for_load_state("load")
    assert studies.locator("h2").all_inner_texts() == S.titles()
    pictures = studies.evaluate("Array.from(document.images).map(i => i.naturalWidth)")
    assert len(pictures) >= 7 and min(pictures) > 0
    assert requests == [base + f"/report/{rid}"]  # the pictures are data URIs: nothing else is asked for
    assert page.errors == []
