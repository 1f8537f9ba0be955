"""A serving process with glibc's heap as it starts, or keeping freed arrays (heap.py).

``python -m benchmarks fingerprint-heap`` asks each catalog that ``fingerprint-scale`` left
(``AARES_HEAP_DBS``: comma-separated catalog files, default ``$AARES_SCALE_WORK/scale.db``;
read only) the scale table's positive queries from pairs of new processes, one with glibc's
defaults and one that calls :func:`aares.fingerprint.heap.keep_freed_memory` first, as the
service's identify workers and ``aares fp identify`` do; ``AARES_HEAP_PAIRS`` pairs (default
3), the order alternating, each process answering every query ``AARES_HEAP_ROUNDS`` times
(default 3) after one untimed pass. The setting cannot be undone inside a process (glibc's
moving threshold stops moving once set), hence a process a side. Per catalog and side: CPU
per query (median over the rounds, then p50 and p95 over the queries; decoding included),
user and system time, page faults, peak resident set, and whether the answers are the same.
"""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

from ._common import (
    catalog_section,
    cpu_summary,
    measured_child,
    peak_rss_mb,
    require_catalogs,
    with_rusage,
    write_section,
)
from .fingerprint_scale import WORK

DBS = [Path(p) for p in os.environ.get("AARES_HEAP_DBS", str(WORK / "scale.db")).split(",")]
PAIRS = int(os.environ.get("AARES_HEAP_PAIRS", "3"))
ROUNDS = int(os.environ.get("AARES_HEAP_ROUNDS", "3"))
SIDES = ("glibc's defaults", "freed arrays kept")


def measure(db: str, side: str) -> dict:
    """One process's measurement of one side (in a process of its own)."""
    from aares.fingerprint.catalog import Catalog
    from aares.fingerprint.heap import keep_freed_memory

    if side == SIDES[1]:
        keep_freed_memory()
    queries = json.loads((Path(db).parent / "queries.json").read_text())
    positives = [q for q in queries if q["song"] is not None]
    per_query: dict[str, list[dict]] = {q["path"]: [] for q in positives}
    answers = {}
    with Catalog(db, index="disk", readonly=True) as cat:
        for q in positives:  # (the first pass: not timed)
            found = cat.identify(q["path"])
            answers[q["path"]] = [(m.song_id, round(m.offset, 3), m.score) for m in found[:3]]
        for _ in range(ROUNDS):
            for q in positives:
                per_query[q["path"]].append(with_rusage(cat.identify, q["path"])[1])
        hours = cat.store.audio_seconds() / 3600
    kind = {q["path"]: q["kind"] for q in positives}
    # per query: the median of its rounds
    medians = [
        {"kind": kind[path], **{k: statistics.median(r[k] for r in runs) for k in _USAGE}}
        for path, runs in per_query.items()
    ]
    return {"hours": hours, "answers": answers, "peak_rss_mb": peak_rss_mb(), "queries": medians}


_USAGE = ("user_ms", "sys_ms", "faults")


def _summary(runs: list[dict]) -> dict:
    # per query: the median over the processes of a side; then cpu_summary over the queries
    per_query = [
        {
            "kind": q["kind"],
            **{k: statistics.median(r["queries"][i][k] for r in runs) for k in _USAGE},
        }
        for i, q in enumerate(runs[0]["queries"])
    ]
    return {
        **cpu_summary(per_query),
        "per_process_p50_ms": [cpu_summary(r["queries"])["p50_ms"] for r in runs],
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
    }


def main(data_dir: Path) -> None:
    require_catalogs(DBS, "AARES_HEAP_DBS")
    table = []
    for db in DBS:
        runs: dict[str, list[dict]] = {side: [] for side in SIDES}
        for k in range(PAIRS):
            for side in SIDES if k % 2 == 0 else SIDES[::-1]:
                runs[side].append(measured_child("benchmarks.fingerprint_heap", str(db), side))
        before, after = (_summary(runs[side]) for side in SIDES)
        answers = [r["answers"] for side in SIDES for r in runs[side]]
        same = sum(all(a[p] == answers[0][p] for a in answers) for p in answers[0])
        print(db, json.dumps({"before": before, "after": after}), flush=True)
        table.append(
            {
                "catalog": f"{runs[SIDES[0]][0]['hours']:,.0f} h",
                "positives CPU p50 / p95, defaults vs kept": f"{before['p50_ms']:.1f} /"
                f" {before['p95_ms']:.0f} vs {after['p50_ms']:.1f} / {after['p95_ms']:.0f} ms",
                "p50 ratio": f"{before['p50_ms'] / after['p50_ms']:.2f}x",
                "p50 of each process": " / ".join(
                    f"{a:.1f} vs {b:.1f}"
                    for a, b in zip(
                        before["per_process_p50_ms"], after["per_process_p50_ms"], strict=True
                    )
                ),
                "user / sys p50": f"{before['user_ms']:.1f} / {before['sys_ms']:.1f} vs"
                f" {after['user_ms']:.1f} / {after['sys_ms']:.1f} ms",
                "page faults p50": f"{before['faults']:.0f} vs {after['faults']:.0f}",
                "peak RSS": f"{before['peak_rss_mb']:,.0f} vs {after['peak_rss_mb']:,.0f} MB",
                "same answers": f"{same} of {len(answers[0])}",
            }
        )
    command = (
        f"AARES_HEAP_DBS={','.join(map(str, DBS))} AARES_HEAP_PAIRS={PAIRS} "
        f"AARES_HEAP_ROUNDS={ROUNDS} python -m benchmarks fingerprint-heap"
    )
    text = (
        f"{PAIRS} pairs of serving processes a catalog, alternated, each answering the scale"
        f" table's positives {ROUNDS} times after an untimed pass; CPU per query the median"
        " over rounds and processes (decoding included)."
    )
    title = (
        "A serving process's heap: glibc's defaults or freed arrays kept "
        "(`python -m benchmarks fingerprint-heap`)"
    )
    write_section("fingerprint-heap", catalog_section(title, command, text, table))
