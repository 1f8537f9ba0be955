"""Benchmark: building the Part 1 report on the course data (`python -m benchmarks report`).

Measures, on the course files:

- the whole report from an empty output folder: every section computes its own outputs
  (the tour of the data with its t-SNE map, the popularity cross-validation, the conformal
  analysis, ...), the worst case of `aares report`;
- the rebuild that reuses those outputs, which is what `aares report` does after
  `aares run-all` (the last step of `make run`);
- the tour of the data with the PCA map only, against the t-SNE map of the first build.

Wall time depends on how busy the machine is; CPU time counts every thread of this process.
The issue's target: rebuilding the whole report takes under 5 minutes on 2 cores.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pandas as pd

from aares.explore.analysis import TourSettings, run_tour
from aares.markdown import markdown_table
from aares.report.build import build_report
from benchmarks._common import stamp, write_section

TARGET_SECONDS = 300


def _timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def _pdf_facts(path: Path) -> tuple[int, int] | None:
    """Pages and embedded images of the PDF (None without pypdf, a test extra)."""
    try:
        from pypdf import PdfReader
    except ImportError:
        return None
    reader = PdfReader(path)
    return len(reader.pages), sum(len(page.images) for page in reader.pages)


def _per_section(first, again) -> pd.DataFrame:
    """Seconds of each section in the first build and in the rebuild (sections of both)."""
    again = {o.section.title: o for o in again}
    rows = [
        (o.section.title, o.status, o.seconds, o.cpu_seconds, again[o.section.title].seconds,
         again[o.section.title].cpu_seconds, len(o.section.figures()))
        for o in first
        if o.section.title in again
    ]  # fmt: skip
    columns = ["section", "status", "first build wall", "first build CPU", "rebuild wall",
               "rebuild CPU", "figures"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def main(data_dir: Path) -> None:
    data_dir = Path(data_dir)
    rows = []
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="aares-bench-report-") as tmp:
        tmp = Path(tmp)
        out = tmp / "out"
        first, wall, cpu = _timed(lambda: build_report(data_dir, out))
        rows.append(("whole report, empty output folder", wall, cpu))
        print(rows[-1], flush=True)
        second, wall2, cpu2 = _timed(lambda: build_report(data_dir, out))
        rows.append(
            ("whole report again, reusing the outputs (`aares report` after run-all)", wall2, cpu2)
        )
        print(rows[-1], flush=True)
        _, wall3, cpu3 = _timed(
            lambda: run_tour(
                data_dir, tmp / "tour-pca", TourSettings(map_method="pca"), show_progress=False
            )
        )
        rows.append(
            ("tour of the data alone, PCA map only (`aares explore --map pca`)", wall3, cpu3)
        )
        print(rows[-1], flush=True)
        load.append(os.getloadavg()[0])
        html_bytes = second.paths["html"].stat().st_size
        pdf_bytes = second.paths["pdf"].stat().st_size
        facts = _pdf_facts(second.paths["pdf"])
    figures = sum(len(s.figures()) for s in second.report.sections)
    table = markdown_table(pd.DataFrame(rows, columns=["run", "wall s", "CPU s"]), "{:.1f}")
    sections = markdown_table(_per_section(first.report.outcomes, second.report.outcomes), "{:.1f}")

    def verdict(seconds: float) -> str:
        return "under" if seconds < TARGET_SECONDS else "over"

    md = f"""## Report (`aares report`) and tour of the data (`aares explore`)

{stamp()}

{table}

Per section (seconds; the first build computes every output, the rebuild reuses them):

{sections}

The issue's target: rebuilding the whole report on the course data in under {TARGET_SECONDS} s
on 2 cores. The rebuild that `make run` does took {wall2:.1f} s wall ({verdict(wall2)}); from an
empty output folder the report took {wall:.1f} s wall ({verdict(wall)}) and {cpu:.1f} s of CPU
time ({verdict(cpu)}). The machine was shared: its load average (1 min) was {load[0]:.1f} at
the start and {load[1]:.1f} at the end, on 2 cores. The report has {figures} figures;
HTML {html_bytes / 1e6:.1f} MB (figures embedded), PDF {pdf_bytes / 1e6:.1f} MB"""
    if facts:
        md += f" with {facts[0]} pages and {facts[1]} embedded images"
    failed = [o.section.title for o in second.report.failed]
    md += ".\n"
    if failed:
        md += f"\nSections that failed (an error box in the report): {', '.join(failed)}.\n"
    md += "\nReproduce: `python -m benchmarks report --data DIR`.\n"
    write_section("report", md)
