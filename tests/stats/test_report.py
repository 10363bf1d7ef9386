"""The report folder: metrics.json types, and the plots' axes, ticks, markers and titles."""

import json

import numpy as np
import pytest

from medseglab.stats import plots
from medseglab.stats.provenance import UNKNOWN, Provenance
from medseglab.stats.report import write_report
from medseglab.stats.summary import StatsOptions
from medseglab.stats.synthetic import synthetic_study

HED = Provenance(True, "synthetic phantoms", ("hed-bsds500",))


@pytest.fixture
def figures(monkeypatch):
    """The Matplotlib figures the plots build, by file name (kept after they are saved and closed)."""
    made = {}
    finish = plots._finish

    def keep(fig, title, path, provenance=UNKNOWN):
        made[path.name] = fig
        return finish(fig, title, path, provenance)

    monkeypatch.setattr(plots, "_finish", keep)
    return made


def test_metrics_json_counts_are_integers(tmp_path):
    table = synthetic_study(n_images=9, splits=(0,), repeats=(0, 1), seed=3)
    write_report(table, tmp_path, StatsOptions(bootstrap=20), make_plots=False)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["n_test"] == 9 and isinstance(metrics["n_test"], int)  # was 9.0
    dice = metrics["table1"]["dice"]
    for key in ("n", "count_high"):
        assert all(isinstance(v, int) for v in dice[key].values()), (key, dice[key])
    assert "synthetic" not in metrics  # unknown data source: no claim either way


def test_report_says_synthetic_and_weights_in_tables_and_metrics(tmp_path):
    table = synthetic_study(n_images=9, splits=(0,), repeats=(0, 1), seed=3)
    report = write_report(table, tmp_path, StatsOptions(bootstrap=20), make_plots=False, provenance=HED)
    assert json.loads((tmp_path / "metrics.json").read_text())["synthetic"] == 1 and report.metrics["split"] == 0
    table1 = (tmp_path / "tables" / "table1.md").read_text()
    assert "[SYNTHETIC demo data]" in table1 and "BSDS500 VGG16 fallback" in table1
    assert "[SYNTHETIC demo data]" in (tmp_path / "tables" / "index.md").read_text().splitlines()[0]


@pytest.mark.parametrize("ratios", [(80,), (80, 60, 40, 20, 10)])
def test_plots_mark_points_tick_ratios_and_stay_in_bounds(tmp_path, figures, ratios):
    table = synthetic_study(n_images=12, ratios=ratios, splits=(0,), repeats=(0, 1), seed=4, perfect_fraction=0.4)
    write_report(table, tmp_path, StatsOptions(bootstrap=20), provenance=HED)
    for name in ("distributions.png", "delta_m.png", "depletion.png"):
        assert (tmp_path / "plots" / name).read_bytes()[:4] == b"\x89PNG"
        title = figures[name]._suptitle.get_text()
        assert "SYNTHETIC demo data" in title and "BSDS500 VGG16 fallback" in title, name

    depletion = figures["depletion.png"]
    for ax in depletion.axes:
        assert sorted(ax.get_xticks()) == sorted(ratios)  # integer ticks at the ratios, not 77.5 / 82.5
        assert ax.get_ylim()[1] <= 1.0 and ax.get_ylim()[0] >= 0.0
        for line in ax.get_lines():
            assert line.get_marker() not in (None, "None", ""), line.get_label()  # a single point stays visible
    labels = [t.get_text() for t in depletion.legends[0].get_texts()]
    assert "TII (BSDS500 VGG16 fallback)" in labels and "TII (paper, ImageNet)" in labels
    assert depletion.get_layout_engine() is not None  # constrained: tick labels stay off the next panel

    for ax in figures["distributions.png"].axes:
        low, high = ax.get_ylim()
        assert 0.0 <= low and high <= 1.0, ax.get_title()  # was up to 1.02
    assert figures["distributions.png"].axes[0].get_ylabel()
    assert all(ax.get_ylabel() == "images" for ax in figures["delta_m.png"].axes)
    for ax in figures["delta_m.png"].axes:  # image counts: whole-number ticks, never 0.5 images
        assert all(float(t).is_integer() for t in ax.get_yticks()), ax.get_title()


@pytest.mark.parametrize("values, metric, expected", [
    ([0.998, 0.999], "specificity", (0.9, 1.0)),  # a tiny gap does not fill the panel; never above 1
    ([0.0, 1.0], "dice", (0.0, 1.0)),
    ([0.02, 0.03], "dice", (0.0, 0.1)),
    ([-0.3, 0.2], "delta", (-0.325, 0.225)),  # unbounded: only the margin
])
def test_bounded_limits(values, metric, expected):
    assert plots.bounded_limits(values, metric) == pytest.approx(expected)
    assert plots.bounded_limits([np.nan], metric) is None
