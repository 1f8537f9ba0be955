"""``aares report``: build the Part 1 report (HTML and PDF) from every capability's section."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from aares.console import console
from aares.errors import DataError


def _build(data: Path, out: Path, strict: bool, pdf: bool) -> None:
    from aares.report.jobs import ReportFailed, build

    try:
        build(data, out, strict=strict, pdf=pdf)
    except (DataError, ValueError, ReportFailed) as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(1) from None


def report(
    data: Path = typer.Option(
        Path("data"), "--data", envvar="AARES_DATA", help="Folder with the course data files."
    ),
    out: Path = typer.Option(
        Path("out"),
        "--out",
        help="Output folder: the report goes to OUT/report/report.html and report.pdf; "
        "sections reuse what `aares run-all` already wrote there.",
    ),
    strict: bool = typer.Option(
        False,
        "--strict",
        help="Stop at the first section that fails (with its traceback) instead of writing "
        "the report with an error box in its place.",
    ),
    pdf: bool = typer.Option(True, "--pdf/--no-pdf", help="Also write the PDF."),
) -> None:
    """Build the Part 1 report: one self-contained HTML file and a PDF with the same content.

    Sections, in order: Exercise 1 (genres), Exercise 2 (the tour of the data of aares
    explore, then popularity and micro-genres), Exercise 3 (recommendation), the conformal
    bonus. It opens with the data files read and the settings of the run. A capability
    not in this version is noted as not available; a section that fails shows a red error
    box, the rest is still written, and the command exits with code 1.
    """
    _build(data, out, strict, pdf)
