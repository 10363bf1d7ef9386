"""Dataset names become folders (data/prepared/<name>, results/<name>, ...): only plain identifiers pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from medseglab.cli import main
from medseglab.config import ConfigError, load_params, resolve
from medseglab.data import prepared_dir_for

from .helpers import make_cfg, rgb, square_mask, write_png

PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"
BAD = ["../../x", "../escaped", "a/b", ".hidden", "x y", ""]


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("command", [
    ["prepare", "--format", "folder"],
    ["prepare"],
    ["split", "--no-plot"],
    ["report"],
])
def test_cli_refuses_a_dataset_name_that_leaves_the_project(tmp_path, monkeypatch, capsys, command):
    if not PARAMS.is_file():
        pytest.skip("project params.yaml not found")
    src = tmp_path / "project" / "src"
    write_png(src / "images" / "a.png", rgb(8, 8))
    write_png(src / "masks" / "a.png", square_mask(8, 8))
    project = tmp_path / "project"
    monkeypatch.chdir(project)
    before = _tree(tmp_path)
    argv = [command[0], "--dataset", "../../x", "--params", str(PARAMS), *command[1:]]
    if command[0] == "prepare":
        argv += ["--source", str(src)]
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2 and "'../../x' is not a plain identifier" in err and "Traceback" not in err, err
    assert err.count("\n") == 1  # one line
    assert _tree(tmp_path) == before  # nothing written, inside the project or outside it


@pytest.mark.parametrize("name", BAD)
def test_resolve_refuses_path_like_names(name):
    params = {"datasets": {name: {"format": "synthetic"}}, "profiles": {"demo": {}}, "profile": "demo"}
    with pytest.raises(ConfigError, match="plain identifier"):
        resolve(params, name)


def test_plain_names_still_resolve_and_place_under_the_base(tmp_path):
    params = {"datasets": {"glas-2015_v1": {"format": "folder"}}, "profiles": {"demo": {}}, "profile": "demo"}
    assert resolve(params, "glas-2015_v1")["name"] == "glas-2015_v1"
    assert prepared_dir_for(make_cfg("folder", name="glas-2015_v1"), tmp_path / "prepared").parent.parent == tmp_path


def test_prepared_dir_for_refuses_a_path_like_name(tmp_path):
    with pytest.raises(ConfigError, match="plain identifier"):
        prepared_dir_for(make_cfg("folder", name="../../x"), tmp_path / "data" / "prepared")


def test_project_params_dataset_names_are_plain():
    if not PARAMS.is_file():
        pytest.skip("project params.yaml not found")
    params = load_params(PARAMS)
    for name in params["datasets"]:
        resolve(params, name)
