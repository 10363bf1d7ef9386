"""Write tables as CSV, Markdown and HTML (one file each, plus an index of all of them)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Iterable

import pandas as pd

from medseglab.io import atomic_path, write_csv
from medseglab.stats.tables import Table


def to_markdown(table: Table) -> str:
    frame = table.frame
    esc = lambda v: str(v).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = [f"### {table.title}", ""]
    if frame.empty:
        lines.append("(no rows)")
    else:
        lines.append("| " + " | ".join(esc(c) for c in frame.columns) + " |")
        lines.append("| " + " | ".join("---" for _ in frame.columns) + " |")
        for row in frame.itertuples(index=False):
            lines.append("| " + " | ".join(esc(v) for v in row) + " |")
    if table.notes:
        lines.append("")
        lines.extend(f"- {note}" for note in table.notes)
    return "\n".join(lines) + "\n"


def to_html(table: Table) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in table.frame.itertuples(index=False)
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in table.notes)
    return (
        f'<section id="{html.escape(table.name)}"><h3>{html.escape(table.title)}</h3>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        f"<ul class='notes'>{notes}</ul></section>\n"
    )


_STYLE = (
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:.5em 0}"
    "th,td{border:1px solid #bbb;padding:.25em .5em;text-align:right}th{background:#eee}"
    "td:first-child,th:first-child{text-align:left}.notes{font-size:.9em;color:#444}"
)


def html_page(title: str, sections: Iterable[str]) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>{''.join(sections)}</body></html>\n"
    )


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_tables(tables: dict[str, Table], out_dir: str | Path, title: str, extra: dict[str, pd.DataFrame] | None = None) -> list[Path]:
    """Write every table as <name>.csv/.md/.html, plus index.md and index.html with all of them,
    plus ``extra`` frames as plain CSV (e.g. the full numeric statistics). Returns the files."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, table in tables.items():
        write_csv(out_dir / f"{name}.csv", table.frame)
        _write_text(out_dir / f"{name}.md", to_markdown(table))
        _write_text(out_dir / f"{name}.html", html_page(table.title, [to_html(table)]))
        written += [out_dir / f"{name}.{ext}" for ext in ("csv", "md", "html")]
    _write_text(out_dir / "index.md", f"# {title}\n\n" + "\n".join(to_markdown(t) for t in tables.values()))
    _write_text(out_dir / "index.html", html_page(title, [to_html(t) for t in tables.values()]))
    written += [out_dir / "index.md", out_dir / "index.html"]
    for name, frame in (extra or {}).items():
        write_csv(out_dir / f"{name}.csv", frame)
        written.append(out_dir / f"{name}.csv")
    return written
