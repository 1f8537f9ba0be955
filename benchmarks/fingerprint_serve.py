"""Serving a large catalog: query CPU and resident memory per matcher setting, in one run.

``python -m benchmarks fingerprint-serve`` opens the catalog that ``fingerprint-scale`` leaves
(``AARES_SERVE_DB``, default ``$AARES_SCALE_WORK/scale.db``; read-only, nothing is written
to it) and serves its queries (``queries.json`` beside it: issue 18's positives, the held-out
negatives) once per setting below, each in a new process so that its resident memory is its
own. Per setting: CPU p50/p95 per query (``time.process_time``: decoding, analysis, both
stages), accuracy and false positives, the postings the first stage reads from the catalog's
index (median; the candidates' pairs apart), and memory: peak resident set (``VmHWM``) and,
after the last query, the anonymous and file-backed parts (``RssAnon``: the process's own
arrays; ``RssFile``: mapped pages of the index segments and of libraries), with how many
times the index let its pages go (:meth:`aares.fingerprint.index.DiskIndex.release`).

The settings: main's stop list before this benchmark (a first-stage bucket cap of 8 times the
mean bucket, 617 postings at 1,000 h; no re-check of weak answers), the defaults (a cap of
``candidates_cap`` postings, weak answers checked again against ``recheck_candidates``
songs), and the defaults with the resident budget of the index (``AARES_INDEX_RESIDENT_MB``)
at a few values (0: no bound).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from aares.markdown import markdown_table

from ._common import stamp, write_section
from .fingerprint_search import _Counting

_SCALE_WORK = Path(os.environ.get("AARES_SCALE_WORK", "/tmp/aares-fingerprint-scale"))
DB = Path(os.environ.get("AARES_SERVE_DB", _SCALE_WORK / "scale.db"))
#: other resident budgets (MB) measured with the defaults
BUDGETS = [int(b) for b in os.environ.get("AARES_SERVE_BUDGETS", "1024").split(",") if b]

# (name, MatchSettings overrides, resident budget in MB or None for the default;
# "mean8" = main's cap before)
SETTINGS = [
    ("stop list at 8x the mean bucket, no re-check, no bound (before)", {"_cap": "mean8"}, 0),
    ("stop list at 64, no memory bound", {}, 0),
    ("defaults (stop list at 64, resident budget of the index's default)", {}, None),
    *[(f"defaults with a resident budget of {b} MB", {}, b) for b in BUDGETS],
]


def _status() -> dict:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key = line.split(":")[0]
        if key in ("VmHWM", "RssAnon", "RssFile"):
            out[key] = int(line.split()[1]) / 1024
    return out


def serve(db: str, qfile: str, overrides: dict, budget_mb: int) -> dict:
    """In the serving process: every query once (the first also as a warm-up)."""
    from aares.fingerprint.catalog import Catalog

    queries = json.loads(Path(qfile).read_text())
    cat = Catalog(db, readonly=True)
    index = cat.index
    if budget_mb >= 0:
        index.resident_budget = budget_mb << 20
    over = dict(overrides)
    if over.pop("_cap", None) == "mean8":
        over.update(candidates_cap=index.max_postings, recheck_candidates=0)
    cat.settings = replace(cat.settings, **over)
    cat.identify(queries[0]["path"])
    counted = _Counting(index)
    cat._index = counted  # (the catalog's own index, counted)
    rows = []
    for q in queries:
        counted.read = 0
        c0 = time.process_time()
        m = cat.identify(q["path"])
        cpu = (time.process_time() - c0) * 1e3
        if q["song"] is None:
            ok = not m
        else:
            ok = bool(m) and m[0].song_id == q["song"] and abs(m[0].offset - q["start"]) < 1.0
        rows.append({"kind": q["kind"], "cpu_ms": cpu, "ok": bool(ok), "read": counted.read})
    return {
        "rows": rows,
        "cap": cat.settings.candidates_cap,
        "budget": index.resident_budget >> 20,
        "releases": index.releases,
        **_status(),
    }


_CHILD = r"""
import json, sys
from benchmarks.fingerprint_serve import serve
print(json.dumps(serve(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4]))))
"""


def _child(db: Path, qfile: Path, overrides: dict, budget: int) -> dict:
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": f"{root / 'src'}:{root}"}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(db), str(qfile), json.dumps(overrides), str(budget)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"serving process failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


RESULTS = Path(tempfile.gettempdir()) / "aares-fingerprint-serve.json"


def run(db: Path = DB) -> dict:
    qfile = db.parent / "queries.json"
    if not db.exists() or not qfile.exists():
        raise SystemExit(
            f"{db}: no catalog with queries.json beside it (run fingerprint-scale first, or "
            "set AARES_SERVE_DB)"
        )
    out = []
    for name, overrides, budget in SETTINGS:
        res = _child(db, qfile, overrides, -1 if budget is None else budget)
        res.update(name=name, budget_mb=budget, load=os.getloadavg()[0])
        out.append(res)
        print(json.dumps({k: v for k, v in res.items() if k != "rows"}), flush=True)
        RESULTS.write_text(json.dumps({"db": str(db), "runs": out}))  # (kept as it goes)
    return {"db": str(db), "runs": out}


def _summary(res: dict) -> dict:
    rows = res["rows"]
    pos = [r["cpu_ms"] for r in rows if r["kind"] != "negative"]
    neg = [r["cpu_ms"] for r in rows if r["kind"] == "negative"]
    acc = {}
    for r in rows:
        if r["kind"] != "negative":
            hit, n = acc.get(r["kind"], (0, 0))
            acc[r["kind"]] = (hit + r["ok"], n + 1)
    fp = sum(not r["ok"] for r in rows if r["kind"] == "negative")
    return {
        "setting": res["name"],
        "first-stage cap": res["cap"],
        "resident budget (MB)": res["budget"] or "none",
        "positives CPU p50 / p95 (ms)": f"{np.median(pos):.0f} / {np.percentile(pos, 95):.0f}",
        "negatives CPU p50 / p95 (ms)": f"{np.median(neg):.0f} / {np.percentile(neg, 95):.0f}",
        "postings read p50": float(np.median([r["read"] for r in rows])),
        "top-1 " + " / ".join(acc): " / ".join(f"{h}/{n}" for h, n in acc.values()),
        "false positives": f"{fp} of {len(neg)}",
        "peak RSS (MB)": res["VmHWM"],
        "RSS anon / file at end (MB)": f"{res['RssAnon']:.0f} / {res['RssFile']:.0f}",
        "releases": res["releases"],
        "load": res["load"],
    }


def _by_kind(res: dict) -> dict:
    # CPU p50 and first-stage postings read p50 per kind of query
    out = {"setting": res["name"]}
    kinds = dict.fromkeys(r["kind"] for r in res["rows"])
    for kind in kinds:
        rows = [r for r in res["rows"] if r["kind"] == kind]
        cpu = np.median([r["cpu_ms"] for r in rows])
        read = np.median([r["read"] for r in rows])
        out[f"{kind} ({len(rows)})"] = f"{cpu:.0f} ms, {read:,.0f}"
    return out


def markdown(res: dict) -> str:
    table = pd.DataFrame([_summary(r) for r in res["runs"]])
    fmt = {"postings read p50": "{:,.0f}", "peak RSS (MB)": "{:,.0f}", "load": "{:.1f}"}
    return "\n".join(
        [
            "### Serving a 1,000 h catalog: the first stage's stop list and the resident"
            " budget (`python -m benchmarks fingerprint-serve`)",
            "",
            stamp(),
            f"Catalog `{res['db']}` (read-only); its queries.json served once per setting, each"
            " in a new process, one after the other (load average beside each). CPU per query"
            " with decoding; postings read by the first stage from the catalog's index.",
            "",
            markdown_table(table, floatfmt=fmt),
            "",
            "Per kind of query: CPU p50, and the postings the first stage read (p50):",
            "",
            markdown_table(pd.DataFrame([_by_kind(r) for r in res["runs"]])),
        ]
    )


def main(data_dir: Path) -> None:
    write_section("fingerprint-serve", markdown(run()))
