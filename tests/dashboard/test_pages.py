"""Every page of the dashboard in headless Chromium against a real tiny study (`medseglab study --analyze`):
no console errors, the gallery follows its filters, a click on a distribution opens the image drill-down."""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.slow  # the study trains 6 tiny models (about 3 minutes on 2 busy cores)

PAGES = {
    "/": "Studies", "/statistics": "Statistics", "/depletion": "Depletion", "/distributions": "Distributions",
    "/image": "Image drill-down", "/splits": "Splits", "/gradcam": "Grad-CAM gallery", "/ensemble": "Algorithm 1",
    "/umap": "UMAP", "/review": "Review queue", "/registry": "Model registry",
}


@pytest.fixture
def study_page(tiny_study, serve, open_page):
    base = serve(tiny_study["uri"], cwd=tiny_study["folder"])
    return open_page(base)


def test_the_study_logged_its_split_tables(tiny_study):
    from mlflow.tracking import MlflowClient

    names = {a.path for a in MlflowClient(tracking_uri=tiny_study["uri"]).list_artifacts(tiny_study["run_id"], "splits")}
    assert names == {"splits/split_report.csv", "splits/split_overlap.csv"}


# trace types on the page that the loaded plotly.js does not know (the dashboard serves the cartesian
# partial bundle, dashboards/plotly_bundle.py: a figure with another trace type would draw nothing)
UNKNOWN_TRACES_JS = """() => {
  const graphs = [...document.querySelectorAll('.js-plotly-plot')];
  if (!graphs.length) return [];
  const known = new Set(Object.keys(window.Plotly.PlotSchema.get().traces));
  return graphs.flatMap(gd => (gd.data || []).map(t => t.type || 'scatter')).filter(t => !known.has(t));
}"""


def test_every_page_renders_without_console_errors(study_page):
    for path, heading in PAGES.items():
        page = study_page.open(path, settle_ms=1500)
        assert page.locator("h2").first.inner_text().startswith(heading), path
        assert not study_page.broken_images(), (path, study_page.broken_images())
        assert page.evaluate(UNKNOWN_TRACES_JS) == [], path
        # regenerator-runtime in place of Dash's babel polyfill (dashboards/polyfill.py): no core-js 2
        assert page.evaluate("() => [window._babelPolyfill, typeof regeneratorRuntime.wrap]") == [None, "function"]
    assert not study_page.errors, study_page.errors


def test_pages_show_the_study(study_page, tiny_study):
    page = study_page.open("/", settle_ms=1500)
    assert "SYNTHETIC demo data" in page.locator("#studies-grid").inner_text()
    assert tiny_study["run_id"] in page.locator("#studies-grid").inner_text()
    page = study_page.open("/statistics", settle_ms=1500)
    assert "paper (Ghosal & Shah 2021)" in page.locator("#stats-grid").inner_text()
    study_page.choose("stats-table-select", "Table 1 tests: delta_m with 95% bootstrap CI, Mood and Wilcoxon p, "
                                            "Holm-adjusted")
    assert "Mood p Holm" in page.locator("#stats-grid").inner_text()
    page = study_page.open("/depletion", settle_ms=2000)
    assert page.locator("#depletion-graph .legendtext", has_text="paper TII (Table 2)").count() == 1
    # 80 + one depleted ratio: 2 points, the 2-parameter law, drawn from stats/tables/learning_curves.csv
    curve = page.locator("#depletion-learning-curve")
    assert curve.locator(".legendtext", has_text="TII 95% bootstrap band").count() == 1
    assert curve.locator(".legendtext", has_text="(ipl2, 2 points)").count() == 2
    page = study_page.open("/splits", settle_ms=1500)
    assert page.locator("#splits-labels .main-svg").count() > 0
    page = study_page.open("/ensemble", settle_ms=1500)
    assert "oracle" in page.locator("#ensemble-oracle").inner_text()
    assert page.locator("img[alt='Figure 5 rows']").count() == 1
    # UMAP opens on one panel, its points drawn; the four side by side are one choice away
    page = study_page.open("/umap", settle_ms=1500)
    titles = page.locator("#umap-graph .annotation-text")
    assert titles.all_text_contents() == ["TII, class 1"] and page.locator("#umap-graph path.point").count() > 0
    one_panel = page.locator("#umap-graph path.point").count()
    study_page.choose("umap-panel", "all four, side by side", settle_ms=1500)
    assert titles.all_text_contents() == ["LMI, class 0", "LMI, class 1", "TII, class 0", "TII, class 1"]
    assert page.locator("#umap-graph path.point").count() == 4 * one_panel  # every panel: every test image
    assert not study_page.errors, study_page.errors


def test_a_filter_changes_the_gallery(study_page):
    page = study_page.open("/gradcam", settle_ms=1500)
    cards = page.locator(".gallery-card")
    everything = cards.count()
    assert everything > 0
    assert all("view=cam1" in src for src in page.locator(".gallery-card img").evaluate_all(
        "imgs => imgs.filter(i => i.alt.includes('class')).map(i => i.src)"))
    study_page.choose("cam-class", "class 0 (background)")
    sources = page.locator(".gallery-card img").evaluate_all("imgs => imgs.map(i => i.src)")
    assert any("view=cam0" in s for s in sources) and not any("view=cam1" in s for s in sources)
    labels = [o for o in page.locator("#cam-label").inner_text().split("\n") if o]
    study_page.choose("cam-label", "benign")
    benign = cards.count()
    study_page.choose("cam-label", "malignant")
    malignant = cards.count()
    assert benign + malignant == everything and 0 < benign < everything, (labels, benign, malignant, everything)
    assert not study_page.broken_images() and not study_page.errors, study_page.errors


def test_clicking_an_image_opens_its_drill_down(study_page):
    page = study_page.open("/distributions", settle_ms=2000)
    point = page.locator("#dist-violin g.points path.point").first
    point.click(force=True)
    page.wait_for_url(re.compile(r"/image\?"), timeout=30_000)
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(2000)
    image_id = re.search(r"image=([^&]+)", page.url).group(1)
    assert page.locator("h3", has_text=f"{image_id}: metrics").count() == 1
    alts = page.locator("#image-body img").evaluate_all("imgs => imgs.map(i => i.alt)")
    assert "input" in alts and "ground truth" in alts
    assert any("overlay" in a for a in alts) and any("Grad-CAM class 1" in a for a in alts)
    assert not study_page.broken_images() and not study_page.errors, study_page.errors


def test_a_new_tab_gets_its_page_in_the_first_layout_and_the_router_runs_on_navigation(study_page):
    """The tab's URL is served in the first layout (no router callback before the page's own ones); a
    click in the nav bar still goes through Dash's router, and the title follows the page."""
    outputs = []
    study_page.page.on("request", lambda r: outputs.append(json.loads(r.post_data)["output"])
                       if r.url.split("?")[0].endswith("/_dash-update-component") else None)
    page = study_page.open("/ensemble", settle_ms=1500)
    assert page.title() == "medseglab: ensemble"
    assert page.locator("#ensemble-choices td[data-dash-column=image_id]").count() > 0
    assert "(chosen)" in page.locator("#ensemble-split").inner_text()
    assert outputs and not any("_pages_content" in o for o in outputs), outputs
    page.locator("a.nav-link", has_text="Splits").click()
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1500)
    assert any("_pages_content" in o for o in outputs)
    assert page.locator("h2").first.inner_text().startswith("Splits") and page.title() == "medseglab: splits"
    assert not study_page.errors, study_page.errors
