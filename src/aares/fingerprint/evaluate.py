"""``aares fp bench``: the engine measured on any folder of music, the way a user would use it.

What it does (all seeded):

1. splits the songs into *indexed* and *held out* (``holdout`` share, at least 2 held out);
2. indexes the indexed songs into a fresh catalog per profile, timed on one process (decoding
   included) and again with ``jobs`` processes;
3. cuts ``per_song`` excerpts of 5 s and of 10 s from every indexed song and writes each
   *variant* (:mod:`aares.fingerprint.variants`) as a file at 22,050 Hz (so that a query's
   time includes decoding, as for a user);
4. negatives: clean excerpts of the held-out songs, silence, white and pink noise, and speech;
5. identifies every query with every profile's catalog and reports top-1 accuracy per
   variant and length, offsets within 1 s, false positives, query latency (p50/p95),
   index size per audio hour and peak memory.

The project's benchmark (``python -m benchmarks fingerprint``) adds, through the
``on_profile`` and ``on_done`` hooks, decoding and analysis speeds, the growth of query time
with the catalog and the course's plain pipeline.

Example
-------
>>> from aares.fingerprint.evaluate import run_bench, BenchConfig      # doctest: +SKIP
>>> res = run_bench(audio_files(["music/"]), "fp-bench",                # doctest: +SKIP
...                 config=BenchConfig(quick=True))
"""

from __future__ import annotations

import os
import resource
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from aares.console import console, progress
from aares.fingerprint.audio import load_audio
from aares.fingerprint.catalog import Catalog
from aares.fingerprint.variants import VARIANTS, make_variant, pink_noise, speech
from aares.io import write_json, write_text
from aares.markdown import markdown_table

__all__ = ["BenchConfig", "BenchResult", "run_bench"]

QUERY_SR = 22050


@dataclass
class BenchConfig:
    """Settings of a benchmark run (see the module docstring)."""

    seed: int = 0
    per_song: int = 3
    lengths: tuple[float, ...] = (5.0, 10.0)
    holdout: float = 0.2
    quick: bool = False
    jobs: int = 2
    variants: tuple[str, ...] = VARIANTS
    n_synthetic_negatives: int = 6  # each of silence, white noise, pink noise, speech


@dataclass
class BenchResult:
    """Every figure of a run, and the same as Markdown tables."""

    data: dict = field(default_factory=dict)
    markdown: str = ""


# -- perturbations ---------------------------------------------------------------------------


# -- the run -----------------------------------------------------------------------------------


def _peak_rss_mb() -> tuple[float, float]:
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return self_kb / 1024, child_kb / 1024


def run_bench(
    files: list[Path],
    out: str | Path,
    profiles: list[str] | tuple[str, ...] = ("default", "course"),
    config: BenchConfig | None = None,
    *,
    on_profile: Callable[[str, Catalog | None, list[Path], dict], None] | None = None,
    on_done: Callable[[dict, list[Path], list[dict], np.random.Generator], None] | None = None,
) -> BenchResult:
    """Run the benchmark on ``files`` (audio), working in ``out``; see the module docstring.

    ``on_profile(name, catalog, indexed, figures)`` runs before each profile's indexing
    (``catalog`` None) and after it (it may add to ``figures``); ``on_done(data, indexed,
    queries, rng)`` after the queries, before the results are written.
    """
    cfg = config or BenchConfig()
    if cfg.quick:
        cfg.variants = tuple(v for v in cfg.variants if v != "slow 5 %")
        cfg.n_synthetic_negatives = 3
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(cfg.seed)
    files = [Path(f) for f in files]
    order = rng.permutation(len(files))
    n_hold = max(2, int(round(cfg.holdout * len(files)))) if cfg.holdout > 0 else 0
    held = [files[i] for i in sorted(order[:n_hold])]
    indexed = [files[i] for i in sorted(order[n_hold:])]
    data: dict = {"config": asdict(cfg), "indexed": len(indexed), "held_out": len(held)}

    # 1. queries (files), cut from the songs decoded once at QUERY_SR
    qdir = out / "queries"
    if qdir.exists():
        shutil.rmtree(qdir)
    qdir.mkdir()
    queries: list[dict] = []
    hours = 0.0
    with progress() as bar:
        task = bar.add_task("cutting excerpts", total=len(files))
        for f in files:
            x, sr = load_audio(f, sr=QUERY_SR)
            dur = x.size / sr
            is_held = f in held
            if not is_held:
                hours += dur / 3600
            for length in cfg.lengths:
                for k in range(cfg.per_song):
                    if dur < length * 1.06 + 1:
                        continue
                    start = float(rng.uniform(0, dur - length * 1.06 - 0.5))
                    variants = ("clean",) if is_held else cfg.variants
                    for v in variants:
                        name = f"{len(queries):05d}"
                        p = make_variant(v, x, sr, start, length, rng, qdir / f"{name}.wav")
                        queries.append(
                            {
                                "path": str(p),
                                "song": None if is_held else str(f.resolve()),
                                "variant": "held-out song" if is_held else v,
                                "source": str(f),
                                "length": length,
                                "start": start,
                                "k": k,
                            }
                        )
            bar.advance(task)
        n = cfg.n_synthetic_negatives
        negs = {
            "silence": [np.zeros(int(8 * QUERY_SR), np.float32) for _ in range(n)],
            "white noise": [
                (0.1 * rng.standard_normal(int(8 * QUERY_SR))).astype(np.float32) for _ in range(n)
            ],
            "pink noise": [pink_noise(int(8 * QUERY_SR), rng) for _ in range(n)],
            "speech": speech(n, QUERY_SR, rng, qdir),
        }
        for kind, xs in negs.items():
            for x in xs:
                p = qdir / f"{len(queries):05d}.wav"
                sf.write(p, x, QUERY_SR, subtype="PCM_16")
                queries.append({"path": str(p), "song": None, "variant": kind, "length": 8.0})
    data["queries"] = len(queries)
    data["audio_hours"] = hours

    # 2. per profile: indexing (1 process, then jobs), queries
    results = {}
    for name in profiles:
        res: dict = {}
        db = out / f"{name}.fp.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
        if on_profile is not None:  # before indexing (the benchmark's baseline: decoding)
            on_profile(name, None, indexed, res)
        console.print(f"[bold]{name}[/]: indexing {len(indexed)} songs on 1 process")
        cat = Catalog(db, profile=name)
        cpu0 = time.process_time()
        rep = cat.add(indexed, jobs=1)
        res["index_x_realtime_1"] = rep.realtime
        res["index_x_cpu_1"] = rep.audio_seconds / max(time.process_time() - cpu0, 1e-9)
        res["load_average"] = os.getloadavg()[0]
        res["index_failed"] = rep.failed
        if cfg.jobs > 1:
            db2 = out / f"{name}-jobs.fp.db"
            for suffix in ("", "-wal", "-shm"):
                Path(str(db2) + suffix).unlink(missing_ok=True)
            console.print(f"[bold]{name}[/]: indexing again with --jobs {cfg.jobs}")
            with Catalog(db2, profile=name) as c2:
                res[f"index_x_realtime_{cfg.jobs}"] = c2.add(indexed, jobs=cfg.jobs).realtime
        if on_profile is not None:
            on_profile(name, cat, indexed, res)
        secs = sum(s.duration for s in cat.songs())
        res["songs"] = len(cat)
        res["postings"] = sum(s.n_hashes for s in cat.songs())
        res["postings_per_second"] = res["postings"] / secs
        res["blob_mb_per_hour"] = cat.store.postings_bytes() / 1e6 / (secs / 3600)
        res["file_mb_per_hour"] = cat.store.size_bytes() / 1e6 / (secs / 3600)
        index = cat.index
        res["index_ram_mb"] = index.nbytes / 1e6
        if name == profiles[0]:
            _flag_shared(cat, held, queries)
        # queries
        path_to_id = {s.path: s.id for s in cat.songs()}
        rows = []
        cat.identify(queries[0]["path"])  # warm-up
        with progress() as bar:
            task = bar.add_task(f"{name}: {len(queries)} queries", total=len(queries))
            for q in queries:
                t0, cpu0 = time.perf_counter(), time.process_time()
                matches = cat.identify(q["path"])
                ms = (time.perf_counter() - t0) * 1e3
                cpu_ms = (time.process_time() - cpu0) * 1e3
                top = matches[0] if matches else None
                truth = path_to_id.get(q["song"]) if q["song"] else None
                rows.append(
                    {
                        "variant": q["variant"] + (" (shares audio)" if q.get("shared") else ""),
                        "length": q["length"],
                        "positive": truth is not None,
                        "answered": top is not None,
                        "correct": top is not None and top.song_id == truth,
                        "offset_ok": top is not None
                        and top.song_id == truth
                        and abs(top.offset - q["start"]) <= 1.0,
                        "score": top.score if top else 0,
                        "speed": top.speed if top else None,
                        "ms": ms,
                        "cpu_ms": cpu_ms,
                    }
                )
                bar.advance(task)
        res["rows"] = rows
        res["peak_rss_mb"], res["peak_rss_children_mb"] = _peak_rss_mb()
        cat.close()
        results[name] = res
    data["profiles"] = results
    if on_done is not None:
        on_done(data, indexed, queries, rng)
    result = BenchResult(data=data, markdown=_markdown(data))
    write_json(out / "results.json", data)
    write_text(out / "report.md", result.markdown)
    shutil.rmtree(qdir, ignore_errors=True)
    return result


def _flag_shared(cat: Catalog, held: list[Path], queries: list[dict]) -> None:
    # A held-out song may hold the same audio as an indexed one (soundtracks reuse loops
    # and intros): then an answer is right, not a false positive. A held-out song is flagged
    # when at least 3 of its 10 s windows (every 10 s) match one indexed song; its
    # excerpts are then reported on a row of their own.
    for f in held:
        x, sr = load_audio(f, sr=cat.profile.sr)
        hits: dict[int, int] = {}
        for a in range(0, max(1, x.size - 10 * sr), 10 * sr):
            m = cat.identify_signal(x[a : a + 10 * sr])
            if m:
                hits[m[0].song_id] = hits.get(m[0].song_id, 0) + 1
        if hits and max(hits.values()) >= 3:
            sid = max(hits, key=hits.get)
            title = cat.store.song(sid).title
            console.print(f"held-out {f.name} shares audio with indexed song {title!r}")
            for q in queries:
                if q["variant"] == "held-out song" and q.get("source") == str(f):
                    q["shared"] = title


# -- report ----------------------------------------------------------------------------------


def _markdown(data: dict) -> str:
    cfg = data["config"]
    profiles = data["profiles"]
    lines = [
        f"{data['indexed']} songs indexed ({data['audio_hours']:.2f} h), {data['held_out']} held "
        f"out; {data['queries']} queries (excerpts of {', '.join(f'{x:g}' for x in cfg['lengths'])}"
        f" s, {cfg['per_song']} per song and length, seed {cfg['seed']}).",
        "",
        "Top-1 accuracy (offset within 1 s in brackets):",
        "",
        markdown_table(_accuracy_table(profiles)),
        "",
        "False positives (any answer to a negative; wrong song answered to a positive):",
        "",
        markdown_table(_negatives_table(profiles)),
        "",
        markdown_table(_speed_table(profiles, cfg["jobs"])),
    ]
    return "\n".join(lines)


def _accuracy_table(profiles: dict) -> pd.DataFrame:
    """Per positive variant and length: n, then each profile's top-1 (and offset) accuracy."""
    first = next(iter(profiles.values()))["rows"]
    keys = list(dict.fromkeys((r["variant"], r["length"]) for r in first if r["positive"]))
    table = []
    for v, length in keys:
        row = {"variant": v, "length": f"{length:g} s", "n": 0}
        for name, p in profiles.items():
            rows = [
                r for r in p["rows"] if r["positive"] and r["variant"] == v
                and r["length"] == length
            ]  # fmt: skip
            row["n"] = len(rows)
            acc = np.mean([r["correct"] for r in rows]) * 100
            off = np.mean([r["offset_ok"] for r in rows]) * 100
            row[name] = f"{acc:.1f} % ({off:.1f} %)"
        table.append(row)
    return pd.DataFrame(table, columns=["variant", "length", "n", *profiles])


def _negatives_table(profiles: dict) -> pd.DataFrame:
    """Per kind of negative (and the totals): n, then each profile's count of answers."""
    first = next(iter(profiles.values()))["rows"]
    kinds = list(dict.fromkeys(r["variant"] for r in first if not r["positive"]))
    extra = ["all negatives", "wrong song (positives)"]
    if any("shares" in k for k in kinds):
        extra.insert(1, "all negatives, without shared audio")

    def selected(rows, kind):
        if kind == "all negatives":
            return [r for r in rows if not r["positive"]]
        if kind == "all negatives, without shared audio":
            return [r for r in rows if not r["positive"] and "shares" not in r["variant"]]
        if kind == "wrong song (positives)":
            return [r for r in rows if r["positive"]]
        return [r for r in rows if not r["positive"] and r["variant"] == kind]

    table = []
    for kind in [*kinds, *extra]:
        row = {"negatives": kind, "n": 0}
        for name, p in profiles.items():
            sel = selected(p["rows"], kind)
            row["n"] = len(sel)
            wrong = kind == "wrong song (positives)"
            row[name] = sum(r["answered"] and (not wrong or not r["correct"]) for r in sel)
        table.append(row)
    return pd.DataFrame(table, columns=["negatives", "n", *profiles])


def _speed_table(profiles: dict, jobs: int) -> pd.DataFrame:
    """Speed and size: one row per measure, one column per profile."""

    def pct(p, q, pos=None, key="ms"):
        ms = [r[key] for r in p["rows"] if pos is None or r["positive"] == pos]
        return f"{np.percentile(ms, q):.1f}"

    measures = [
        ("index speed, 1 process, decoding included: wall / CPU time (x realtime)",
         lambda p: f"{p['index_x_realtime_1']:.0f}x / {p['index_x_cpu_1']:.0f}x"),
        ("load average (1 min) on 2 cores, after indexing", lambda p: f"{p['load_average']:.1f}"),
    ]  # fmt: skip
    if jobs > 1:
        measures.append(
            (f"index speed, --jobs {jobs} (x realtime)",
             lambda p: f"{p.get(f'index_x_realtime_{jobs}', 0):.0f}x")
        )  # fmt: skip
    measures += [
        ("query wall p50 / p95, all (ms)", lambda p: f"{pct(p, 50)} / {pct(p, 95)}"),
        ("query CPU p50 / p95, all (ms)",
         lambda p: f"{pct(p, 50, key='cpu_ms')} / {pct(p, 95, key='cpu_ms')}"),
        ("query CPU p50 / p95, negatives (ms)",
         lambda p: f"{pct(p, 50, False, 'cpu_ms')} / {pct(p, 95, False, 'cpu_ms')}"),
        ("landmarks per second of audio", lambda p: f"{p['postings_per_second']:.0f}"),
        ("index size: postings / file (MB per hour)",
         lambda p: f"{p['blob_mb_per_hour']:.2f} / {p['file_mb_per_hour']:.2f}"),
        ("index in memory (MB)", lambda p: f"{p['index_ram_mb']:.1f}"),
        ("peak memory, bench process (MB)", lambda p: f"{p['peak_rss_mb']:.0f}"),
    ]  # fmt: skip
    rows = [{"": label, **{n: fn(p) for n, p in profiles.items()}} for label, fn in measures]
    return pd.DataFrame(rows, columns=["", *profiles])
