"""Shared by every benchmark: machine facts, writing one section of BENCHMARKS.md, and
measuring catalogs in processes of their own."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
from collections.abc import Iterator
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


def require_catalogs(dbs: list[Path], setting: str) -> None:
    """End the run when a catalog file the benchmark reads is missing, naming them and the
    environment variable ``setting`` that lists them."""
    missing = [str(db) for db in dbs if not db.exists()]
    if missing:
        raise SystemExit(
            f"no catalog at {', '.join(missing)}: build one with `python -m benchmarks "
            f"fingerprint-scale` or name them in {setting}"
        )


def measured_in_children(dbs: list[Path], module: str, setting: str) -> Iterator[dict]:
    """``module.measure(db)`` (a JSON-able dict) for each catalog file, each in a process of
    its own (so that its peak resident set is that catalog's); a missing catalog ends the
    run first (:func:`require_catalogs`)."""
    require_catalogs(dbs, setting)
    for db in dbs:
        yield measured_child(module, str(db))


def peak_rss_mb() -> float:
    """This process's peak resident set, MB (``VmHWM``: reset by exec, unlike
    ``ru_maxrss``, which is the fallback where there is no ``/proc``)."""
    import resource

    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def with_rusage(fn, *args):
    """``(fn(*args), usage)``: the call's user and system CPU and wall time (ms) and minor
    page faults (this process's ``getrusage`` before and after), as :func:`cpu_summary`
    takes them."""
    import resource
    import time

    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    out = fn(*args)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return out, {
        "user_ms": (r1.ru_utime - r0.ru_utime) * 1e3,
        "sys_ms": (r1.ru_stime - r0.ru_stime) * 1e3,
        "wall_ms": wall * 1e3,
        "faults": r1.ru_minflt - r0.ru_minflt,
    }


def measured_child(module: str, *args: str) -> dict:
    """``module.measure(*args)`` (a JSON-able dict) in a process of its own."""
    from aares.fingerprint.parallel import sigterm_as_interrupt

    code = (
        f"import json, sys; from {module} import measure; print(json.dumps(measure(*sys.argv[1:])))"
    )
    # (killed, this run ends its child too: subprocess.run kills it on the interrupt)
    with sigterm_as_interrupt():
        proc = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT,
            check=False,
        )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: measuring process failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cpu_summary(runs: list[dict]) -> dict:
    """Medians of per-query measurements (``user_ms``, ``sys_ms``, ``faults``, ``kind``):
    CPU p50 and p95, user and system p50, page faults p50, CPU p50 per kind of query."""
    import numpy as np
    import pandas as pd

    t = pd.DataFrame(runs)
    cpu = t.user_ms + t.sys_ms
    return {
        "p50_ms": float(cpu.median()),
        "p95_ms": float(np.percentile(cpu, 95)),
        "user_ms": float(t.user_ms.median()),
        "sys_ms": float(t.sys_ms.median()),
        "faults": float(t.faults.median()),
        "by_kind": {k: float(cpu[t.kind == k].median()) for k in sorted(set(t.kind))},
    }


def catalog_section(title: str, command: str, text: str, table: list[dict]) -> str:
    """A benchmark's section of BENCHMARKS.md: its title, the machine and date, the command
    that reproduces it and what it measures, then its table."""
    import pandas as pd

    from aares.markdown import markdown_table

    return "\n\n".join(
        [
            f"### {title}",
            stamp(),
            f"Command: `{command}`. {text}",
            markdown_table(pd.DataFrame(table)),
        ]
    )
