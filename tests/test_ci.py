"""What CI runs: `.ci/run` is the README's test command, and that command runs the slow tests too;
every package the code imports is declared in pyproject.toml."""

from __future__ import annotations

import ast
import re
import shlex
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE_DIRS = ("src", "tests", "benchmarks", "dashboards")


def _make_recipe(target: str) -> str:
    """The commands `make` would run for ``target`` (its recipe, not its prerequisites)."""
    shown = subprocess.run(["make", "-n", "-C", str(ROOT), "-o", ".venv/.installed", target],
                           capture_output=True, text=True, check=True).stdout
    return "\n".join(line for line in shown.splitlines() if "pytest" in line)


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"^make test\b", readme, re.M), "README's quick start must name `make test`"
    commands = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert commands[-1] == "make test"


def test_make_test_runs_the_slow_tests_and_test_fast_leaves_them_out():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    addopts = shlex.split(pyproject["tool"]["pytest"]["ini_options"]["addopts"])
    assert "-m" not in addopts and not any(a.startswith("-m") for a in addopts), addopts
    pytest_args = lambda target: _make_recipe(target).partition(" pytest")[2]  # noqa: E731
    full = pytest_args("test")
    assert full and " -m" not in full and " -k" not in full, full
    # pytest's exit status must reach make (and CI): 1 for failures, 5 when no test was collected.
    recipe = _make_recipe("test")
    assert "||" not in recipe and "; true" not in recipe and not recipe.lstrip().startswith("-"), recipe
    assert re.search(r"^set -e", (ROOT / ".ci" / "run").read_text(), re.M), ".ci/run must stop on the first failure"
    assert '-m "not slow"' in pytest_args("test-fast")
    assert "-m slow" in pytest_args("test-slow")


def _imported_modules() -> set[str]:
    names = set()
    for folder in CODE_DIRS:
        for file in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(file.read_text(), str(file))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
                elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "importorskip"
                      and node.args and isinstance(node.args[0], ast.Constant)):
                    names.add(str(node.args[0].value).split(".")[0])
    return names - set(sys.stdlib_module_names) - {"medseglab", "dashboards", "conftest", "__future__"}  # dashboards: this project's app


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_imported_package_is_declared_and_pinned():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    declared = {}
    for req in requirements:
        name, _, pin = req.partition("==")
        assert pin, f"pyproject.toml: pin {req!r} to the version in .venv (pip show {name})"
        declared[_norm(name.split("[")[0])] = pin  # ray[default] declares ray
    distributions = packages_distributions()
    missing = []
    for module in sorted(_imported_modules()):
        dists = {_norm(d) for d in distributions.get(module, [])}
        local = any((ROOT / folder / name).exists() for folder in ("tests", "benchmarks")
                    for name in (module, f"{module}.py"))  # a sibling module of a test or benchmark script
        if not local and not dists & set(declared):
            missing.append(f"{module} (from {', '.join(sorted(dists)) or 'no installed distribution'})")
    assert not missing, "imported but not declared in pyproject.toml: " + "; ".join(missing)


def test_no_test_skips_when_a_declared_package_is_missing():
    """`pytest.importorskip` of medseglab or of a declared dependency would turn a broken install
    into silent skips in CI: import it (a missing package then fails the test, as it should)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_norm(r.partition("==")[0]) for r in project["dependencies"]}
    declared |= {_norm(r.partition("==")[0]) for extra in project["optional-dependencies"].values() for r in extra}
    distributions = packages_distributions()
    offenders = []
    for file in (ROOT / "tests").rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            if (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "importorskip"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                top = str(node.args[0].value).split(".")[0]
                if top == "medseglab" or {_norm(d) for d in distributions.get(top, [])} & declared:
                    offenders.append(f"{file.relative_to(ROOT)}:{node.lineno}: importorskip({node.args[0].value!r})")
    assert not offenders, "import these instead:\n" + "\n".join(offenders)
