"""Collect the sections of the Part 1 report and write it as HTML and PDF.

The report is a list of sections, one per capability, each produced by a provider
``report_section(data_dir, out_dir) -> Section`` named in :data:`REGISTRY` as
``"module:function"``. Providers reuse what ``aares run-all`` already wrote under
``out_dir`` and compute the rest, so every number comes from this run.

Failures are never silent, but they are handled in two ways:

- a provider whose module does not exist (a capability not built yet) gives a visible
  "not available" note in its place;
- a provider that raises gives a red error box with the message in its place, and the
  outcome is marked ``"error"``; with ``strict=True`` (tests, ``aares report --strict``)
  the exception propagates instead. The command line writes the rest of the report, then
  exits with code 1 naming the failed sections, so ``make run`` does not pass quietly.

Example
-------
>>> from aares.report.build import build_report            # doctest: +SKIP
>>> result = build_report("data", "out")                    # doctest: +SKIP
>>> result.paths["html"]                                    # doctest: +SKIP
PosixPath('out/report/report.html')
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib
import importlib.util
import os
import platform
import subprocess
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aares import __version__
from aares.data import data_dir as resolve_data_dir
from aares.io import ensure_dir
from aares.report.section import Block, Figure, Note, Section

__all__ = [
    "REGISTRY",
    "Provider",
    "SectionOutcome",
    "DataFile",
    "Report",
    "ReportResult",
    "collect_sections",
    "describe_data_files",
    "build_report",
]

#: One entry per section, in report order: (title used when the provider is missing or
#: fails, "module:function" of the provider).
REGISTRY: list[tuple[str, str]] = [
    ("Exercise 1: genre classification", "aares.genre.report:report_section"),
    ("Exercise 2: what the data shows", "aares.explore.report:report_section"),
    ("Exercise 2: popularity and micro-genres", "aares.popularity.report:report_section"),
    ("Exercise 3: song recommendation", "aares.recommend.report:report_section"),
    ("Bonus: conformal prediction", "aares.conformal.report:report_section"),
]

Provider = Callable[[Path, Path], Section]

REPORT_DIR = "report"


@dataclass
class SectionOutcome:
    """What came of one registry entry: ``status`` is ``"ok"``, ``"missing"`` or ``"error"``."""

    title: str
    target: str
    status: str
    section: Section
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    error: str | None = None


@dataclass
class DataFile:
    """A data file the report read: name, size in bytes, rows (header excluded)."""

    name: str
    bytes: int
    rows: int | None


@dataclass
class Report:
    """Everything the renderers need: sections, data files, run settings."""

    title: str
    created: str
    outcomes: list[SectionOutcome]
    files: list[DataFile]
    settings: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def sections(self) -> list[Section]:
        return [o.section for o in self.outcomes]

    @property
    def failed(self) -> list[SectionOutcome]:
        return [o for o in self.outcomes if o.status == "error"]


@dataclass
class ReportResult:
    """The report and the files written (``paths["html"]``, ``paths["pdf"]``)."""

    report: Report
    paths: dict[str, Path]


def _resolve(target: str) -> Provider | None:
    """The provider function, or None when its module does not exist (yet)."""
    module, _, attr = target.partition(":")
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:  # a parent package is missing
        spec = None
    if spec is None:
        return None
    return getattr(importlib.import_module(module), attr)


def collect_sections(
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    registry: Sequence[tuple[str, str | Provider]] | None = None,
    strict: bool = False,
    on_section: Callable[[SectionOutcome], None] | None = None,
) -> list[SectionOutcome]:
    """Call every provider of ``registry`` in order and return their outcomes.

    An entry is ``(title, target)`` where ``target`` is ``"module:function"`` or a
    callable ``f(data_dir, out_dir) -> Section``.

    Parameters
    ----------
    strict : bool
        re-raise the first exception of a provider instead of putting an error box in
        its place (a missing module is still only noted).
    on_section : callable, optional
        called with each outcome as soon as it is known (progress display).
    """
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    outcomes = []
    for title, target in REGISTRY if registry is None else registry:
        name = target if isinstance(target, str) else getattr(target, "__qualname__", "provider")
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            provider = _resolve(target) if isinstance(target, str) else target
            if provider is None:
                outcome = SectionOutcome(
                    title,
                    name,
                    "missing",
                    Section(
                        title,
                        [Note(f"Not available: {name} is not part of this version of aares.")],
                    ),
                )
            else:
                section = provider(data_dir, out_dir)
                if not isinstance(section, Section):
                    raise TypeError(f"{name} returned {type(section).__name__}, not a Section")
                _check(section, name)
                outcome = SectionOutcome(section.title, name, "ok", section)
        except Exception as exc:
            if strict:
                raise
            message = f"{type(exc).__name__}: {exc}"
            outcome = SectionOutcome(
                title,
                name,
                "error",
                Section(
                    title,
                    [Note(f"This section failed while the report was built. {message}", "error")],
                ),
                error=message + "\n" + traceback.format_exc(limit=6),
            )
        outcome.seconds = time.perf_counter() - t0
        outcome.cpu_seconds = time.process_time() - c0  # every thread of this process
        outcomes.append(outcome)
        if on_section is not None:
            on_section(outcome)
    return outcomes


def _check(section: Section, name: str) -> None:
    """Fail in the section, not in the renderer, when a block cannot be rendered."""
    for block in section.blocks:
        if not isinstance(block, Block.__args__):
            raise TypeError(f"{name}: a {type(block).__name__} is not a report block")
        if isinstance(block, Figure) and not Path(block.path).is_file():
            raise ValueError(f"{name}: figure file {block.path} not found")


def _count_rows(path: Path) -> int | None:
    """Rows of a CSV file (quoted line breaks handled), header excluded."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            return max(sum(1 for _ in csv.reader(fh)) - 1, 0)
    except (OSError, UnicodeDecodeError, csv.Error):
        return None


def _count_dat_rows(path: Path) -> int | None:
    """Rows of a tab-separated ``.dat`` file; a first line that is not data is a header."""
    try:
        lines = [ln for ln in path.read_bytes().splitlines() if ln.strip()]
    except OSError:
        return None
    first = lines[0].split(b"\t")[0].strip() if lines else b""
    return len(lines) - (0 if first.isdigit() else 1) if lines else 0


def describe_data_files(data_dir: str | os.PathLike) -> list[DataFile]:
    """Name, size and rows of the course CSV files at the top of the data folder, and of the
    interaction tables (``interactions/*/*.dat``, named by their path in the folder)."""
    folder = Path(data_dir)
    if not folder.is_dir():
        return []
    files = [
        DataFile(p.name, p.stat().st_size, _count_rows(p)) for p in sorted(folder.glob("*.csv"))
    ]
    files += [
        DataFile(p.relative_to(folder).as_posix(), p.stat().st_size, _count_dat_rows(p))
        for p in sorted(folder.glob("interactions/*/*.dat"))
    ]
    return files


def _git_commit() -> str:
    root = Path(__file__).resolve().parents[3]
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=7"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def build_report(
    data_dir: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    registry: Sequence[tuple[str, str | Provider]] | None = None,
    strict: bool = False,
    formats: Sequence[str] = ("html", "pdf"),
    title: str = "aares: Part 1 report",
    on_section: Callable[[SectionOutcome], None] | None = None,
) -> ReportResult:
    """Build the report and write ``out_dir/report/report.html`` and ``report.pdf``.

    Returns the :class:`Report` and the paths written. See :func:`collect_sections`
    for ``registry``, ``strict`` and ``on_section``.
    """
    from aares.report.html import write_html
    from aares.report.pdf import write_pdf

    bad = set(formats) - {"html", "pdf"}
    if bad:
        raise ValueError(f"unknown report format(s) {sorted(bad)}; expected 'html' and/or 'pdf'")
    folder = resolve_data_dir(data_dir)
    if not folder.is_dir():
        raise ValueError(f"data folder {folder} not found (set --data or AARES_DATA)")
    out_dir = Path(out_dir)
    start = time.perf_counter()
    outcomes = collect_sections(folder, out_dir, registry, strict, on_section)
    report = Report(
        title=title,
        created=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        outcomes=outcomes,
        files=describe_data_files(folder),
        settings={
            "aares version": __version__,
            "git commit": _git_commit(),
            "python": platform.python_version(),
            "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU(s)",
            "data folder": str(folder.resolve()),
            "output folder": str(out_dir.resolve()),
        },
    )
    report.seconds = time.perf_counter() - start
    target = ensure_dir(out_dir / REPORT_DIR)
    paths: dict[str, Path] = {}
    if "html" in formats:
        paths["html"] = write_html(report, target / "report.html")
    if "pdf" in formats:
        paths["pdf"] = write_pdf(report, target / "report.pdf")
    return ReportResult(report, paths)
