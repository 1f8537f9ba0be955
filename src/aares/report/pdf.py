"""The report as a PDF with the same content as the HTML file, written with fpdf2.

fpdf2 is pure Python (no system libraries), writes real text, tables, images and PDF
bookmarks. The text font is DejaVu Sans, which matplotlib ships, so any Unicode artist or
genre name prints correctly without a font download.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
from fpdf import FPDF
from fpdf.fonts import FontFace
from PIL import Image

from aares.io import atomic_path
from aares.report.format import human_bytes, paragraphs, table_cells
from aares.report.section import Figure, Heading, Note, Section, Table, Text

__all__ = ["render_pdf", "write_pdf"]

FONT = "DejaVu"
_FONT_FILES = {
    "": "DejaVuSans.ttf",
    "B": "DejaVuSans-Bold.ttf",
    "I": "DejaVuSans-Oblique.ttf",
    "BI": "DejaVuSans-BoldOblique.ttf",
}
ACCENT = (31, 95, 153)
MUTED = (82, 96, 109)
NOTE_COLORS = {  # (bar, fill, text)
    "info": ((59, 130, 196), (238, 245, 252), (31, 41, 51)),
    "warning": ((214, 158, 46), (253, 246, 227), (31, 41, 51)),
    "error": ((197, 48, 48), (253, 236, 236), (116, 42, 42)),
}


class _ReportPDF(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
        for style, name in _FONT_FILES.items():
            self.add_font(FONT, style, str(fonts / name))
        self.report_title = title
        self.set_margins(18, 18, 18)
        self.set_auto_page_break(True, margin=18)
        self.set_title(title)
        self.set_creator("aares")

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, "", 8)
        self.set_text_color(*MUTED)
        self.cell(0, 5, f"{self.report_title}  ·  page {self.page_no()}", align="C")
        self.set_text_color(0, 0, 0)


def _paragraph(pdf: FPDF, text: str, size: float = 10, style: str = "") -> None:
    pdf.set_font(FONT, style, size)
    for p in paragraphs(text):
        pdf.multi_cell(0, size * 0.5, p, align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1.5)


def _heading(pdf: FPDF, text: str, level: int, keep: float = 30) -> None:
    size = 15 if level == 0 else 12
    # keep a heading with the start of what follows it (``keep`` mm)
    if pdf.will_page_break(size + keep):
        pdf.add_page()
    pdf.start_section(text, level=level)
    pdf.ln(3 if level else 1)
    pdf.set_font(FONT, "B", size)
    pdf.set_text_color(*(ACCENT if level == 0 else (31, 41, 51)))
    pdf.multi_cell(0, size * 0.55, text, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    if level == 0:
        pdf.set_draw_color(*ACCENT)
        pdf.set_line_width(0.6)
        pdf.line(pdf.l_margin, pdf.get_y() + 1, pdf.w - pdf.r_margin, pdf.get_y() + 1)
        pdf.set_line_width(0.2)
    pdf.ln(3)


def _figure_size(pdf: FPDF, path: Path) -> tuple[float, float]:
    """Width and height (mm) of a figure: its size at 110 dpi, shrunk to fit the page."""
    with Image.open(path) as im:
        wpx, hpx = im.size
    width = min(pdf.epw, wpx * 25.4 / 110)  # aares.plotting saves at 110 dpi
    height = width * hpx / wpx
    max_h = pdf.eph - 30
    if height > max_h:
        width, height = width * max_h / height, max_h
    return width, height


def _figure(pdf: FPDF, figure: Figure) -> None:
    path = Path(figure.path)
    width, height = _figure_size(pdf, path)
    if pdf.will_page_break(height + 8):
        pdf.add_page()
    x = pdf.l_margin + (pdf.epw - width) / 2
    pdf.image(str(path), x=x, y=pdf.get_y(), w=width, h=height, alt_text=figure.caption or None)
    pdf.set_y(pdf.get_y() + height + 1.5)
    if figure.caption:
        pdf.set_text_color(*MUTED)
        _paragraph(pdf, figure.caption, size=8.5, style="I")
        pdf.set_text_color(0, 0, 0)
    pdf.ln(2)


def _table(pdf: FPDF, table: Table) -> None:
    cells = table_cells(table)
    _grid(pdf, cells.header, cells.rows, cells.numeric)
    caption = table.caption + (f" ({cells.note})" if cells.note else "")
    if caption:
        pdf.set_text_color(*MUTED)
        _paragraph(pdf, caption, size=8.5, style="I")
        pdf.set_text_color(0, 0, 0)
    pdf.ln(2)


def _fit_widths(pdf: FPDF, header: list[str] | None, rows: list[list[str]], ncol: int) -> list:
    """Column widths (mm): each column its longest text, the widest ones shrunk to fit."""
    need = []
    for i in range(ncol):
        cells = [pdf.get_string_width(r[i]) for r in rows if i < len(r)]
        if header:
            style = pdf.font_style
            pdf.set_font(style="B")
            cells.append(pdf.get_string_width(header[i]))
            pdf.set_font(style=style)
        need.append(max(cells, default=5) + 4)
    if sum(need) <= pdf.epw:
        return need
    # Columns narrower than a fair share keep their width; the rest share what is left.
    fixed = [False] * ncol
    while True:
        left = pdf.epw - sum(w for w, f in zip(need, fixed, strict=True) if f)
        free = [i for i in range(ncol) if not fixed[i]]
        share = left / max(len(free), 1)
        small = [i for i in free if need[i] <= share]
        if not small:
            break
        for i in small:
            fixed[i] = True
    wide = sum(need[i] for i in free)
    return [need[i] if fixed[i] else need[i] * left / wide for i in range(ncol)]


def _grid(
    pdf: FPDF,
    header: list[str] | None,
    rows: list[list[str]],
    numeric: list[bool] | None = None,
    widths: list[float] | None = None,
) -> None:
    ncol = len(header) if header else max((len(r) for r in rows), default=1)
    size = 8.5 if ncol <= 6 else 7.5 if ncol <= 9 else 6.5
    pdf.set_font(FONT, "", size)
    numeric = numeric or [False] * ncol
    align = ["RIGHT" if n else "LEFT" for n in numeric]
    if widths is None:
        widths = _fit_widths(pdf, header, rows, ncol)
    else:
        total = sum(widths)
        widths = [w * pdf.epw / total for w in widths]
    with pdf.table(
        width=sum(widths),
        col_widths=tuple(widths),
        text_align=tuple(align),
        first_row_as_headings=header is not None,
        headings_style=FontFace(emphasis="BOLD", fill_color=(240, 244, 248)),
        line_height=size * 0.5,
        borders_layout="HORIZONTAL_LINES",
        align="LEFT",
        padding=(0.6, 1.2),
    ) as grid:
        if header is not None:
            grid.row(header)
        for r in rows:
            grid.row(r + [""] * (ncol - len(r)))
    pdf.ln(2)


def _note(pdf: FPDF, note: Note) -> None:
    bar, fill, ink = NOTE_COLORS.get(note.level, NOTE_COLORS["info"])
    pdf.set_font(FONT, "", 9.5)
    text = "\n".join(paragraphs(note.text))
    height = pdf.multi_cell(
        pdf.epw - 2, 5, text, align="L", dry_run=True, output="HEIGHT", padding=2
    )
    if pdf.will_page_break(height + 4):
        pdf.add_page()
    y = pdf.get_y()
    pdf.set_fill_color(*fill)
    pdf.set_text_color(*ink)
    pdf.set_x(pdf.l_margin + 2)
    pdf.multi_cell(
        pdf.epw - 2, 5, text, align="L", fill=True, padding=2, new_x="LMARGIN", new_y="NEXT"
    )
    pdf.set_fill_color(*bar)
    pdf.rect(pdf.l_margin, y, 1.6, pdf.get_y() - y, style="F")
    pdf.set_fill_color(255, 255, 255)  # the next blocks (tables) must not inherit the colour
    pdf.set_text_color(0, 0, 0)
    pdf.ln(3)


def _section(pdf: FPDF, section: Section, n: int) -> None:
    pdf.add_page()
    _heading(pdf, f"{n}. {section.title}", 0)
    sub = 0
    for i, block in enumerate(section.blocks):
        if isinstance(block, Heading):
            sub += 1
            after = section.blocks[i + 1] if i + 1 < len(section.blocks) else None
            keep = 30
            if isinstance(after, Figure):
                keep = _figure_size(pdf, Path(after.path))[1] + 4
            _heading(pdf, f"{n}.{sub} {block.text}", 1, keep)
        elif isinstance(block, Text):
            _paragraph(pdf, block.text)
        elif isinstance(block, Figure):
            _figure(pdf, block)
        elif isinstance(block, Table):
            _table(pdf, block)
        elif isinstance(block, Note):
            _note(pdf, block)
        else:
            raise TypeError(f"cannot render a {type(block).__name__} block in section {n}")
    if section.settings:
        pdf.ln(2)
        pdf.set_font(FONT, "B", 9)
        pdf.cell(0, 6, "Settings of this section", new_x="LMARGIN", new_y="NEXT")
        _grid(pdf, None, [[str(k), str(v)] for k, v in section.settings.items()], widths=[1, 2])


def _toc(pdf: FPDF, outline) -> None:
    pdf.set_x(pdf.l_margin)
    pdf.set_font(FONT, "B", 15)
    pdf.set_text_color(*ACCENT)
    pdf.cell(0, 10, "Contents", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    for entry in outline:
        level = entry.level
        pdf.set_font(FONT, "B" if level == 0 else "", 10.5 if level == 0 else 9.5)
        indent = 6 * level
        pdf.set_x(pdf.l_margin + indent)
        link = pdf.add_link(page=entry.page_number)
        name_w = pdf.epw - indent - 14
        pdf.cell(name_w, 6.2 if level == 0 else 5.2, entry.name, link=link)
        pdf.cell(14, 6.2 if level == 0 else 5.2, str(entry.page_number), align="R", link=link)
        pdf.ln()


def render_pdf(report) -> bytes:
    """The whole report (:class:`aares.report.build.Report`) as PDF bytes."""
    pdf = _ReportPDF(report.title)
    pdf.add_page()
    pdf.set_font(FONT, "B", 20)
    pdf.set_text_color(*ACCENT)
    pdf.multi_cell(0, 10, report.title, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(*MUTED)
    pdf.set_font(FONT, "", 10)
    version = report.settings.get("aares version", "")
    pdf.cell(0, 6, f"Written {report.created} by aares {version}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.ln(4)
    # the contents go on this first page; the placeholder then starts a new page
    pdf.insert_toc_placeholder(_toc, pages=1, allow_extra_pages=True)
    _heading(pdf, "About this report", 0)
    _paragraph(
        pdf,
        f"Every number and figure in this report was computed by the run that wrote it "
        f"({report.created}), from the data files listed here.",
    )
    _heading(pdf, "Data files", 1)
    _grid(
        pdf,
        ["file", "size", "rows"],
        [
            [f.name, human_bytes(f.bytes), "" if f.rows is None else f"{f.rows:,}"]
            for f in report.files
        ],
        [False, True, True],
    )
    _heading(pdf, "Settings", 1)
    _grid(pdf, None, [[k, str(v)] for k, v in report.settings.items()], widths=[1, 3])
    _heading(pdf, "Sections", 1)
    _grid(
        pdf,
        ["section", "status", "seconds", "provider"],
        [[o.section.title, o.status, f"{o.seconds:.1f}", o.target] for o in report.outcomes],
        [False, False, True, False],
    )
    _paragraph(pdf, f"Sections built in {report.seconds:.1f} s.", size=9)
    for n, outcome in enumerate(report.outcomes, start=1):
        _section(pdf, outcome.section, n)
    return bytes(pdf.output())


def write_pdf(report, path: str | os.PathLike) -> Path:
    """Write :func:`render_pdf` of ``report`` to ``path`` atomically."""
    data = render_pdf(report)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
