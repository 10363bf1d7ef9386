import json
from pathlib import Path

import pandas as pd
import pytest

from medseglab.cli import main
from medseglab.stats.synthetic import synthetic_study

PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


@pytest.fixture
def study_table(tmp_path):
    table = synthetic_study(n_images=24, ratios=(80, 40), splits=(0, 1), repeats=(0, 1), seed=5)
    path = tmp_path / "per_image.parquet"
    table.to_parquet(path)
    return path


def _strict_json(path):
    def reject(name):
        raise AssertionError(f"{path}: non-standard JSON constant {name}")

    return json.loads(Path(path).read_text(), parse_constant=reject)


def test_stats_from_table_writes_tables(tmp_path, study_table, capsys):
    out = tmp_path / "rep"
    code = main(["stats", "--params", str(PARAMS), "--set", "stats.bootstrap=50", "--dataset", "skin",
                 "--table", str(study_table), "--out", str(out), "--no-plots"])
    assert code == 0
    for stem in ("table1", "table2", "tableS1", "tableS2", "tableS3", "tableS4"):
        for ext in ("csv", "md", "html"):
            assert (out / "tables" / f"{stem}.{ext}").is_file(), (stem, ext)
    assert "Table 1. skin" in capsys.readouterr().out
    compare = pd.read_csv(out / "tables" / "statistics_compare.csv")
    assert set(compare["ratio"]) == {80, 40} and (compare["mood_ties"] == "below").all()


def test_report_stage_outputs_for_dvc(tmp_path, study_table, monkeypatch):
    results = tmp_path / "results" / "skin"
    results.mkdir(parents=True)
    study_table.rename(results / "per_image.parquet")
    monkeypatch.chdir(tmp_path)
    code = main(["report", "--params", str(PARAMS), "--set", "stats.bootstrap=50", "--dataset", "skin"])
    assert code == 0
    report = tmp_path / "reports" / "skin"
    metrics = _strict_json(report / "metrics.json")
    assert metrics["combined"] == 0 and metrics["split"] in (0, 1)
    assert 0 < metrics["table1"]["dice"]["median"]["tii"] <= 1
    assert set(metrics["depletion"]) == {"40", "80"}
    curve = pd.read_csv(report / "depletion.csv")
    assert {"train_pct", "init", "dice_median", "paper_dice_median"} <= set(curve.columns)
    assert sorted(curve["train_pct"].unique()) == [40, 80] and set(curve["init"]) == {"tii", "lmi"}
    for png in ("distributions.png", "delta_m.png", "depletion.png"):
        assert (report / "plots" / png).read_bytes()[:4] == b"\x89PNG"


def test_missing_table_is_a_clean_user_error(tmp_path, capsys):
    code = main(["stats", "--params", str(PARAMS), "--dataset", "skin", "--table", str(tmp_path / "nope.parquet")])
    assert code == 2
    assert "no such per-image table" in capsys.readouterr().err


def test_report_falls_back_to_repeat_means_without_tracking_db(tmp_path, study_table, monkeypatch, capsys):
    results = tmp_path / "results" / "skin"
    results.mkdir(parents=True)
    study_table.rename(results / "per_image.parquet")
    (results / "study.json").write_text(json.dumps({"parent_run_id": "abc", "tracking_uri": "sqlite:///missing.db",
                                                    "profile": "demo"}))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["report", "--params", str(PARAMS), "--set", "stats.bootstrap=20", "--dataset", "skin", "--no-plots"]) == 0
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "missing.db").exists()  # no empty database created as a side effect
    assert _strict_json(tmp_path / "reports" / "skin" / "metrics.json")["combined"] == 0
    code = main(["report", "--params", str(PARAMS), "--dataset", "skin", "--level", "combined", "--no-plots"])
    assert code == 2 and "MLFLOW_TRACKING_URI" in capsys.readouterr().err
