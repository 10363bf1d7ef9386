"""Library modules never import a CLI module: entry points parse arguments and call the library
(``study --analyze`` used to re-enter ``medseglab.cli.main``; ``study.inputs`` imported ``splits.cli``)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "medseglab"


def _imported(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_module_but_the_top_level_cli_imports_a_cli_module():
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if path == SRC / "cli.py":
            continue
        for name in _imported(ast.parse(path.read_text(), str(path))):
            parts = name.split(".")
            if parts[0] == "medseglab" and "cli" in parts[1:]:
                offenders.append(f"{path.relative_to(SRC)} imports {name}")
    assert not offenders, offenders


def test_one_definition_of_the_inits_candidates_and_threshold():
    """("lmi", "tii"), Algorithm 1's candidate tuple and the 0.5 default live in medseglab.names only."""
    import re

    pattern = re.compile(r"""\(\s*["'](lmi|tii)["']\s*,\s*["'](tii|lmi)["']\s*\)|["']tii["']\s*,\s*["']union["']"""
                         r"""|threshold["']?\s*[,)]\s*0\.5\b|threshold\s*(:\s*float\s*)?=\s*0\.5\b""")
    offenders = [f"{p.relative_to(SRC)}:{i}" for p in sorted(SRC.rglob("*.py")) if p != SRC / "names.py"
                 for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert not offenders, offenders
