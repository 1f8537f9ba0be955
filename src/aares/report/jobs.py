"""Report job: build the Part 1 report with a line per section on the console.

``aares report`` and the last step of ``aares run-all`` call :func:`build`; the sections and
the HTML/PDF writers are in :mod:`aares.report.build`, :mod:`~aares.report.html` and
:mod:`~aares.report.pdf`.
"""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape

from aares.console import console
from aares.report.build import ReportResult, SectionOutcome, build_report

__all__ = ["ReportFailed", "build", "run_all_step"]

_STYLE = {"ok": "green", "missing": "yellow", "error": "red"}


class ReportFailed(RuntimeError):
    """Some sections failed; the report was written with an error box in their place."""


def show_outcome(outcome: SectionOutcome) -> None:
    """One console line per section: status, title, seconds (and the error's first line)."""
    style = _STYLE[outcome.status]
    console.print(
        f"[{style}]{outcome.status:>7}[/] {outcome.section.title} [dim]({outcome.seconds:.1f} s)[/]"
    )
    if outcome.error:
        console.print(f"[red]        {escape(outcome.error.splitlines()[0])}[/]")


def build(data: Path, out: Path, *, strict: bool = False, pdf: bool = True) -> ReportResult:
    """Build the report, print each section and the files written; raise
    :class:`ReportFailed` (after writing) when a section failed."""
    result = build_report(
        data,
        out,
        strict=strict,
        formats=("html", "pdf") if pdf else ("html",),
        on_section=show_outcome,
    )
    for kind, path in result.paths.items():
        console.print(f"{kind.upper()}: {path}")
    failed = result.report.failed
    if failed:
        names = ", ".join(o.section.title for o in failed)
        raise ReportFailed(f"{len(failed)} section(s) failed and show an error box: {names}")
    return result


def run_all_step(data_dir: Path, out_dir: Path) -> None:
    """The report as the last step of `aares run-all`."""
    build(Path(data_dir), Path(out_dir), strict=False, pdf=True)
