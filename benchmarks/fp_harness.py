"""The benchmark-only parts of the fingerprint benchmark, around ``aares fp bench``.

:func:`aares.fingerprint.evaluate.run_bench` measures what a user of ``aares fp bench``
needs (accuracy per variant, false positives, index and query speed, size); this harness
adds, through its hooks, what the project tracks:

- decoding alone (libsndfile at the file's own rate) just before each profile's indexing:
  what indexing cannot beat;
- the analysis alone, on audio decoded beforehand (wall and CPU time);
- for the default profile, how query time grows when the catalog grows 10x and 100x
  (speed-shifted copies of every song's landmarks as extra entries);
- the course's plain pipeline (handout functions, :mod:`aares.fingerprint.course`) on the
  clean and noisy excerpts, for reference.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from aares.fingerprint.audio import load_audio
from aares.fingerprint.catalog import Catalog
from aares.fingerprint.evaluate import BenchConfig, BenchResult, run_bench
from aares.fingerprint.index import Index
from aares.fingerprint.landmarks import (
    analyse,
    fingerprint,
    get_profile,
    landmark_hashes,
    pair_peaks,
)
from aares.fingerprint.match import match_signal


@dataclass
class HarnessConfig:
    """What the harness adds: catalog growth factors and how many queries time them."""

    growth: tuple[int, ...] = (10, 100)
    growth_queries: int = 60


def run(
    files: list[Path],
    out: str | Path,
    profiles=("default", "course"),
    config: BenchConfig | None = None,
    harness: HarnessConfig | None = None,
) -> BenchResult:
    """``run_bench`` with the benchmark's own figures; their tables follow the user's ones."""
    cfg = config or BenchConfig()
    hcfg = harness or HarnessConfig(growth=(10,) if cfg.quick else (10, 100))
    out = Path(out)

    def on_profile(name: str, cat: Catalog | None, indexed: list[Path], res: dict) -> None:
        if cat is None:
            res["decode_x_realtime"], res["decode_x_cpu"] = _decode_speed(indexed)
            return
        prof = get_profile(name)
        decoded = [load_audio(f, sr=prof.sr, quality=prof.resample_quality)[0] for f in indexed]
        fingerprint(decoded[0][: prof.sr * 5], prof)  # warm-up (numba)
        t0, cpu0 = time.perf_counter(), time.process_time()
        for x in decoded:
            fingerprint(x, prof)
        secs = sum(x.size for x in decoded) / prof.sr
        res["analysis_x_realtime"] = secs / (time.perf_counter() - t0)
        res["analysis_x_cpu"] = secs / max(time.process_time() - cpu0, 1e-9)

    def on_done(data: dict, indexed: list[Path], queries: list[dict], rng) -> None:
        results = data["profiles"]
        if "default" in results and hcfg.growth:  # last: it needs far more memory than the rest
            prof = get_profile("default")
            decoded = [load_audio(f, sr=prof.sr, quality=prof.resample_quality)[0] for f in indexed]
            with Catalog(out / "default.fp.db") as cat:
                results["default"]["growth"] = _growth(cat, indexed, decoded, queries, hcfg, rng)
        if "course" in results:
            data["course_pipeline"] = _course_pipeline(indexed, queries)

    result = run_bench(
        files, out, profiles=profiles, config=cfg, on_profile=on_profile, on_done=on_done
    )
    result.markdown += "\n" + markdown(result.data)
    return result


def markdown(data: dict) -> str:
    """The harness's tables: decoding and analysis speed, catalog growth, course pipeline."""
    profiles = data["profiles"]
    names = list(profiles)
    lines = ["", "| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]

    def row(label, fn):
        lines.append(f"| {label} | " + " | ".join(fn(profiles[nm]) for nm in names) + " |")

    row(
        "decoding alone, just before indexing (libsndfile): wall / CPU time (x realtime)",
        lambda p: f"{p['decode_x_realtime']:.0f}x / {p['decode_x_cpu']:.0f}x",
    )
    row(
        "index speed as a share of decoding speed: wall / CPU",
        lambda p: (
            f"{p['index_x_realtime_1'] / p['decode_x_realtime'] * 100:.0f} % / "
            f"{p['index_x_cpu_1'] / p['decode_x_cpu'] * 100:.0f} %"
        ),
    )
    row(
        "analysis alone: wall / CPU time (x realtime)",
        lambda p: f"{p['analysis_x_realtime']:.0f}x / {p['analysis_x_cpu']:.0f}x",
    )
    g = profiles.get("default", {}).get("growth")
    if g:
        lines += [
            "",
            "Query time as the catalog grows (default profile; extra entries are speed-shifted "
            "copies of every song's landmarks, 0.55-0.8x and 1.25-1.8x):",
        ]
        lines += ["", "| catalog | postings | index build | query CPU p50 | p95 | top-1 |"]
        lines.append("|---|---|---|---|---|---|")
        for k, v in g.items():
            lines.append(
                f"| {k}x | {v['postings']:,} | {v['build_s']:.1f} s | {v['p50_ms']:.1f} ms | "
                f"{v['p95_ms']:.1f} ms | {v['top1'] * 100:.0f} % |"
            )
    cp = data.get("course_pipeline")
    if cp:
        lines += ["", f"The course's plain pipeline (handout functions, dict per song, "
                  f"`search_song`): indexing {cp['index_x_realtime']:.0f}x realtime; top-1 "
                  + ", ".join(f"{k}: {v * 100:.0f} %" for k, v in cp["top1"].items())
                  + " (no 'no match' answer)."]  # fmt: skip
    return "\n".join(lines)


def _decode_speed(files: list[Path]) -> tuple[float, float]:
    # x realtime of decoding alone, wall and CPU time: what indexing cannot beat
    t0, cpu0, secs = time.perf_counter(), time.process_time(), 0.0
    for f in files:
        with sf.SoundFile(str(f)) as fh:
            secs += fh.read(dtype="float32").shape[0] / fh.samplerate
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return secs / max(wall, 1e-9), secs / max(cpu, 1e-9)


def _growth(cat: Catalog, indexed, decoded, queries, cfg: HarnessConfig, rng) -> dict:
    # Grow the catalog 10x / 100x with speed-shifted copies of every song's landmarks (as if
    # each song were also stored at other speeds), then time the same queries against it.
    prof = cat.profile
    ids = [s.id for s in cat.songs()]
    base = [cat.store.postings(i) for i in ids]
    points = [analyse(x, prof) for x in decoded]
    pos = [q for q in queries if q["song"] and q["variant"] in ("clean", "noise 0 dB", "fast 5 %")]
    sel = rng.choice(len(pos), size=min(cfg.growth_queries, len(pos)), replace=False)
    qs = []
    path_to_id = {s.path: s.id for s in cat.songs()}
    for i in sel:
        q = pos[int(i)]
        x, _ = load_audio(q["path"], sr=prof.sr, quality=prof.resample_quality)
        qs.append((x, path_to_id[q["song"]]))
    out = {}
    for factor in (1, *cfg.growth):
        hs = [b[0] for b in base]
        fs = [b[1] for b in base]
        song_ids = list(ids)
        # copy speeds far outside the query's search grid (0.94-1.06), so that the copies are
        # other music as far as the matcher can tell, with the catalog's own hash statistics
        speeds = np.concatenate([np.linspace(0.55, 0.8, 64), np.linspace(1.25, 1.8, 64)])
        for c in range(factor - 1):
            s = float(speeds[c % speeds.size]) * (1 + 0.001 * (c // speeds.size))
            for j, (pts, strength) in enumerate(points):
                scaled = pts * [s, 1 / s]
                pairs = pair_peaks(scaled, prof, strength)
                h, t = landmark_hashes(scaled, pairs, prof)
                hs.append(h)
                fs.append(np.rint(t))
                song_ids.append(10_000_000 + c * 100_000 + j)
        t0 = time.perf_counter()
        index = Index.from_arrays(hs, fs, song_ids)
        build = time.perf_counter() - t0
        del hs, fs
        times, correct = [], 0
        for x, truth in qs:
            t0 = time.process_time()
            m = match_signal(x, index, prof, cat.settings)
            times.append((time.process_time() - t0) * 1e3)
            correct += bool(m) and m[0].song_id == truth
        out[str(factor)] = {
            "postings": len(index),
            "build_s": build,
            "p50_ms": float(np.percentile(times, 50)),
            "p95_ms": float(np.percentile(times, 95)),
            "top1": correct / max(1, len(qs)),
            "ram_mb": index.nbytes / 1e6,
        }
        del index
    return out


def _course_pipeline(indexed, queries) -> dict:
    # The handout's functions as a student would run them: dict per song, search_song.
    from aares.fingerprint import course

    t0 = time.perf_counter()
    db, secs = [], 0.0
    for f in indexed:
        x, sr = course.load(f)
        secs += x.size / sr
        db.append(course.process_signal(x))
    index_x = secs / (time.perf_counter() - t0)
    order = {str(Path(f).resolve()): i for i, f in enumerate(indexed)}
    stats: dict = {}
    for q in queries:
        if not q["song"] or q["variant"] not in ("clean", "noise 0 dB"):
            continue
        x, _ = course.load(q["path"])
        best = course.search_song(db, course.process_signal(x), n_best=1)
        key = f"{q['variant']} {q['length']:.0f} s"
        n, ok = stats.get(key, (0, 0))
        stats[key] = (n + 1, ok + (best[0] == order[q["song"]]))
    return {"index_x_realtime": index_x, "top1": {k: ok / n for k, (n, ok) in stats.items()}}
