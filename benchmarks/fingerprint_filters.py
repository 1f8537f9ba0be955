"""The index's key filters, on and off, in one process: what they save a query.

``python -m benchmarks fingerprint-filters`` asks the catalogs that ``fingerprint-scale``
left (``AARES_FILTERS_DBS``: comma-separated catalog files, default
``$AARES_SCALE_WORK/scale.db``; read-only) the scale table's positive queries (the
``queries.json`` beside each catalog) ``AARES_FILTERS_ROUNDS`` times (default 2), each query
once with the segments' key filters and once without (:attr:`Segment.use_filters`), the
order alternating so that neither side always runs on the caches the other left. Per
catalog: CPU per query (user and system apart, page faults), the answers of the two sides
(they must be the same), the filters' bytes, the peak resident set, and the mix of keys the
first stage looks up (in no song, over its stop list, kept).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from aares.fingerprint import index as index_mod
from aares.fingerprint.catalog import Catalog
from aares.fingerprint.segment import SELECTIVE_MAX

from ._common import (
    catalog_section,
    cpu_summary,
    measured_in_children,
    peak_rss_mb,
    with_rusage,
    write_section,
)
from .fingerprint_scale import WORK

DBS = [Path(p) for p in os.environ.get("AARES_FILTERS_DBS", str(WORK / "scale.db")).split(",")]
ROUNDS = int(os.environ.get("AARES_FILTERS_ROUNDS", "2"))


def _timed(cat: Catalog, path: str) -> tuple[list, dict]:
    found, usage = with_rusage(cat.identify, path)
    return [(m.song_id, round(m.offset, 3), m.score) for m in found[:3]], usage


def key_mix(cat: Catalog, paths: list[str]) -> dict:
    """Of the distinct keys the first stage looks up for ``paths`` (its stop list's cap at
    :data:`SELECTIVE_MAX`): the share in no song, over the cap, kept."""
    seen = []
    lookup = index_mod.DiskIndex.lookup

    def spy(self, qh, stop_list=False, with_postings=False, cap=None):
        if stop_list and cap is not None and cap <= SELECTIVE_MAX:
            seen.append(np.asarray(qh, dtype=np.uint32))
        return lookup(self, qh, stop_list=stop_list, with_postings=with_postings, cap=cap)

    index_mod.DiskIndex.lookup = spy
    try:
        for p in paths:
            cat.identify(p)
    finally:
        index_mod.DiskIndex.lookup = lookup
    if not seen:
        return {}
    counts = cat.index.counts(np.unique(np.concatenate(seen)))
    return {
        "absent": float((counts == 0).mean()),
        "over": float((counts > SELECTIVE_MAX).mean()),
        "kept": float(((counts > 0) & (counts <= SELECTIVE_MAX)).mean()),
    }


def measure(db: str | Path) -> dict:
    """Both sides of the A/B on one catalog (see the module docstring)."""
    db = Path(db)
    queries = json.loads((db.parent / "queries.json").read_text())
    positives = [q for q in queries if q["song"] is not None]
    runs = {True: [], False: []}
    answers = {True: {}, False: {}}
    with Catalog(db, index="disk", readonly=True) as cat:
        segments = cat.index.segments
        cat.identify(positives[0]["path"])  # (opening and the first answer: not timed)
        for r in range(ROUNDS):
            for i, q in enumerate(positives):
                for on in (True, False) if (i + r) % 2 == 0 else (False, True):
                    for s in segments:
                        s.use_filters = on
                    answers[on][q["path"]], t = _timed(cat, q["path"])
                    runs[on].append({**t, "kind": q["kind"]})
        for s in segments:
            s.use_filters = True
        mix = key_mix(cat, [q["path"] for q in positives if q["kind"].startswith("noise")])
        hours = cat.store.audio_seconds() / 3600
        filter_bytes = sum(s.present.nbytes + s.selective.nbytes for s in segments)
        index_bytes = cat.index.nbytes
    same = sum(answers[True][p] == answers[False][p] for p in answers[True])
    out = {"db": str(db), "hours": hours, "queries": len(positives), "same_answers": same}
    for on in (True, False):
        out["on" if on else "off"] = cpu_summary(runs[on])
    return {
        **out,
        "filter_mb": filter_bytes / 1e6,
        "index_mb_per_h": index_bytes / 1e6 / hours,
        "key_mix": mix,
        "peak_rss_mb": peak_rss_mb(),
    }


def _markdown(rows: list[dict]) -> str:
    table = []
    for r in sorted(rows, key=lambda r: r["hours"]):
        on, off = r["on"], r["off"]
        kinds = sorted(on["by_kind"])
        mix = r["key_mix"]
        table.append(
            {
                "catalog": f"{r['hours']:,.0f} h",
                "key filters": f"{r['filter_mb']:.1f} MB (index {r['index_mb_per_h']:.2f} MB/h)",
                "positives CPU p50 / p95: filters on": f"{on['p50_ms']:.1f} /"
                f" {on['p95_ms']:.0f} ms",
                "off": f"{off['p50_ms']:.1f} / {off['p95_ms']:.0f} ms",
                "off / on (p50)": f"{off['p50_ms'] / on['p50_ms']:.2f}x",
                "user / sys p50, on vs off": f"{on['user_ms']:.1f} / {on['sys_ms']:.1f} vs"
                f" {off['user_ms']:.1f} / {off['sys_ms']:.1f} ms",
                "page faults p50, on vs off": f"{on['faults']:.0f} vs {off['faults']:.0f}",
                "p50 by kind, on vs off": "; ".join(
                    f"{k} {on['by_kind'][k]:.0f} vs {off['by_kind'][k]:.0f}" for k in kinds
                ),
                "same answers": f"{r['same_answers']} of {r['queries']}",
                "first-stage keys: absent / over the cap / kept": f"{mix.get('absent', 0):.0%}"
                f" / {mix.get('over', 0):.0%} / {mix.get('kept', 0):.0%}"
                if mix
                else "-",
                "peak RSS": f"{r.get('peak_rss_mb', 0):,.0f} MB",
            }
        )
    dbs = ",".join(r["db"] for r in rows)
    return catalog_section(
        "The index's key filters, on and off (`python -m benchmarks fingerprint-filters`)",
        f"AARES_FILTERS_DBS={dbs} AARES_FILTERS_ROUNDS={ROUNDS} python -m benchmarks"
        " fingerprint-filters --data ../shared/data",
        "Each catalog's index in the page cache. The scale table's"
        f" positive queries, {ROUNDS} rounds, each query with and without the filters in"
        " one process (the order alternating); CPU includes decoding; the resident budget"
        " is the default. Keys: the distinct three-point keys the first stage looks up for"
        " the noisy excerpts, by their postings in the index.",
        table,
    )


def main(data_dir: Path) -> None:  # noqa: ARG001 (the queries are the scale benchmark's)
    rows = []
    for r in measured_in_children(DBS, "benchmarks.fingerprint_filters", "AARES_FILTERS_DBS"):
        rows.append(r)
        print(
            f"{r['db']}: p50 {r['on']['p50_ms']:.1f} ms with the filters, {r['off']['p50_ms']:.1f}"
            f" without; same answers {r['same_answers']} of {r['queries']}",
            flush=True,
        )
    write_section("fingerprint-filters", _markdown(rows))
