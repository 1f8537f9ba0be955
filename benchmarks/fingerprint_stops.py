"""Stop postings, with and without, in one process: what they save the index and a query.

``python -m benchmarks fingerprint-stops`` builds, for each catalog that ``fingerprint-scale``
left (``AARES_STOPS_DBS``: comma-separated catalog files, default ``$AARES_SCALE_WORK/scale.db``;
the catalog itself is only read), two indexes of its three-point keys from its store, each
in one segment, in folders beside it (``<catalog>.stops-ab/``, removed afterwards): one that
stores every posting (``stored_max=0``, the index before 2026-12-04) and one that stores a key
held more than the first stage's stop list (64) as one stop posting, as the catalog's own
index does now. Then it asks both the scale table's positive queries
``AARES_STOPS_ROUNDS`` times (default 2), each query once on each index, the order
alternating. Per catalog: index bytes, build time, CPU per query (decoding included; user and
system apart, page faults) and the answers of the two sides (they must be the same).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from aares.fingerprint.audio import load_audio
from aares.fingerprint.catalog import QUERY_MAX_SECONDS, Catalog, IndexedStore
from aares.fingerprint.index import compact
from aares.fingerprint.match import match_signal
from aares.fingerprint.segment import SELECTIVE_MAX

from ._common import (
    catalog_section,
    cpu_summary,
    measured_in_children,
    with_rusage,
    write_section,
)
from .fingerprint_scale import WORK

DBS = [Path(p) for p in os.environ.get("AARES_STOPS_DBS", str(WORK / "scale.db")).split(",")]
ROUNDS = int(os.environ.get("AARES_STOPS_ROUNDS", "2"))
SIDES = {"every posting": 0, "stop postings": SELECTIVE_MAX}


def _work(db: Path) -> Path:
    # the two indexes' folders of one catalog, removed after its measurement
    return Path(f"{db}.stops-ab")


def _build(keyed: IndexedStore, folder: Path, key_bits: int, stored_max: int):
    shutil.rmtree(folder, ignore_errors=True)
    t0, c0 = time.perf_counter(), time.process_time()
    index = compact(keyed, folder, key_bits=key_bits, stored_max=stored_max)
    return index, {
        "build_wall_s": time.perf_counter() - t0,
        "build_cpu_s": time.process_time() - c0,
        "bytes": index.nbytes,
        "stored": int(sum(s.n_postings for s in index.segments)),
        "postings": len(index),
    }


def measure(db: str | Path) -> dict:
    """Both sides of the A/B on one catalog (see the module docstring)."""
    db = Path(db)
    queries = json.loads((db.parent / "queries.json").read_text())
    positives = [q for q in queries if q["song"] is not None]
    work = _work(db)
    runs = {side: [] for side in SIDES}
    answers = {side: {} for side in SIDES}
    with Catalog(db, index="disk", readonly=True) as cat:
        _ = cat.index  # (the catalog's own index in step: its profile and generation)
        keyed = IndexedStore(cat.store, cat._keyed)
        if not cat._keyed.triplets:
            raise SystemExit(f"{db}: its index holds pairs (under 50 h): no stop postings")
        hours = cat.store.audio_seconds() / 3600
        indexes, built = {}, {}
        try:
            for side, stored_max in SIDES.items():
                folder = work / side.replace(" ", "-")
                indexes[side], built[side] = _build(
                    keyed, folder, cat._keyed.index_bits, stored_max
                )
            postings, prof = cat._postings(), cat.profile

            def identify(side: str, path: str) -> list:
                x, _ = load_audio(
                    path, sr=prof.sr, quality=prof.resample_quality, max_seconds=QUERY_MAX_SECONDS
                )
                return match_signal(x, indexes[side], prof, cat.settings, postings)

            def timed(side: str, path: str) -> None:
                found, usage = with_rusage(identify, side, path)
                answers[side][path] = [(m.song_id, round(m.offset, 3), m.score) for m in found[:3]]
                runs[side].append(usage)

            for side in SIDES:  # (the first answer of each: not timed)
                timed(side, positives[0]["path"])
                runs[side].clear()
            names = list(SIDES)
            for r in range(ROUNDS):
                for i, q in enumerate(positives):
                    for side in names if (i + r) % 2 == 0 else names[::-1]:
                        timed(side, q["path"])
                        runs[side][-1]["kind"] = q["kind"]
        finally:
            indexes.clear()
            shutil.rmtree(work, ignore_errors=True)
    a, b = names
    same = sum(answers[a][p] == answers[b][p] for p in answers[a])
    out = {"db": str(db), "hours": hours, "queries": len(positives), "same_answers": same}
    for side in SIDES:
        out[side] = {**built[side], **cpu_summary(runs[side])}
    return out


def _markdown(rows: list[dict]) -> str:
    table = []
    a, b = SIDES
    for r in sorted(rows, key=lambda r: r["hours"]):
        full, stop = r[a], r[b]
        h = r["hours"]
        kinds = sorted(full["by_kind"])
        table.append(
            {
                "catalog": f"{h:,.0f} h",
                "index, every posting / stop postings": f"{full['bytes'] / 1e6:,.0f} /"
                f" {stop['bytes'] / 1e6:,.0f} MB ({full['bytes'] / 1e6 / h:.2f} /"
                f" {stop['bytes'] / 1e6 / h:.2f} MB/h)",
                "postings stored": f"{full['stored']:,} / {stop['stored']:,}"
                f" ({stop['stored'] / full['stored']:.0%})",
                "build CPU": f"{full['build_cpu_s']:.0f} / {stop['build_cpu_s']:.0f} s",
                "positives CPU p50 / p95": f"{full['p50_ms']:.1f} / {full['p95_ms']:.0f} vs"
                f" {stop['p50_ms']:.1f} / {stop['p95_ms']:.0f} ms",
                "p50 ratio": f"{full['p50_ms'] / stop['p50_ms']:.2f}x",
                "user / sys p50": f"{full['user_ms']:.1f} / {full['sys_ms']:.1f} vs"
                f" {stop['user_ms']:.1f} / {stop['sys_ms']:.1f} ms",
                "page faults p50": f"{full['faults']:.0f} vs {stop['faults']:.0f}",
                "p50 by kind": "; ".join(
                    f"{k} {full['by_kind'][k]:.0f} vs {stop['by_kind'][k]:.0f}" for k in kinds
                ),
                "same answers": f"{r['same_answers']} of {r['queries']}",
            }
        )
    dbs = ",".join(r["db"] for r in rows)
    return catalog_section(
        "Stop postings, with and without (`python -m benchmarks fingerprint-stops`)",
        f"AARES_STOPS_DBS={dbs} AARES_STOPS_ROUNDS={ROUNDS} python -m benchmarks"
        " fingerprint-stops --data ../shared/data",
        "Each catalog's three-point keys indexed twice from its"
        " store, in one segment each: every posting stored, and a key of over"
        f" {SELECTIVE_MAX} postings stored as one stop posting. The scale table's positive"
        f" queries, {ROUNDS} rounds, each query on both indexes in one process (the order"
        " alternating); CPU includes decoding; the resident budget is the default, each"
        " index its own. Figures: every posting vs stop postings.",
        table,
    )


def main(data_dir: Path) -> None:  # noqa: ARG001 (the queries are the scale benchmark's)
    rows = []
    try:
        for r in measured_in_children(DBS, "benchmarks.fingerprint_stops", "AARES_STOPS_DBS"):
            rows.append(r)
            a, b = SIDES
            print(
                f"{r['db']}: {r[a]['bytes'] / 1e6:,.0f} MB -> {r[b]['bytes'] / 1e6:,.0f} MB; p50"
                f" {r[a]['p50_ms']:.1f} -> {r[b]['p50_ms']:.1f} ms; same answers"
                f" {r['same_answers']} of {r['queries']}",
                flush=True,
            )
    finally:
        # (a run killed mid-way kills its child, which cannot remove its folders then)
        for db in DBS:
            shutil.rmtree(_work(db), ignore_errors=True)
    write_section("fingerprint-stops", _markdown(rows))
