"""README and pipelines/README.md agree with dvc.yaml, params.yaml and .gitignore."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _stages() -> list[str]:
    return list(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])


def test_readme_chain_lists_every_dvc_stage_in_order():
    chain = re.search(r"chains `([a-z >-]+)`", (ROOT / "README.md").read_text().replace("\n", " "))
    assert chain and chain.group(1).split(" -> ") == _stages()


def test_pipelines_table_has_a_row_per_dvc_stage():
    text = (ROOT / "pipelines" / "README.md").read_text()
    rows = re.findall(r"^\| `([a-z]+)` \| `medseglab \1", text, flags=re.M)
    assert rows == _stages()


def test_readme_demo_epochs_match_params():
    epochs = yaml.safe_load((ROOT / "params.yaml").read_text())["profiles"]["demo"]["epochs"]
    assert f"{epochs} epochs" in (ROOT / "README.md").read_text()


def test_dvc_lock_is_not_gitignored():
    """DVC refuses a git-ignored dvc.lock (FileIsGitIgnored); uncommitted is documented instead."""
    lines = [line.strip() for line in (ROOT / ".gitignore").read_text().splitlines()]
    assert not any(line.lstrip("/") == "dvc.lock" for line in lines if not line.startswith("#"))
    assert "dvc.lock is not committed" in (ROOT / "pipelines" / "README.md").read_text()
