"""`medseglab prepare`: params + overrides -> a prepared dataset; user errors exit 2 without a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from medseglab.cli import main
from medseglab.data import load_prepared

from .helpers import assert_nothing_left

PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


def test_prepare_demo_dataset_from_params(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "data" / "prepared" / "skin"  # the default --out
    rc = main(["prepare", "--dataset", "skin", "--params", str(PARAMS), "--set", "datasets.skin.n_images=5"])
    assert rc == 0
    ds = load_prepared(out)
    assert len(ds) == 5 and ds.info["synthetic"] is True
    assert ds.info["image_size"] == [64, 64]  # the demo profile's size wins over the dataset's
    printed = capsys.readouterr().out
    assert "prepared 5 synthetic images of skin" in printed and ds.info["content_hash"] in printed


def test_profile_option_uses_the_paper_size(tmp_path):
    out = tmp_path / "kidney"
    rc = main(["prepare", "--dataset", "kidney", "--params", str(PARAMS), "--out", str(out), "--profile", "paper",
               "--set", "datasets.kidney.n_images=2", "--set", "datasets.kidney.image_size=[48,40]"])
    assert rc == 0 and load_prepared(out).info["image_size"] == [48, 40]


def test_source_and_format_for_a_dataset_not_in_params(shared, tmp_path, capsys):
    src = shared("glas")
    out = tmp_path / "glas"
    rc = main(["prepare", "--dataset", "glas", "--format", "folder", "--source", str(src), "--params", str(PARAMS),
               "--out", str(out), "--set", "profiles.demo.max_images=6"])
    assert rc == 0
    ds = load_prepared(out)
    assert len(ds) == 6 and ds.info["format"] == "folder" and ds.info["source"] == str(src)
    assert set(ds.info["label_counts"]) <= {"benign", "malignant"}
    assert "of glas (folder, 64x64" in capsys.readouterr().out


@pytest.mark.parametrize("argv, says", [
    (["--format", "dicomish", "--source", "."], "known formats"),
    (["--source", "."], "pass --format too"),
    (["--format", "folder", "--source", "no/such/folder"], "no/such/folder"),
    (["--set", "datasets.skin.options.bogus=1"], "bogus"),
])
def test_user_errors_exit_2_with_the_reason(tmp_path, capsys, argv, says):
    out = tmp_path / "prepared" / "skin"
    rc = main(["prepare", "--dataset", "skin", "--params", str(PARAMS), "--out", str(out), *argv])
    err = capsys.readouterr().err
    assert rc == 2 and says in err and "Traceback" not in err
    assert_nothing_left(out)


def test_missing_source_message_follows_how_the_source_was_given(tmp_path, capsys):
    """--source /missing must not be told to "pass --source"; a params.yaml path is told to fix the key."""
    out = tmp_path / "prepared" / "glas"
    base = ["prepare", "--params", str(PARAMS), "--out", str(out)]
    assert main([*base, "--dataset", "glas", "--format", "folder", "--source", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert f"--source {tmp_path / 'missing'}: no such folder" in err and "the folder format expects" in err
    assert "pass --source" not in err
    assert main([*base, "--dataset", "skin", "--set", "datasets.skin.format=folder",
                 "--set", f"datasets.skin.source={tmp_path / 'gone'}"]) == 2
    err = capsys.readouterr().err
    assert "fix datasets.skin.source in params.yaml" in err and "or pass --source PATH" in err
    assert_nothing_left(out)


def test_train_and_study_name_a_missing_source_flag(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for command in (["study"], ["train", "--init", "lmi"]):
        argv = [*command, "--dataset", "skin", "--format", "folder", "--source", "nowhere", "--params", str(PARAMS)]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "--source nowhere: no such folder" in err and "Traceback" not in err
    assert not (tmp_path / "mlflow.db").exists()  # refused before the tracking store is opened
