"""Fingerprint engine benchmark: `python -m benchmarks fingerprint --data DIR` (``--quick``).

Runs ``aares fp bench`` on the course songs and the Singularity soundtrack of the data folder
(default and course profiles side by side), plus the figures of :mod:`benchmarks.fp_harness`
(decoding and analysis speed, catalog growth, the course's plain pipeline), and writes the
"fingerprint" section of BENCHMARKS.md. Set ``AARES_FP_QUICK=1`` for a quick run (1 excerpt
per song and length, no slow variant, growth 10x only) while iterating.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from aares.fingerprint.catalog import audio_files
from aares.fingerprint.evaluate import BenchConfig
from benchmarks._common import stamp, write_section
from benchmarks.fp_harness import run


def main(data_dir: Path) -> None:
    data_dir = Path(data_dir)
    folders = [data_dir / "songs", data_dir / "music" / "singularity"]
    files = audio_files([f for f in folders if f.is_dir()])
    if len(files) < 3:
        print(f"fingerprint: skipped (no songs under {data_dir})")
        return
    quick = os.environ.get("AARES_FP_QUICK") == "1"
    out = Path(os.environ.get("AARES_FP_BENCH_DIR", "/tmp/aares-fp-bench"))
    t0 = time.perf_counter()
    result = run(files, out, profiles=("default", "course"), config=BenchConfig(quick=quick))
    minutes = (time.perf_counter() - t0) / 60
    cmd = "aares fp bench DATA/songs DATA/music/singularity --out /tmp/aares-fp-bench"
    if quick:
        cmd += " --quick"
    text = (
        "## Audio fingerprints (`aares fp bench`)\n\n"
        f"{stamp()} Reproduce: `{cmd}` (or `python -m benchmarks fingerprint --data DATA`); "
        f"this run took {minutes:.1f} min (excerpts and noisy copies are reused from an "
        "earlier run in the same folder). The machine is shared with other jobs: the table "
        "gives the load average, and under load the wall speeds are lower bounds.\n\n"
        + result.markdown
    )
    write_section("fingerprint", text)
