"""Shared by every benchmark: machine facts and writing one section of BENCHMARKS.md."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
from pathlib import Path

from aares.io import write_text

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"

HEADER = """# Benchmarks

Every section below is written by `make bench` (or `python -m benchmarks NAME --data DIR`)
and says the machine and date of its run. Timings on this shared machine are noisy: compare
the ratios to baselines measured in the same run.
"""


def machine() -> str:
    """One line describing this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}, Python {platform.python_version()}"


def stamp() -> str:
    """'Machine: ...; date: ...' line for a section."""
    return f"Machine: {machine()}. Date: {dt.date.today().isoformat()}."


def write_section(name: str, markdown: str) -> Path:
    """Replace (or append) the section ``name`` of BENCHMARKS.md, atomically.

    A section lies between ``<!-- BEGIN name -->`` and ``<!-- END name -->`` so that
    each benchmark rewrites only its own part.
    """
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else HEADER
    block = f"<!-- BEGIN {name} -->\n{markdown.strip()}\n<!-- END {name} -->"
    pattern = re.compile(
        rf"<!-- BEGIN {re.escape(name)} -->.*?<!-- END {re.escape(name)} -->", re.S
    )
    text = (
        pattern.sub(lambda _: block, text)
        if pattern.search(text)
        else f"{text.rstrip()}\n\n{block}\n"
    )
    return write_text(BENCHMARKS_MD, text)
