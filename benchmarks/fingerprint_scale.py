"""Fingerprint catalog at library scale: 10, 100, 1,000 (and more) audio hours.

``python -m benchmarks fingerprint-scale --data DIR`` (sizes: ``AARES_SCALE_HOURS=10,100,1000``).

The catalog holds the landmarks of real songs (``songs/`` and ``music/singularity/`` of the
data folder, 5 of them held out as negatives) plus synthetic songs made from those real
songs' *peaks*: each copy plays a real song at a speed factor far outside what the matcher
searches (0.45-0.7 or 1.4-2.0: frequencies times ``s``, times divided by ``s``), optionally
mirrored in frequency (bin ``f -> 255 - f``) and/or reversed in time, then paired and hashed
by the profile's own code. The copies have the pairing and hash statistics of real music but
are other music to the matcher; the benchmark checks that no real query names a copy. A copy
counts for as many audio hours as real music needs for its number of postings (so "1,000 h"
holds the postings of 1,000 h of real music). Postings go straight into the store (no audio
is synthesised), and the index is built from the store with bounded memory (segments of
``BATCH`` postings, streamed merges). Per size: build time, bytes per audio hour, a new
process's time to open the catalog and answer (imports apart), warm query CPU p50/p95
(positives, negatives), peak resident memory while serving, accuracy (clean 5 s, noise 0 dB
10 s, speed +-5 % 10 s) and false positives on held-out excerpts; the in-memory design
beside it where it fits.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from aares.fingerprint.audio import load_audio
from aares.fingerprint.catalog import Catalog, audio_files
from aares.fingerprint.landmarks import (
    analyse,
    fingerprint,
    get_profile,
    landmark_hashes,
    pair_peaks,
)
from aares.fingerprint.store import SongInfo, SQLiteStore
from aares.fingerprint.variants import add_noise, change_speed

from ._common import stamp, write_section

WORK = Path(os.environ.get("AARES_SCALE_WORK", "/tmp/aares-fingerprint-scale"))
SIZES = [float(h) for h in os.environ.get("AARES_SCALE_HOURS", "10,100,1000").split(",")]
MEMORY_MAX_HOURS = 120.0  # the in-memory design needs ~12 bytes a posting: kept under 6 GB
HELD_OUT = 5
QUERY_SR = 44100


def _speeds(n: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    lo = rng.uniform(0.45, 0.7, n // 2)
    hi = rng.uniform(1.4, 2.0, n - n // 2)
    return np.concatenate([lo, hi])


def synthetic_postings(points, strength, profile, speed, mirror, reverse):
    """Landmarks of a transformed copy of a song's peaks (see the module docstring)."""
    f = points[:, 0] * speed
    t = points[:, 1] / speed
    if mirror:
        f = (profile.n_fft // 2 - 1) - f
    if reverse:
        t = t.max() - t
    keep = (f >= 0) & (f < (1 << profile.f_bits))
    pts = np.column_stack([f[keep], t[keep]])
    st = strength[keep]
    order = np.argsort(pts[:, 1], kind="stable")
    pts, st = pts[order], st[order]
    pairs = pair_peaks(pts, profile, st)
    h, tt = landmark_hashes(pts, pairs, profile)
    frames = np.rint(tt).astype(np.int64)
    o = np.argsort(frames, kind="stable")
    return h[o], frames[o].astype(np.uint32)


def _queries(real, held, profile, folder: Path, rng) -> list[dict]:
    # positives: clean 5 s, noise 0 dB 10 s, speed +-5 % 10 s of every indexed real song;
    # negatives: 10 excerpts of each held-out song (clean 5 s, noise 10 s) and the course's
    # Debussy excerpt
    folder.mkdir(parents=True, exist_ok=True)
    out = []

    def write(x, sr, name, **kw):
        path = folder / f"{len(out):03d}.wav"
        peak = float(np.max(np.abs(x))) if x.size else 0.0
        sf.write(path, x * (0.99 / peak) if peak > 0.99 else x, sr, subtype="PCM_16")
        out.append({"path": str(path), "kind": name, **kw})

    for k, (sid, path) in enumerate(real):
        x, sr = load_audio(path, sr=QUERY_SR)
        dur = x.size / sr
        for kind, length in (("clean 5 s", 5), ("noise 0 dB 10 s", 10), ("speed 10 s", 10)):
            if dur < length * 1.1 + 1:
                continue
            speed = (1.05 if k % 2 else 0.95) if kind == "speed 10 s" else 1.0
            a = int(rng.uniform(0, dur - length * 1.06 - 0.5) * sr)
            seg = x[a : a + int(length * speed * sr)]
            if speed != 1.0:
                seg = change_speed(seg, sr, speed)
            if kind.startswith("noise"):
                seg = add_noise(seg, 0.0, rng)
            write(seg, sr, kind, song=sid, start=a / sr)
    for path in held:
        x, sr = load_audio(path, sr=QUERY_SR)
        dur = x.size / sr
        for i in range(10):
            length = 5 if i % 2 == 0 else 10
            a = int(rng.uniform(0, max(dur - length - 0.5, 0.1)) * sr)
            seg = x[a : a + length * sr]
            if i % 2:
                seg = add_noise(seg, 0.0, rng)
            write(seg, sr, "negative", song=None)
    return out


_SERVE = r"""
import json, sys, time
t0 = time.perf_counter()
from aares.fingerprint.catalog import Catalog
t1 = time.perf_counter()
from benchmarks.fingerprint_scale import serve
print(json.dumps(serve(sys.argv[1], sys.argv[2], sys.argv[3], t1 - t0, t1)))
"""


def _new_process(db: Path, kind: str, queries: list[dict]) -> dict:
    # a fresh process opens the catalog, answers, then serves every query warm
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": f"{root / 'src'}:{root}"}
    qfile = WORK / "queries.json"
    qfile.write_text(json.dumps(queries))
    proc = subprocess.run(
        [sys.executable, "-c", _SERVE, str(db), kind, str(qfile)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"serving process failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def serve(db: str, kind: str, qfile: str, import_s: float, t_imported: float) -> dict:
    """In the serving process: first answer, then warm queries (decoding included)."""
    queries = json.loads(Path(qfile).read_text())
    c0 = time.process_time()
    cat = Catalog(db, index=kind, readonly=True)
    cat.identify(queries[0]["path"])
    first_s, first_cpu = time.perf_counter() - t_imported, time.process_time() - c0
    pos_ms, neg_ms, by_kind, fp, copies = [], [], {}, 0, 0
    for q in queries:
        t0 = time.process_time()
        m = cat.identify(q["path"])
        ms = (time.process_time() - t0) * 1e3
        if q["song"] is None:
            neg_ms.append(ms)
            fp += bool(m)
        else:
            pos_ms.append(ms)
            ok = bool(m) and m[0].song_id == q["song"]
            copies += bool(m) and m[0].song_id != q["song"] and m[0].path.startswith("synthetic")
            hit, n = by_kind.get(q["kind"], (0, 0))
            by_kind[q["kind"]] = (hit + ok, n + 1)
    idx = cat.index
    return {
        "import_s": import_s,
        "first_s": first_s,
        "first_cpu_s": first_cpu,
        "p50_pos": float(np.percentile(pos_ms, 50)),
        "p95_pos": float(np.percentile(pos_ms, 95)),
        "p50_neg": float(np.percentile(neg_ms, 50)),
        "p95_neg": float(np.percentile(neg_ms, 95)),
        "accuracy": {k: h / n for k, (h, n) in by_kind.items()},
        "false_positives": fp,
        "negatives": len(neg_ms),
        "copies_named": int(copies),
        "index_mb": idx.nbytes / 1e6,
        "postings": len(idx),
        "serve_rss_mb": _rss_mb(),
    }


def _rss_mb() -> float:
    # peak resident set of this process (VmHWM: reset by exec, unlike ru_maxrss)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(data_dir: Path) -> dict:
    profile = get_profile("default")
    files = audio_files([data_dir / "songs", data_dir / "music" / "singularity"])
    held = files[:: max(1, len(files) // HELD_OUT)][:HELD_OUT]
    indexed = [f for f in files if f not in held]
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    db = WORK / "scale.db"
    store = SQLiteStore(db, profile="default")
    real, peaks, hours, n_real = [], [], 0.0, 0
    t_an = time.process_time()
    for f in indexed:
        x, sr = load_audio(f, sr=profile.sr, quality=profile.resample_quality)
        h, fr = fingerprint(x, profile)
        info = SongInfo(str(f), f.stem, "", x.size / sr, f"real:{f.name}")
        sid = store.add_song(info, h, fr)
        real.append((sid, f))
        peaks.append((analyse(x, profile), x.size / sr))
        hours += x.size / sr / 3600
        n_real += h.size
    analysis_cpu = time.process_time() - t_an
    real_hours = hours
    # a copy counts for the audio that real music needs for as many postings (a slowed
    # copy has fewer peaks a second; a sped-up one loses those above the top bin)
    rate = n_real / (hours * 3600)
    rng = np.random.default_rng(0)
    queries = _queries(real, held, profile, WORK / "queries", rng)
    debussy = sorted((data_dir / "excerpts").glob("*"))
    for d in debussy:
        queries.append({"path": str(d), "kind": "negative", "song": None})
    speeds = _speeds(4096)
    copy = 0
    rows = []
    build_wall = build_cpu = 0.0
    for size in SIZES:
        t0, c0 = time.perf_counter(), time.process_time()
        while hours < size:
            s = float(speeds[copy % speeds.size])
            mirror, reverse = bool(copy % 2), bool((copy // 2) % 2)
            for j, ((pts, strength), _) in enumerate(peaks):
                h, fr = synthetic_postings(pts, strength, profile, s, mirror, reverse)
                seconds = h.size / rate
                info = SongInfo(
                    f"synthetic://{copy}/{j}", f"copy {copy} of {j}", "", seconds,
                    f"synthetic:{copy}:{j}",
                )  # fmt: skip
                store.add_song(info, h, fr)
                hours += seconds / 3600
                if hours >= size:
                    break
            copy += 1
        store.checkpoint()
        cat = Catalog(store=store)
        cat.compact()
        build_wall += time.perf_counter() - t0
        build_cpu += time.process_time() - c0
        index_bytes = sum(p.stat().st_size for p in Path(f"{db}.index").glob("seg-*.aix"))
        row = {
            "hours": hours,
            "songs": len(store.song_ids()),
            "build_wall_s": build_wall,
            "build_cpu_s": build_cpu,
            "index_mb_per_h": index_bytes / 1e6 / hours,
            "store_mb_per_h": store.size_bytes() / 1e6 / hours,
            "builder_rss_mb": _rss_mb(),
        }
        for kind in ("disk", "memory"):
            if kind == "memory" and hours > MEMORY_MAX_HOURS:
                continue
            row[kind] = _new_process(db, kind, queries)
        rows.append(row)
        print(json.dumps(row), flush=True)
        (WORK / "results.json").write_text(json.dumps(rows, indent=1))
    return {"rows": rows, "analysis_cpu_s": analysis_cpu, "real_hours": real_hours}


def _markdown(res: dict) -> str:
    lines = [
        "## Fingerprint catalog at scale (issue 18)",
        "",
        stamp(),
        "Command: `nice -n 10 python -m benchmarks fingerprint-scale --data ../shared/data`.",
        "",
        "| catalog | songs | index | build (wall / CPU) | open + first answer, new process"
        " (imports apart) | warm CPU p50 / p95, positives | negatives p50 / p95 |"
        " serving peak RSS | clean 5 s | noise 0 dB 10 s | speed +-5 % 10 s |"
        " false positives | copies named |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        for kind in ("disk", "memory"):
            if kind not in r:
                continue
            d = r[kind]
            acc = d["accuracy"]
            name = "on disk" if kind == "disk" else "in memory (before)"
            size = (
                f"{r['index_mb_per_h']:.2f} MB/h"
                if kind == "disk"
                else f"{d['index_mb']:.0f} MB RAM"
            )
            lines.append(
                f"| {r['hours']:,.0f} h, {name} | {r['songs']:,} | {size} |"
                f" {r['build_wall_s']:.0f} s / {r['build_cpu_s']:.0f} s |"
                f" {d['first_s']:.2f} s wall, {d['first_cpu_s']:.2f} s CPU (imports"
                f" {d['import_s']:.1f} s) |"
                f" {d['p50_pos']:.0f} / {d['p95_pos']:.0f} ms |"
                f" {d['p50_neg']:.0f} / {d['p95_neg']:.0f} ms | {d['serve_rss_mb']:.0f} MB |"
                f" {acc.get('clean 5 s', 0):.0%} | {acc.get('noise 0 dB 10 s', 0):.0%} |"
                f" {acc.get('speed 10 s', 0):.0%} | {d['false_positives']} of"
                f" {d['negatives']} | {d['copies_named']} |"
            )
    lines += [
        "",
        f"Real songs: {res['real_hours']:.2f} h at the first size; store (SQLite blobs) per"
        " hour: " + ", ".join(f"{r['store_mb_per_h']:.2f} MB" for r in res["rows"]) + ".",
    ]
    return "\n".join(lines)


def main(data_dir: Path) -> None:
    res = run(data_dir)
    write_section("fingerprint-scale", _markdown(res))
