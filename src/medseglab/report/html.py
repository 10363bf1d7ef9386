"""HTML pieces of the study report: escaped text, tables, a small Markdown subset (what medseglab's own
tables and summaries use), images as data URIs, and the page with its inline style.

The page forbids every fetch (a Content-Security-Policy allowing only inline style and ``data:``
images), so it opens offline and shows the same wherever it is copied.
"""

from __future__ import annotations

import base64
import html
import math
import re
from typing import Iterable

import pandas as pd

MAX_ROWS = 200  # rows of a CSV shown; a longer table says how many were left out
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

STYLE = """
body{font-family:system-ui,sans-serif;margin:0;color:#222;line-height:1.4}
header{background:#f4f6f8;border-bottom:1px solid #ddd;padding:12px 24px}
main{padding:8px 24px 40px}
h1{margin:0 0 4px;font-size:24px} h2{border-bottom:1px solid #ddd;padding-top:16px} h4{margin:12px 0 4px}
nav ol{columns:3;font-size:14px;margin:6px 0}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}
th,td{border:1px solid #bbb;padding:2px 6px;text-align:right;vertical-align:top}
th{background:#eee} td:first-child,th:first-child{text-align:left} td.t{text-align:left} td.n{text-align:right}
.wide{overflow-x:auto;max-width:100%}
figure{margin:8px 0} figure img{max-width:100%;border:1px solid #ddd}
figcaption,.muted{color:#555;font-size:13px}
.banner{background:#fff3cd;border:1px solid #e0c060;padding:6px 10px;margin:6px 0;font-weight:bold}
.missing{background:#fdecea;border-left:4px solid #c0392b;padding:6px 10px;margin:8px 0}
.notes{font-size:13px;color:#444}
code{background:#f3f3f3;padding:0 3px}
details{margin:6px 0} summary{cursor:pointer;color:#0b5394}
"""


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def inline(text: str) -> str:
    """Escaped text with `code` spans."""
    parts = re.split(r"`([^`]*)`", str(text))
    return "".join(f"<code>{esc(p)}</code>" if i % 2 else esc(p) for i, p in enumerate(parts))


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return "" if value is None else str(value)


def frame_table(frame: pd.DataFrame, max_rows: int = MAX_ROWS) -> str:
    """An HTML table of ``frame`` (floats to 4 significant digits, numbers right-aligned); at most
    ``max_rows`` rows; columns without any value are named below it instead of shown."""
    if frame.empty:
        return "<p class='muted'>(no rows)</p>"
    empty = [c for c in frame.columns if frame[c].isna().all()]
    shown = frame.drop(columns=empty).head(max_rows)
    numeric = [pd.api.types.is_numeric_dtype(shown[c]) and not pd.api.types.is_bool_dtype(shown[c])
               for c in shown.columns]
    head = "".join(f"<th>{esc(c)}</th>" for c in shown.columns)
    body = "".join("<tr>" + "".join(f"<td class='{'n' if n else 't'}'>{esc(_cell(v))}</td>"
                                    for v, n in zip(row, numeric)) + "</tr>"
                   for row in shown.itertuples(index=False))
    notes = []
    if len(frame) > max_rows:
        notes.append(f"first {max_rows} of {len(frame)} rows; the whole table is the artifact")
    if empty:
        notes.append("no value in any row: " + ", ".join(map(str, empty)))
    more = "".join(f"<p class='muted'>{esc(n)}</p>" for n in notes)
    return f"<div class='wide'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>{more}"


def _row_cells(line: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
    return [c.strip().replace("\\|", "|") for c in cells]


def markdown(text: str, demote: int = 2) -> str:
    """The Markdown medseglab writes (headings, pipe tables, ``- `` lists, paragraphs) as HTML;
    headings move down ``demote`` levels so they sit under the report's section heading."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        if not line.strip():
            i += 1
        elif m := re.match(r"^(#{1,6})\s+(.*)$", line):
            level = min(len(m.group(1)) + demote, 6)
            out.append(f"<h{level}>{inline(m.group(2))}</h{level}>")
            i += 1
        elif line.lstrip().startswith("|"):
            block = []
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                block.append(_row_cells(lines[i]))
                i += 1
            rows = [r for r in block if not all(re.fullmatch(r":?-{3,}:?", c) for c in r)]
            head = "".join(f"<th>{inline(c)}</th>" for c in rows[0])
            body = "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif line.lstrip().startswith("- "):
            items = []
            while i < len(lines) and lines[i].lstrip().startswith("- "):
                items.append(f"<li>{inline(lines[i].lstrip()[2:])}</li>")
                i += 1
            out.append(f"<ul class='notes'>{''.join(items)}</ul>")
        else:
            para = []
            while (i < len(lines) and lines[i].strip() and not lines[i].lstrip().startswith(("|", "- ", "#"))):
                para.append(lines[i].strip())
                i += 1
            out.append(f"<p>{inline(' '.join(para))}</p>")
    return "\n".join(out)


def image(png: bytes, alt: str, caption: str = "") -> str:
    """A figure whose picture is embedded as a data URI."""
    data = base64.b64encode(png).decode("ascii")
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f"<figure><img src='data:image/png;base64,{data}' alt='{esc(alt)}'>{cap}</figure>"


def key_values(pairs: Iterable[tuple[str, object]]) -> str:
    """A two-column table: name, value."""
    body = "".join(f"<tr><th>{esc(k)}</th><td style='text-align:left'>{esc(_cell(v))}</td></tr>" for k, v in pairs)
    return f"<table><tbody>{body}</tbody></table>"


def flatten(tree, prefix: str = "") -> list[tuple[str, object]]:
    """Nested JSON as (dotted key, value) pairs; lists of scalars stay one value."""
    if isinstance(tree, dict):
        return [kv for k, v in tree.items() for kv in flatten(v, f"{prefix}{k}.")]
    if isinstance(tree, list) and any(isinstance(v, (dict, list)) for v in tree):
        return [kv for i, v in enumerate(tree) for kv in flatten(v, f"{prefix}{i}.")]
    return [(prefix.rstrip("."), ", ".join(map(str, tree)) if isinstance(tree, list) else tree)]


def missing(what: str, command: str) -> str:
    """The plain statement that a section (or part of it) was not computed, and what computes it."""
    return f"<div class='missing'>{esc(what)} not computed for this study: run <code>{esc(command)}</code></div>"


def section(key: str, title: str, body: str) -> str:
    return f"<section id='{esc(key)}'><h2>{esc(title)}</h2>\n{body}\n</section>\n"


def page(title: str, subtitle: str, banners: Iterable[str], toc: Iterable[tuple[str, str]],
         sections: Iterable[str]) -> str:
    """The whole document: header (title, banners, contents), then the sections."""
    items = "".join(f"<li><a href='#{esc(k)}'>{esc(t)}</a></li>" for k, t in toc)
    flags = "".join(f"<div class='banner'>{esc(b)}</div>" for b in banners if b)
    return (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>\n"
        f"<header><h1>{esc(title)}</h1><div class='muted'>{esc(subtitle)}</div>{flags}"
        f"<nav><ol>{items}</ol></nav></header>\n<main>\n{''.join(sections)}</main></body></html>\n"
    )
