"""The HTML report of a real finished study (the session's tiny study: trainings, stats, ensemble,
explain) opened in headless Chromium: every section heading is there, every picture decodes, and the
page asks the network for nothing."""

from __future__ import annotations

import subprocess

import pytest

from shared_env import MEDSEGLAB, ROOT, quiet_env
from medseglab.report import sections as S

# What `medseglab study --analyze` computes: these sections must show their artifacts, not "not computed".
ANALYZED = ("table1", "table2", "tableS1", "tableS2", "tableS3", "tableS4", "depletion", "distributions",
            "galleries", "algorithm1", "umap", "splits")


@pytest.mark.slow
def test_the_report_renders_offline_in_chromium(tiny_study, browser, tmp_path):
    out = tmp_path / "reports"
    cmd = [MEDSEGLAB, "report", "--params", str(ROOT / "params.yaml"), "--dataset", "skin", "--html",
           "--run-id", tiny_study["run_id"], "--out", str(out)]
    done = subprocess.run(cmd, cwd=tiny_study["folder"], env=quiet_env(MLFLOW_TRACKING_URI=tiny_study["uri"]),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    path = out / f"study_report-{tiny_study['run_id']}.html"
    assert f"study report: {path} (logged on run {tiny_study['run_id']}" in done.stdout

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        headings = page.locator("h2").all_inner_texts()
        assert headings == S.titles()
        pictures = page.evaluate("Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])")
        assert len(pictures) >= 7, pictures  # depletion, distributions x2, galleries x2, Algorithm 1, UMAP
        assert all(complete and width > 0 for _, complete, width in pictures), pictures
        for key in ANALYZED:
            assert page.locator(f"section#{key} .missing").count() == 0, key
        for text in page.locator("section:not(#study):not(#provenance) .missing").all_inner_texts():
            assert "not computed for this study: run medseglab " in text, text  # never silently empty
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    finally:
        page.close()
    assert [u for u in requests if not u.startswith(("file://", "data:"))] == []
    assert [u for u in requests if u.startswith("file://")] == [path.as_uri()]
    assert errors == []
