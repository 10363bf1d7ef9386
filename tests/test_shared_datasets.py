"""The shared-dataset helper of tests/conftest.py: a missing sample skips locally and fails under CI."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("ci", ["true", "1", "True"])
def test_missing_sample_fails_under_ci(shared_dataset, monkeypatch, tmp_path, ci):
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match=r"nope.*not found.*CI must run"):
        shared_dataset("nope", root=tmp_path)


@pytest.mark.parametrize("ci", [None, "", "false", "0"])
def test_missing_sample_skips_outside_ci(shared_dataset, monkeypatch, tmp_path, ci):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match=r"nope.*not found"):
        shared_dataset("nope", root=tmp_path)


def test_present_sample_is_returned(shared_dataset, monkeypatch, tmp_path):
    monkeypatch.setenv("CI", "true")
    (tmp_path / "isic2018" / "masks").mkdir(parents=True)
    assert shared_dataset("isic2018/masks", root=tmp_path) == tmp_path / "isic2018" / "masks"


def test_default_root_is_beside_the_project(shared_dataset):
    from pathlib import Path

    project = Path(__file__).resolve().parents[1]
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("CI", raising=False)
        try:
            path = shared_dataset()
        except pytest.skip.Exception:
            return  # no samples on this machine: the root itself is missing, which is what skip reports
    assert path == project.parent / "shared" / "datasets"


SAMPLE_WORDS = ("sample", "shared", "datasets", "isic", "kits", "glas", "ct_volume", "gleason")


def test_no_test_skips_on_missing_sample_data_by_itself():
    """Every test that needs ../shared/datasets goes through the helper, so CI cannot skip it silently."""
    from pathlib import Path

    tests = Path(__file__).resolve().parent
    offenders = []
    for file in tests.rglob("*.py"):
        if file.parent == tests and file.name in ("conftest.py", "test_shared_datasets.py"):
            continue
        for number, line in enumerate(file.read_text().splitlines(), 1):
            lowered = line.lower()
            if "pytest.skip(" in line and any(w in lowered for w in SAMPLE_WORDS):
                offenders.append(f"{file.relative_to(tests)}:{number}: {line.strip()}")
    assert not offenders, "use the shared_dataset fixture (tests/conftest.py) instead:\n" + "\n".join(offenders)


def test_missing_tool_fails_under_ci_and_skips_elsewhere(required_tool, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="git not found"):
        required_tool("git")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="git not found"):
        required_tool("git")
