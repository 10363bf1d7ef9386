"""`medseglab report --html` on a hand-made study run (no training, seconds): what is there is shown,
what is not says so and names its command, provenance and synthetic labels, the copy on the run."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medseglab.report import sections as S
from medseglab.report.stage import ARTIFACT, REPORT_TAG, study_report

PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


def _png(path):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((20, 30, 3), 120, np.uint8)).save(path)


@pytest.fixture
def hand_made_study(tmp_path, mlflow_db_template, monkeypatch):
    """A finished skin study run with Table 1, one plot, the selection, the estimated Algorithm 1 files and
    the split report, and two trainings (TII on the BSDS500 fallback weights, LMI random) with environment tags."""
    from mlflow.tracking import MlflowClient

    shutil.copy(mlflow_db_template, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # no prepared data here: synthetic is read from the run's params
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("medseglab/skin", artifact_location=(tmp_path / "art").as_uri())
    tags = {"medseglab.kind": "study", "medseglab.dataset": "skin", "medseglab.profile": "demo",
            "medseglab.data_hash": "d" * 64, "medseglab.splits_hash": "s" * 64, "medseglab.config_hash": "c" * 12,
            "medseglab.env.code_commit": "0123abcd", "medseglab.env.version.tensorflow": "2.21.0"}
    rid = client.create_run(exp, run_name="study-skin-demo-x", tags=tags).info.run_id
    for key, value in {"format": "synthetic", "source": "phantoms", "train.epochs": "1"}.items():
        client.log_param(rid, key, value)
    staging = tmp_path / "staging"
    (staging / "tables").mkdir(parents=True)
    (staging / "tables" / "table1.md").write_text(
        "### Table 1. skin: 80:20 [SYNTHETIC demo data]\n\n| source | Dice TII |\n| --- | --- |\n"
        "| this study | 0.7 (0.6) |\n| paper (Ghosal & Shah 2021) | 0.8857 (0.8250) |\n\n- a note\n")
    pd.DataFrame({"source": ["this study"], "Dice TII": ["0.7 (0.6)"]}).to_csv(staging / "tables" / "table1.csv",
                                                                                index=False)
    client.log_artifacts(rid, str(staging / "tables"), "stats/tables")
    _png(staging / "plots" / "depletion.png")
    client.log_artifacts(rid, str(staging / "plots"), "stats/plots")
    (staging / "selection.json").write_text('{"split": 1, "ratio": 80, "reason": "best score"}')
    client.log_artifact(rid, str(staging / "selection.json"), "stats")
    _png(staging / "ensemble" / "estimated_vs_oracle.png")
    (staging / "ensemble" / "estimator_evaluation.json").write_text(
        '{"agreement_rate": 0.5, "median_dice": {"estimated_choice": 0.81, "oracle_choice": 0.9}}')
    pd.DataFrame({"image_id": ["a", "b"], "estimated_choice": ["union", "tii"]}).to_csv(
        staging / "ensemble" / "estimated_choice.csv", index=False)
    client.log_artifacts(rid, str(staging / "ensemble"), "ensemble")
    pd.DataFrame({"split": [0], "subset": ["test"], "n": [5]}).to_csv(staging / "split_report.csv", index=False)
    client.log_artifact(rid, str(staging / "split_report.csv"), "splits")
    for init, source, sha in (("tii", "hed-bsds500", "e" * 64), ("lmi", "random", "")):
        child = client.create_run(exp, run_name=f"skin-{init}-s0-r80-rep0", tags={
            "mlflow.parentRunId": rid, "medseglab.kind": "training", "medseglab.init": init,
            "medseglab.key": f"skin-{init}-s0-r80-rep0", "medseglab.weights.source": source,
            "medseglab.weights.sha256": sha, "medseglab.env.accelerator": "none (CPU)",
            "medseglab.env.code_commit": "0123abcd"}).info.run_id
        client.set_terminated(child)
    client.set_terminated(rid)
    return {"uri": uri, "run_id": rid, "client": client, "params": {"tracking": {"uri": uri}}}


def _section(page: str, key: str) -> str:
    return re.search(rf"<section id='{key}'>(.*?)</section>", page, re.S).group(1)


def test_present_sections_show_their_artifacts_and_absent_ones_name_their_command(hand_made_study, tmp_path):
    s = hand_made_study
    path, logged = study_report(s["params"], "skin", s["run_id"], out=tmp_path / "out", log=False)
    assert path == tmp_path / "out" / f"study_report-{s['run_id']}.html" and logged is None
    page = path.read_text()
    for title in S.titles():
        assert f"<h2>{title.replace('&', '&amp;')}</h2>" in page
    table1 = _section(page, "table1")
    assert "0.8857 (0.8250)" in table1 and "paper (Ghosal &amp; Shah 2021)" in table1
    assert "not computed" in table1  # its tests table is absent: said, with the command
    assert "<img src='data:image/png;base64," in _section(page, "depletion")
    learning = _section(page, "learning")
    assert (f"Learning curves not computed for this study: run <code>medseglab stats --dataset skin --run-id "
            f"{s['run_id']}</code>") in learning
    estimated = _section(page, "algorithm1_estimated")  # JSON, PNG and CSV parts
    assert "not computed" not in estimated and "<img src='data:image/png;base64," in estimated
    assert "<th>median_dice.estimated_choice</th><td style='text-align:left'>0.81</td>" in estimated
    assert "<td class='t'>union</td>" in estimated
    assert "medseglab ensemble --dataset skin" in _section(page, "algorithm1")  # the oracle's part is absent
    assert "medseglab explain --dataset skin" in _section(page, "umap")
    splits = _section(page, "splits")
    assert "splits/split_report.csv" in splits and splits.count("not computed for this study") == 1
    assert "pairwise overlap of the 80:20 test sets not computed for this study" in splits
    assert "SYNTHETIC demo data: these numbers are not comparable" in page
    assert "TII encoder: BSDS500 VGG16 fallback" in page  # the banner: not ImageNet
    prov = _section(page, "provenance")
    for value in ("d" * 64, "s" * 64, "c" * 12, "e" * 64, "hed-bsds500", "0123abcd", "2.21.0", "none (CPU)",
                  "train.epochs", s["run_id"]):
        assert value in prov, value
    assert "split 1 of the 80:20 sets: best score" in _section(page, "study")
    assert not s["client"].list_artifacts(s["run_id"], "report")  # log=False logs nothing


def test_logged_on_the_parent_run_and_rejects_another_dataset(hand_made_study, tmp_path):
    from medseglab.errors import UserError

    s = hand_made_study
    path, logged = study_report(s["params"], "skin", s["run_id"], out=tmp_path / "out")
    assert logged == s["run_id"]
    assert [a.path for a in s["client"].list_artifacts(s["run_id"], "report")] == [ARTIFACT]
    assert s["client"].get_run(s["run_id"]).data.tags[REPORT_TAG]
    local = s["client"].download_artifacts(s["run_id"], ARTIFACT, str(tmp_path))
    assert open(local).read() == path.read_text()
    with pytest.raises(UserError, match="dataset 'skin', not 'kidney'"):
        study_report(s["params"], "kidney", s["run_id"], out=tmp_path / "out")


def test_cli_html_and_run_id_only_with_html(hand_made_study, tmp_path, capsys):
    from medseglab.cli import main

    s = hand_made_study
    params = ["--params", str(PARAMS)]
    assert main(["report", *params, "--dataset", "skin", "--html", "--no-mlflow", "--out", str(tmp_path / "o")]) == 0
    assert f"study report: {tmp_path / 'o' / ('study_report-' + s['run_id'] + '.html')}" in capsys.readouterr().out
    assert main(["report", *params, "--dataset", "skin", "--run-id", s["run_id"]]) == 2
    assert "--run-id goes with --html" in capsys.readouterr().err
