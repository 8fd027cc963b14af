"""Building blocks of a self-contained HTML page: the shell with its CSS, tables, embedded
PNG figures with a caption, notes. No scripts, fonts or anything fetched over the network:
the file opens offline, anywhere."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from html import escape

CSS = """
:root { --ink: #1d2733; --muted: #5f6b7a; --line: #dde3ea; --accent: #1f5f9e;
        --paper: #f6f8fa; --good: #e8f5e9; --warn: #fff8e1; --bad: #fdecea; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: var(--ink); background: var(--paper); }
header { background: var(--accent); color: white; padding: 22px 40px 18px; }
header h1 { margin: 0 0 4px; font-size: 26px; }
header p { margin: 0; opacity: 0.9; }
header a { color: white; }
main { max-width: 1180px; margin: 0 auto; padding: 8px 40px 40px; }
section { background: white; border: 1px solid var(--line); border-radius: 8px;
          padding: 18px 22px; margin: 20px 0; }
h2 { font-size: 19px; margin: 0 0 10px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 18px; }
figure { margin: 0; }
figure img { max-width: 100%; height: auto; display: block; border: 1px solid var(--line);
             border-radius: 4px; }
figcaption { color: var(--muted); font-size: 13.5px; margin-top: 6px; }
table { border-collapse: collapse; font-size: 14px; margin: 6px 0 4px; }
th, td { padding: 5px 12px; border-bottom: 1px solid var(--line); text-align: right; }
th { background: var(--paper); font-weight: 600; }
th:first-child, td:first-child { text-align: left; }
td.text, th.text { text-align: left; }
tr.champion td { background: #eef4fb; font-weight: 600; }
td.best { color: var(--accent); font-weight: 700; }
.note { background: var(--warn); border-left: 4px solid #e0a800; padding: 10px 14px;
        border-radius: 4px; }
.note code { background: rgba(0,0,0,0.06); padding: 1px 5px; border-radius: 3px; }
.facts { display: flex; flex-wrap: wrap; gap: 12px; margin: 4px 0 8px; }
.fact { background: var(--paper); border: 1px solid var(--line); border-radius: 6px;
        padding: 8px 14px; min-width: 130px; }
.fact b { display: block; font-size: 20px; }
.fact span { color: var(--muted); font-size: 13px; }
.level-stable { background: var(--good); } .level-moderate { background: var(--warn); }
.level-major { background: var(--bad); }
p.lead { margin: 4px 0 12px; }
footer { color: var(--muted); font-size: 13px; text-align: center; padding: 10px; }
"""


def page(title: str, subtitle: str, body: Iterable[str], footer: str = "") -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{escape(title)}</h1><p>{subtitle}</p></header>"
        f"<main>{''.join(body)}</main><footer>{escape(footer)}</footer></body></html>\n"
    )


def section(title: str, *parts: str, anchor: str = "") -> str:
    ident = f' id="{escape(anchor)}"' if anchor else ""
    return f"<section{ident}><h2>{escape(title)}</h2>{''.join(parts)}</section>"


def figure(png: bytes, alt: str, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{escape(alt)}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def grid(*figures: str) -> str:
    return f'<div class="grid">{"".join(figures)}</div>'


def note(html: str) -> str:
    """A highlighted note; `html` is trusted markup built by the caller."""
    return f'<p class="note">{html}</p>'


def paragraph(text: str) -> str:
    return f'<p class="lead">{escape(text)}</p>'


def facts(items: Sequence[tuple[str, str]]) -> str:
    cells = "".join(
        f'<div class="fact"><b>{escape(value)}</b><span>{escape(label)}</span></div>'
        for label, value in items
    )
    return f'<div class="facts">{cells}</div>'


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    row_classes: Sequence[str] | None = None,
    cell_classes: Sequence[Sequence[str]] | None = None,
    text_columns: int = 1,
) -> str:
    """A table of already formatted cells; the first `text_columns` columns align left."""
    head = "".join(
        f'<th class="{"text" if i < text_columns else ""}">{escape(h)}</th>'
        for i, h in enumerate(headers)
    )
    body = []
    for r, row in enumerate(rows):
        cells = []
        for i, value in enumerate(row):
            classes = ["text"] if i < text_columns else []
            if cell_classes is not None and cell_classes[r][i]:
                classes.append(cell_classes[r][i])
            cells.append(f'<td class="{" ".join(classes)}">{escape(value)}</td>')
        css = row_classes[r] if row_classes else ""
        body.append(f'<tr class="{css}">{"".join(cells)}</tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
