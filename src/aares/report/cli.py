"""``aares report``: build the Part 1 report (HTML and PDF) from every capability's section."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from aares.console import console
from aares.data import DataError
from aares.report.build import SectionOutcome, build_report

_STYLE = {"ok": "green", "missing": "yellow", "error": "red"}


def _show(outcome: SectionOutcome) -> None:
    style = _STYLE[outcome.status]
    console.print(
        f"[{style}]{outcome.status:>7}[/] {outcome.section.title} [dim]({outcome.seconds:.1f} s)[/]"
    )
    if outcome.error:
        console.print(f"[red]        {escape(outcome.error.splitlines()[0])}[/]")


def _build(data: Path, out: Path, strict: bool, pdf: bool) -> None:
    try:
        result = build_report(
            data,
            out,
            strict=strict,
            formats=("html", "pdf") if pdf else ("html",),
            on_section=_show,
        )
    except (DataError, ValueError) as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(1) from None
    for kind, path in result.paths.items():
        console.print(f"{kind.upper()}: {path}")
    failed = result.report.failed
    if failed:
        names = escape(", ".join(o.section.title for o in failed))
        console.print(
            f"[red]error:[/] {len(failed)} section(s) failed and show an error box: {names}"
        )
        raise typer.Exit(1)


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


def run_all_step(data_dir: Path, out_dir: Path) -> None:
    """The report as the last step of `aares run-all`."""
    _build(Path(data_dir), Path(out_dir), strict=False, pdf=True)
