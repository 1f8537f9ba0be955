"""Shared-catalog benchmark: `python -m benchmarks fingerprint-cluster --data DIR`.

Indexes the data folder's music (the course MP3s and the Singularity soundtrack's Ogg files)
into SQLite and into PostgreSQL (a throwaway server on 127.0.0.1, as in the tests), inline,
with a local process pool and with Dask LocalClusters of 1 and 2 workers, and measures the
throughput in audio hours per hour (wall and CPU). Then a reader identifies excerpts while
a writer process adds songs to the same catalog: the reader's query latency, with the index
rebuilds that the writer's changes cause. Writes the "fingerprint-cluster" section of
BENCHMARKS.md.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from aares.fingerprint.audio import load_audio
from aares.fingerprint.catalog import Catalog, audio_files
from aares.fingerprint.landmarks import get_profile
from aares.fingerprint.parallel import local_cluster, sigterm_as_interrupt
from aares.fingerprint.store import copy_store, open_store
from aares.markdown import markdown_table
from benchmarks._common import ROOT, stamp, write_section

sys.path.insert(0, str(ROOT / "tests"))
from pgserver import PostgresServer, postgres_bin  # noqa: E402 (the tests' throwaway server)


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _cluster(n: int):
    from distributed import Client

    cluster = local_cluster(n)
    return cluster, Client(cluster)


def _worker_cpu(client) -> float:
    return sum(client.run(_self_cpu).values())


def _index_run(db: str, files: list[Path], jobs: int = 1, client=None) -> dict:
    with Catalog(db, profile="default") as cat:
        before = (_self_cpu(), _children_cpu(), _worker_cpu(client) if client else 0.0)
        t0 = time.perf_counter()
        report = cat.add(files, jobs=jobs, cluster=client)
        wall = time.perf_counter() - t0
        after = (_self_cpu(), _children_cpu(), _worker_cpu(client) if client else 0.0)
        assert not report.failed, report.failed
        assert len(report.added) == len(files), (len(report.added), len(files))
    cpu = sum(a - b for a, b in zip(after, before, strict=True))
    hours = report.audio_seconds / 3600
    return {"wall": wall, "cpu": cpu, "hours": hours, "rate": hours / (wall / 3600)}


def _writer(db: str, files: list[str], started) -> None:
    # a second process adding songs while the benchmark's process reads
    with Catalog(db) as cat:
        started.set()
        cat.add(files)


def _reader_latency(db: str, excerpts: list[np.ndarray], writer_files: list[Path]) -> dict:
    """Query latency (ms) alone, then while a writer process adds ``writer_files``."""
    out: dict = {}
    with Catalog(db) as cat:
        cat.identify_signal(excerpts[0])  # build the index, warm the compiled code
        alone = []
        for x in excerpts * 3:
            t = time.perf_counter()
            assert cat.identify_signal(x), "an excerpt of a catalog song was not found"
            alone.append((time.perf_counter() - t) * 1e3)
        ctx = mp.get_context("spawn")
        started = ctx.Event()
        proc = ctx.Process(target=_writer, args=(db, [str(f) for f in writer_files], started))
        proc.start()
        started.wait(120)
        busy, rebuilds, gen = [], 0, cat.store.generation()
        i = 0
        while proc.is_alive() or i < len(excerpts):
            x = excerpts[i % len(excerpts)]
            now = cat.store.generation()  # changed: this query rebuilds the index first
            rebuilds, gen = rebuilds + (now != gen), now
            t = time.perf_counter()
            assert cat.identify_signal(x), "an excerpt of a catalog song was not found"
            busy.append((time.perf_counter() - t) * 1e3)
            i += 1
        proc.join()
        assert proc.exitcode == 0
        n_songs = len(cat.songs())
    for name, vals in (("alone", alone), ("busy", busy)):
        out[name] = {
            "n": len(vals),
            "p50": float(np.percentile(vals, 50)),
            "p95": float(np.percentile(vals, 95)),
            "max": float(np.max(vals)),
        }
    out["rebuilds"], out["songs"] = rebuilds, n_songs
    return out


def main(data_dir: Path) -> None:
    data_dir = Path(data_dir)
    files = audio_files([d for d in (data_dir / "songs", data_dir / "music") if d.is_dir()])
    if len(files) < 4:
        print(f"fingerprint-cluster: skipped (no songs under {data_dir})")
        return
    bin_dir = postgres_bin()
    if bin_dir is None:
        print("fingerprint-cluster: skipped (no PostgreSQL binaries: apt-get install postgresql)")
        return
    work = Path(tempfile.mkdtemp(prefix="aares-cluster-bench-"))
    server = PostgresServer(bin_dir).start()
    rows: list[tuple[str, str, dict]] = []
    with sigterm_as_interrupt():  # a killed benchmark still stops its server
        _run(files, work, server, rows)


def _run(files: list[Path], work: Path, server: PostgresServer, rows: list) -> None:
    try:
        t0 = time.perf_counter()
        rows.append(("SQLite", "inline (1 process)", _index_run(str(work / "a.db"), files)))
        print(rows[-1], flush=True)
        rows.append(("SQLite", "--jobs 2", _index_run(str(work / "b.db"), files, jobs=2)))
        print(rows[-1], flush=True)
        for n in (1, 2):
            start = time.perf_counter()
            cluster, client = _cluster(n)
            client.run(lambda: __import__("aares.fingerprint.catalog"))  # workers import once
            startup = time.perf_counter() - start
            try:
                for name, db in (("SQLite", str(work / f"c{n}.db")), ("PostgreSQL", None)):
                    db = db or server.new_database()
                    res = _index_run(db, files, client=client)
                    res["startup"] = startup
                    rows.append((name, f"--cluster local:{n}", res))
                    print(rows[-1], flush=True)
            finally:
                client.close()
                cluster.close()
        # the single writer's own rate: songs and MB of postings per second, copying a
        # finished catalog into a new one of each kind (no analysis at all)
        writer = {}
        for name, dst in (("PostgreSQL", server.new_database()), ("SQLite", str(work / "w.db"))):
            with open_store(str(work / "a.db"), create=False) as src:
                with open_store(dst, profile=src.profile) as out:
                    t = time.perf_counter()
                    n = copy_store(src, out)
                    secs = time.perf_counter() - t
                    mb = out.postings_bytes() / 1e6
            writer[name] = {"songs": n, "seconds": secs, "songs_s": n / secs, "mb_s": mb / secs}
            print(name, writer[name], flush=True)
        # a reader while a writer adds: course songs in the catalog, the soundtrack added
        course = [f for f in files if f.parent.name == "songs"]
        rest = [f for f in files if f.parent.name != "songs"]
        excerpts = []
        sr = get_profile("default").sr  # identify_signal takes the profile's rate
        for f in course:
            x, _ = load_audio(f, sr=sr)
            excerpts.append(x[30 * sr : 35 * sr])
        latency = {}
        for name, db in (("SQLite", str(work / "r.db")), ("PostgreSQL", server.new_database())):
            with Catalog(db, profile="default") as cat:
                cat.add(course)
            latency[name] = _reader_latency(db, excerpts, rest)
            print(name, latency[name], flush=True)
        minutes = (time.perf_counter() - t0) / 60
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    write_section("fingerprint-cluster", _markdown(rows, writer, latency, files, minutes))


def _markdown(rows, writer, latency, files, minutes: float) -> str:
    base = rows[0][2]
    hours = base["hours"]
    load = os.getloadavg()[0]
    lines = [
        "## Shared catalog: PostgreSQL and a Dask cluster (`fingerprint-cluster`)",
        "",
        f"{stamp()} Reproduce: `nice -n 10 python -m benchmarks fingerprint-cluster --data "
        f"DATA` ({minutes:.1f} min; load average {load:.1f} at the end: the machine is shared, "
        "so read the ratios to the inline run, measured in the same run, and the CPU figures).",
        "",
        f"Indexing {len(files)} files ({hours:.2f} h: the course MP3s and the Singularity "
        "soundtrack's Ogg files) into a new catalog; PostgreSQL 15 runs on the same machine "
        "(127.0.0.1, fsync off as in the tests). CPU is this process's plus its workers'. "
        "The Dask rows exclude the cluster's start-up (given apart).",
        "",
        markdown_table(
            pd.DataFrame(
                [
                    {"store": store, "analysis": how, "wall (s)": r["wall"],
                     "audio h per hour": r["rate"], "vs inline": r["rate"] / base["rate"],
                     "CPU (s)": r["cpu"],
                     "audio h per CPU hour": r["hours"] / (r["cpu"] / 3600)
                     if r["cpu"] > 0 else float("nan"),
                     "cluster start-up (s)": r.get("startup", float("nan"))}
                    for store, how, r in rows
                ]
            ),
            {"wall (s)": "{:.1f}", "audio h per hour": "{:.0f}", "vs inline": "{:.2f}x",
             "CPU (s)": "{:.1f}", "audio h per CPU hour": "{:.0f}",
             "cluster start-up (s)": "{:.1f}"},
        ),
    ]  # fmt: skip
    songs_per_hour = len(files) / hours  # songs in an hour of this music
    lines += [
        "",
        "The writer alone (`aares fp copy` of the finished catalog: one transaction per song, "
        "no analysis), the ceiling of one indexing run whatever the number of workers:",
        "",
        markdown_table(
            pd.DataFrame(
                [
                    {"into": name, "songs": w["songs"], "s": w["seconds"],
                     "songs/s": w["songs_s"], "MB of postings/s": w["mb_s"],
                     "audio h per hour it can take": w["songs_s"] * 3600 / songs_per_hour}
                    for name, w in writer.items()
                ]
            ),
            {"s": "{:.2f}", "songs/s": "{:.0f}", "MB of postings/s": "{:.1f}",
             "audio h per hour it can take": "{:,.0f}"},
        ),
    ]  # fmt: skip
    lines += [
        "",
        "A reader (`Catalog.identify_signal`, 5 s excerpts of the 7 course songs) while another "
        f"process adds the {len(files) - 7} soundtrack files to the same catalog, one song per "
        "transaction; each change of the generation makes the reader bring its query index "
        "in step with the store (the on-disk index adds a segment) before its next query:",
        "",
        markdown_table(
            pd.DataFrame(
                [
                    {"store": store, "queries alone": r["alone"]["n"],
                     "p50 / p95 ms alone": f"{r['alone']['p50']:.1f} / {r['alone']['p95']:.1f}",
                     "queries with writer": r["busy"]["n"],
                     "p50 / p95 / max ms with writer": f"{r['busy']['p50']:.1f} / "
                     f"{r['busy']['p95']:.1f} / {r['busy']['max']:.0f}",
                     "index updates": r["rebuilds"], "songs at the end": r["songs"]}
                    for store, r in latency.items()
                ]
            )
        ),
    ]  # fmt: skip
    one = next(r for st, how, r in rows if how == "--cluster local:1" and st == "PostgreSQL")
    two = next(r for st, how, r in rows if how == "--cluster local:2" and st == "PostgreSQL")
    per_core = one["hours"] / (one["cpu"] / 3600)
    ceiling = writer["PostgreSQL"]["songs_s"] * 3600 / songs_per_hour
    pg = writer["PostgreSQL"]
    mb_per_hour = pg["mb_s"] * pg["seconds"] / hours
    lines += [
        "",
        "**What to expect on N machines.** The analysis is CPU-bound and independent per file, "
        f"so a cluster's rate is about (cores) x (rate per core): here {per_core:.0f} audio h "
        f"per CPU hour for a Dask worker ({base['hours'] / (base['cpu'] / 3600):.0f} inline, "
        "without Dask's messages), decoding included. Two local workers gave "
        f"{two['rate'] / one['rate']:.2f}x one worker's wall rate on this 2-core machine (which "
        "other jobs shared). The single writer (the client: one transaction per song) takes "
        f"about {writer['PostgreSQL']['songs_s']:.0f} songs/s into PostgreSQL here, "
        f"{ceiling:,.0f} audio h per hour of this music, so it becomes the limit only past "
        f"about {ceiling / per_core:.0f} busy cores; the database's disk "
        f"({mb_per_hour:.1f} MB of postings per audio hour) is not a limit before that. Past "
        "it, run several `aares fp index` clients on disjoint folders: they share the catalog "
        "safely (each song stored once).",
    ]
    return "\n".join(lines) + "\n"
