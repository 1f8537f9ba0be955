"""The report as one self-contained HTML file: figures embedded as base64 PNG, no external
style sheet, script or font, so the file can be mailed or opened offline as it is."""

from __future__ import annotations

import base64
import os
from html import escape
from pathlib import Path

from aares.io import write_text
from aares.report.format import human_bytes, paragraphs, table_cells
from aares.report.section import Figure, Heading, Note, Section, Table, Text

__all__ = ["render_html", "write_html"]

_CSS = """
:root { --ink:#1f2933; --muted:#52606d; --line:#d9e2ec; --accent:#1f5f99; }
* { box-sizing: border-box; }
body { font: 16px/1.55 -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: var(--ink); margin: 0; background: #f5f7fa; }
main { max-width: 60rem; margin: 0 auto; padding: 2rem 2.5rem 4rem; background: #fff; }
h1 { font-size: 1.9rem; margin: 0 0 .3rem; color: var(--accent); }
h2 { font-size: 1.45rem; margin: 2.6rem 0 .8rem; padding-top: .6rem;
     border-top: 3px solid var(--accent); }
h3 { font-size: 1.12rem; margin: 1.8rem 0 .5rem; }
p { margin: .5rem 0 .8rem; }
.meta { color: var(--muted); margin-bottom: 1.5rem; }
nav { background: #f0f4f8; border: 1px solid var(--line); border-radius: 6px;
      padding: .8rem 1.2rem; margin: 1rem 0 2rem; }
nav ul { margin: .2rem 0; padding-left: 0; list-style: none; }
nav ul ul { font-size: .92rem; padding-left: 1.6rem; }
nav a { color: var(--accent); text-decoration: none; } nav a:hover { text-decoration: underline; }
figure { margin: 1.2rem 0; text-align: center; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: .9rem; margin-top: .3rem; }
table { border-collapse: collapse; margin: .8rem 0 .3rem; font-size: .88rem; }
th, td { border-bottom: 1px solid var(--line); padding: .25rem .6rem; text-align: left; }
th { background: #f0f4f8; } td.num, th.num { text-align: right;
     font-variant-numeric: tabular-nums; }
.tcap { color: var(--muted); font-size: .88rem; margin-bottom: 1rem; }
.tablewrap { overflow-x: auto; }
.note { border-left: 5px solid #3b82c4; background: #eef5fc; padding: .6rem 1rem;
        margin: 1rem 0; border-radius: 3px; }
.note.warning { border-color: #d69e2e; background: #fdf6e3; }
.note.error { border-color: #c53030; background: #fdecec; color: #742a2a; }
details { margin: .8rem 0 1.4rem; color: var(--muted); font-size: .9rem; }
summary { cursor: pointer; }
.status-ok { color: #2f855a; } .status-missing { color: #b7791f; } .status-error { color: #c53030; }
@media print { body { background: #fff; } main { padding: 0; } h2 { break-before: page; } }
"""


def _image(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f"data:image/png;base64,{data}"


def _table(table: Table) -> str:
    cells = table_cells(table)

    def cls(i: int) -> str:
        return ' class="num"' if cells.numeric[i] else ""

    head = "".join(f"<th{cls(i)}>{escape(h)}</th>" for i, h in enumerate(cells.header))
    body = "".join(
        "<tr>" + "".join(f"<td{cls(i)}>{escape(v)}</td>" for i, v in enumerate(row)) + "</tr>"
        for row in cells.rows
    )
    caption = table.caption + (f" ({cells.note})" if cells.note else "")
    out = f'<div class="tablewrap"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
    out += "</table></div>"
    if caption:
        out += f'<div class="tcap">{escape(caption)}</div>'
    return out


def _settings_table(settings: dict[str, str]) -> str:
    rows = "".join(
        f"<tr><th>{escape(str(k))}</th><td>{escape(str(v))}</td></tr>" for k, v in settings.items()
    )
    return f"<table>{rows}</table>"


def _section(section: Section, n: int) -> tuple[str, list[tuple[str, str]]]:
    """HTML of one section and its sub-headings (anchor, text) for the contents."""
    parts = [f'<section id="s{n}"><h2>{n}. {escape(section.title)}</h2>']
    subs = []
    for block in section.blocks:
        if isinstance(block, Heading):
            anchor = f"s{n}-{len(subs) + 1}"
            subs.append((anchor, block.text))
            parts.append(f'<h3 id="{anchor}">{n}.{len(subs)} {escape(block.text)}</h3>')
        elif isinstance(block, Text):
            parts += [f"<p>{escape(p)}</p>" for p in paragraphs(block.text)]
        elif isinstance(block, Figure):
            cap = f"<figcaption>{escape(block.caption)}</figcaption>" if block.caption else ""
            alt = escape(block.caption or Path(block.path).name, quote=True)
            parts.append(f'<figure><img src="{_image(block.path)}" alt="{alt}">{cap}</figure>')
        elif isinstance(block, Table):
            parts.append(_table(block))
        elif isinstance(block, Note):
            level = block.level if block.level in ("info", "warning", "error") else "info"
            body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs(block.text))
            parts.append(f'<div class="note {level}">{body}</div>')
        else:
            raise TypeError(f"cannot render a {type(block).__name__} block in section {n}")
    if section.settings:
        parts.append("<details><summary>Settings of this section</summary>")
        parts.append(_settings_table(section.settings) + "</details>")
    parts.append("</section>")
    return "\n".join(parts), subs


def render_html(report) -> str:
    """The whole report (:class:`aares.report.build.Report`) as an HTML string."""
    bodies, toc = [], []
    for n, outcome in enumerate(report.outcomes, start=1):
        body, subs = _section(outcome.section, n)
        bodies.append(body)
        items = "".join(
            f'<li><a href="#{a}">{n}.{i} {escape(t)}</a></li>'
            for i, (a, t) in enumerate(subs, start=1)
        )
        sub = f"<ul>{items}</ul>" if items else ""
        toc.append(f'<li><a href="#s{n}">{n}. {escape(outcome.section.title)}</a>{sub}</li>')

    files = "".join(
        f'<tr><td>{escape(f.name)}</td><td class="num">{human_bytes(f.bytes)}</td>'
        f'<td class="num">{"" if f.rows is None else f"{f.rows:,}"}</td></tr>'
        for f in report.files
    )
    status = "".join(
        f"<tr><td>{escape(o.section.title)}</td>"
        f'<td class="status-{o.status}">{o.status}</td>'
        f'<td class="num">{o.seconds:.1f}</td><td>{escape(o.target)}</td></tr>'
        for o in report.outcomes
    )
    overview = f"""
<section id="run"><h2>About this report</h2>
<p>Every number and figure below was computed by the run that wrote this file
({escape(report.created)}), from the data files listed here.</p>
<h3>Data files</h3>
<table><thead><tr><th>file</th><th class="num">size</th><th class="num">rows</th></tr></thead>
<tbody>{files}</tbody></table>
<h3>Settings</h3>{_settings_table(report.settings)}
<h3>Sections</h3>
<table><thead><tr><th>section</th><th>status</th><th class="num">seconds</th><th>provider</th>
</tr></thead><tbody>{status}</tbody></table>
<p class="meta">Sections built in {report.seconds:.1f} s.</p>
</section>"""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(report.title)}</title><style>{_CSS}</style></head>
<body><main>
<h1>{escape(report.title)}</h1>
<div class="meta">Written {escape(report.created)} by aares
{escape(report.settings.get("aares version", ""))}</div>
<nav><strong>Contents</strong><ul><li><a href="#run">About this report</a></li>{"".join(toc)}
</ul></nav>
{overview}
{"".join(bodies)}
</main></body></html>
"""


def write_html(report, path: str | os.PathLike) -> Path:
    """Write :func:`render_html` of ``report`` to ``path`` atomically."""
    return write_text(path, render_html(report))
