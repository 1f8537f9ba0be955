"""``aares fp bench``: the engine measured on any folder of music, the way a user would use it.

What it does (all seeded):

1. splits the songs into *indexed* and *held out* (``holdout`` share, at least 2 held out);
2. indexes the indexed songs into a fresh catalog per profile, timed on one process (decoding
   included) and again with ``jobs`` processes; times the analysis alone on decoded audio;
3. cuts ``per_song`` excerpts of 5 s and of 10 s from every indexed song and writes each
   *variant* as a file at 22,050 Hz (so that a query's time includes decoding, as for a
   user): ``clean``; ``noise 0 dB`` (white noise over the file's band, as loud as the music);
   ``fast 5 %`` / ``slow 5 %`` (resampled: tempo and pitch together); ``MP3 32k``
   (ffmpeg + LAME at 32 kbit/s; without ffmpeg, a stand-in: band-limited to 5.5 kHz and
   requantised with noise 20 dB down); ``phone`` (band-pass 300-3,400 Hz, room reverb
   with RT60 0.4 s, noise at 10 dB SNR);
4. negatives: clean excerpts of the held-out songs, silence, white and pink noise, and
   speech (espeak-ng when installed, else a synthetic vowel-like buzz);
5. identifies every query with every profile's catalog and reports top-1 accuracy per
   variant and length, offsets within 1 s, false positives, query latency (p50/p95),
   index size per audio hour, peak memory; for the default profile, also how query time
   grows when the catalog grows 10x and 100x (speed-shifted copies of every song's
   landmarks as extra entries); and the course's plain pipeline (handout functions,
   :mod:`aares.fingerprint.course`) on the clean and noisy excerpts for reference.

Example
-------
>>> from aares.fingerprint.bench import run_bench, BenchConfig          # doctest: +SKIP
>>> res = run_bench(audio_files(["music/"]), "fp-bench", config=BenchConfig(quick=True))
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

from aares.console import console, progress
from aares.fingerprint.audio import load_audio, resample
from aares.fingerprint.catalog import Catalog
from aares.fingerprint.index import Index
from aares.fingerprint.landmarks import analyse, fingerprint, get_profile, landmark_hashes
from aares.fingerprint.match import match_signal, pair_peaks
from aares.io import write_json, write_text

__all__ = ["BenchConfig", "BenchResult", "run_bench", "VARIANTS", "make_variant"]

VARIANTS = ("clean", "noise 0 dB", "fast 5 %", "slow 5 %", "MP3 32k", "phone")
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
    growth: tuple[int, ...] = (10, 100)
    growth_queries: int = 60


@dataclass
class BenchResult:
    """Every figure of a run, and the same as Markdown tables."""

    data: dict = field(default_factory=dict)
    markdown: str = ""


# -- perturbations ---------------------------------------------------------------------------


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def add_noise(x: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """``x`` plus white noise at ``snr_db`` (noise power = signal power / 10^(snr/10))."""
    sigma = _rms(x) / (10 ** (snr_db / 20))
    return (x + sigma * rng.standard_normal(x.size)).astype(np.float32)


def change_speed(x: np.ndarray, sr: int, speed: float) -> np.ndarray:
    """Play ``x`` ``speed`` times faster (tempo and pitch together, as a resampler does)."""
    return resample(x, int(round(sr * speed)), sr)


def phone(x: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A phone call: band-pass 300-3,400 Hz, a room's reverb (RT60 0.4 s), noise at 10 dB."""
    sos = signal.butter(4, [300, 3400], btype="bandpass", fs=sr, output="sos")
    y = signal.sosfilt(sos, x)
    n = int(0.4 * sr)
    t = np.arange(n) / sr
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / 0.4)  # -60 dB after RT60
    ir[0] = 0.0
    ir *= 0.7 / np.sqrt(np.sum(ir**2))  # reverberant energy 3 dB below the direct sound
    ir[0] = 1.0
    y = signal.fftconvolve(y, ir)[: x.size]
    return add_noise(y.astype(np.float32), 10.0, rng)


def mp3(x: np.ndarray, sr: int, path: Path, rng: np.random.Generator) -> Path:
    """Encode ``x`` as MP3 at 32 kbit/s into ``path`` (ffmpeg), or a WAV stand-in."""
    if shutil.which("ffmpeg"):
        with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
            sf.write(tmp.name, x, sr, subtype="PCM_16")
            cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", tmp.name]
            cmd += ["-codec:a", "libmp3lame", "-b:a", "32k", str(path)]
            subprocess.run(cmd, check=True)
        return path
    # stand-in: what LAME does at 32 kbit/s (low-pass near 5.5 kHz, coarse quantisation)
    y = resample(resample(x, sr, 11025), 11025, sr)[: x.size]
    out = path.with_suffix(".wav")
    sf.write(out, add_noise(y, 20.0, rng), sr, subtype="PCM_16")
    return out


def make_variant(
    name: str, song: np.ndarray, sr: int, start: float, length: float, rng, path: Path
) -> Path:
    """Write the excerpt ``[start, start + length)`` of ``song`` under ``name`` to ``path``."""
    speed = {"fast 5 %": 1.05, "slow 5 %": 0.95}.get(name, 1.0)
    a = int(start * sr)
    seg = song[a : a + int(round(length * speed * sr))]
    if speed != 1.0:
        seg = change_speed(seg, sr, speed)
    if name == "noise 0 dB":
        seg = add_noise(seg, 0.0, rng)
    elif name == "phone":
        seg = phone(seg, sr, rng)
    elif name == "MP3 32k":
        return mp3(seg, sr, path.with_suffix(".mp3"), rng)
    peak = float(np.max(np.abs(seg))) if seg.size else 0.0
    if peak > 0.99:  # keep clear of clipping in PCM_16
        seg = seg * (0.99 / peak)
    sf.write(path, seg, sr, subtype="PCM_16")
    return path


def _speech(n: int, sr: int, rng, folder: Path) -> list[np.ndarray]:
    texts = [
        "The weather tomorrow will be cloudy with a chance of rain in the afternoon.",
        "Please leave a message after the tone and we will call you back soon.",
        "In the beginning the universe was created, which made many people very angry.",
        "Our next train departs from platform four at twenty past seven this evening.",
        "Fingerprints of music must not match the voice of a person reading the news.",
        "She sells sea shells by the sea shore, and the shells she sells are surely fine.",
    ]
    out = []
    exe = shutil.which("espeak-ng") or shutil.which("espeak")
    for i in range(n):
        x = None
        if exe:
            wav = folder / f"speech{i}.wav"
            proc = subprocess.run(
                [exe, "-w", str(wav), "-s", str(140 + 10 * i), texts[i % len(texts)]],
                capture_output=True,
                check=False,
            )
            if proc.returncode == 0 and wav.is_file():
                x, _ = load_audio(wav, sr=sr)
        if x is None:  # a vowel-like buzz: a glottal pulse train through moving formants
            t = np.arange(int(8 * sr)) / sr
            f0 = 110 + 30 * np.sin(2 * np.pi * 0.5 * t + i)
            x = signal.sawtooth(2 * np.pi * np.cumsum(f0) / sr)
            x *= 0.5 + 0.5 * np.sin(2 * np.pi * 3.5 * t + i)
            x = signal.lfilter([1], [1, -1.6, 0.8], x).astype(np.float32)
            x *= 0.2 / max(_rms(x), 1e-9)
        out.append(x.astype(np.float32))
    return out


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
) -> BenchResult:
    """Run the benchmark on ``files`` (audio), working in ``out``; see the module docstring."""
    cfg = config or BenchConfig()
    if cfg.quick:
        cfg.variants = tuple(v for v in cfg.variants if v != "slow 5 %")
        cfg.growth = (10,)
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
            "pink noise": [_pink(int(8 * QUERY_SR), rng) for _ in range(n)],
            "speech": _speech(n, QUERY_SR, rng, qdir),
        }
        for kind, xs in negs.items():
            for x in xs:
                p = qdir / f"{len(queries):05d}.wav"
                sf.write(p, x, QUERY_SR, subtype="PCM_16")
                queries.append({"path": str(p), "song": None, "variant": kind, "length": 8.0})
    data["queries"] = len(queries)
    data["audio_hours"] = hours

    # 2. per profile: indexing (1 process, then jobs), analysis alone, queries
    results = {}
    for name in profiles:
        prof = get_profile(name)
        res: dict = {}
        db = out / f"{name}.fp.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
        # the baseline, just before: decoding alone (libsndfile, the file's own rate)
        res["decode_x_realtime"], res["decode_x_cpu"] = _decode_speed(indexed)
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
        # analysis alone, on audio decoded beforehand
        decoded = [load_audio(f, sr=prof.sr, quality=prof.resample_quality)[0] for f in indexed]
        fingerprint(decoded[0][: prof.sr * 5], prof)  # warm-up (numba)
        t0, cpu0 = time.perf_counter(), time.process_time()
        for x in decoded:
            fingerprint(x, prof)
        secs = sum(x.size for x in decoded) / prof.sr
        res["analysis_x_realtime"] = secs / (time.perf_counter() - t0)
        res["analysis_x_cpu"] = secs / max(time.process_time() - cpu0, 1e-9)
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
    if "default" in profiles and cfg.growth:  # last: it needs far more memory than the rest
        prof = get_profile("default")
        decoded = [load_audio(f, sr=prof.sr, quality=prof.resample_quality)[0] for f in indexed]
        with Catalog(out / "default.fp.db") as cat:
            results["default"]["growth"] = _growth(cat, indexed, decoded, queries, cfg, rng)
    if "course" in profiles:
        try:
            data["course_pipeline"] = _course_pipeline(indexed, queries, cfg)
        except ImportError:  # pragma: no cover
            pass
    data["profiles"] = results
    result = BenchResult(data=data, markdown=_markdown(data))
    write_json(out / "results.json", data)
    write_text(out / "report.md", result.markdown)
    shutil.rmtree(qdir, ignore_errors=True)
    return result


def _decode_speed(files: list[Path]) -> tuple[float, float]:
    # x realtime of decoding alone, wall and CPU time: what indexing cannot beat
    t0, cpu0, secs = time.perf_counter(), time.process_time(), 0.0
    for f in files:
        with sf.SoundFile(str(f)) as fh:
            secs += fh.read(dtype="float32").shape[0] / fh.samplerate
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return secs / max(wall, 1e-9), secs / max(cpu, 1e-9)


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


def _pink(n: int, rng) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    spec[1:] /= np.sqrt(np.arange(1, spec.size))
    x = np.fft.irfft(spec, n)
    return (0.1 * x / max(_rms(x), 1e-12)).astype(np.float32)


def _growth(cat: Catalog, indexed, decoded, queries, cfg: BenchConfig, rng) -> dict:
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


def _course_pipeline(indexed, queries, cfg: BenchConfig) -> dict:
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


# -- report ----------------------------------------------------------------------------------


def _markdown(data: dict) -> str:
    lines = []
    cfg = data["config"]
    lines.append(
        f"{data['indexed']} songs indexed ({data['audio_hours']:.2f} h), {data['held_out']} held "
        f"out; {data['queries']} queries (excerpts of {', '.join(f'{x:g}' for x in cfg['lengths'])}"
        f" s, {cfg['per_song']} per song and length, seed {cfg['seed']})."
    )
    profiles = data["profiles"]
    names = list(profiles)
    # accuracy table
    lines += ["", "Top-1 accuracy (offset within 1 s in brackets):", ""]
    lines.append("| variant | length | n | " + " | ".join(names) + " |")
    lines.append("|---|---|---|" + "---|" * len(names))
    first = profiles[names[0]]["rows"]
    keys = []
    for r in first:
        if r["positive"] and (r["variant"], r["length"]) not in keys:
            keys.append((r["variant"], r["length"]))
    for v, length in keys:
        cells = []
        n = 0
        for nm in names:
            rows = [
                r for r in profiles[nm]["rows"] if r["positive"] and r["variant"] == v
                and r["length"] == length
            ]  # fmt: skip
            n = len(rows)
            acc = np.mean([r["correct"] for r in rows]) * 100
            off = np.mean([r["offset_ok"] for r in rows]) * 100
            cells.append(f"{acc:.1f} % ({off:.1f} %)")
        lines.append(f"| {v} | {length:g} s | {n} | " + " | ".join(cells) + " |")
    # negatives
    lines += ["", "False positives (any answer to a negative; wrong song answered to a positive):"]
    lines += [
        "",
        "| negatives | n | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    neg_kinds = []
    for r in first:
        if not r["positive"] and r["variant"] not in neg_kinds:
            neg_kinds.append(r["variant"])
    extra = ["all negatives", "wrong song (positives)"]
    if any("shares" in k for k in neg_kinds):
        extra.insert(1, "all negatives, without shared audio")
    for kind in [*neg_kinds, *extra]:
        cells = []
        n = 0
        for nm in names:
            rows = profiles[nm]["rows"]
            if kind == "all negatives":
                sel = [r for r in rows if not r["positive"]]
                bad = sum(r["answered"] for r in sel)
            elif kind == "all negatives, without shared audio":
                sel = [r for r in rows if not r["positive"] and "shares" not in r["variant"]]
                bad = sum(r["answered"] for r in sel)
            elif kind == "wrong song (positives)":
                sel = [r for r in rows if r["positive"]]
                bad = sum(r["answered"] and not r["correct"] for r in sel)
            else:
                sel = [r for r in rows if not r["positive"] and r["variant"] == kind]
                bad = sum(r["answered"] for r in sel)
            n = len(sel)
            cells.append(f"{bad}")
        lines.append(f"| {kind} | {n} | " + " | ".join(cells) + " |")
    # speed and size
    lines += ["", "| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]

    def row(label, fn):
        lines.append(f"| {label} | " + " | ".join(fn(profiles[nm]) for nm in names) + " |")

    jobs = cfg["jobs"]
    row(
        "index speed, 1 process, decoding included: wall / CPU time (x realtime)",
        lambda p: f"{p['index_x_realtime_1']:.0f}x / {p['index_x_cpu_1']:.0f}x",
    )
    row(
        "decoding alone, just before (libsndfile): wall / CPU time (x realtime)",
        lambda p: f"{p['decode_x_realtime']:.0f}x / {p['decode_x_cpu']:.0f}x",
    )
    row(
        "index speed as a share of decoding speed: wall / CPU",
        lambda p: (
            f"{p['index_x_realtime_1'] / p['decode_x_realtime'] * 100:.0f} % / "
            f"{p['index_x_cpu_1'] / p['decode_x_cpu'] * 100:.0f} %"
        ),
    )
    row("load average (1 min) on 2 cores, after indexing", lambda p: f"{p['load_average']:.1f}")
    if jobs > 1:
        row(
            f"index speed, --jobs {jobs} (x realtime)",
            lambda p: f"{p.get(f'index_x_realtime_{jobs}', 0):.0f}x",
        )
    row(
        "analysis alone: wall / CPU time (x realtime)",
        lambda p: f"{p['analysis_x_realtime']:.0f}x / {p['analysis_x_cpu']:.0f}x",
    )

    def pct(p, q, pos=None, key="ms"):
        ms = [r[key] for r in p["rows"] if pos is None or r["positive"] == pos]
        return f"{np.percentile(ms, q):.1f}"

    row("query wall p50 / p95, all (ms)", lambda p: f"{pct(p, 50)} / {pct(p, 95)}")
    row(
        "query CPU p50 / p95, all (ms)",
        lambda p: f"{pct(p, 50, key='cpu_ms')} / {pct(p, 95, key='cpu_ms')}",
    )
    row(
        "query CPU p50 / p95, negatives (ms)",
        lambda p: f"{pct(p, 50, False, 'cpu_ms')} / {pct(p, 95, False, 'cpu_ms')}",
    )
    row("landmarks per second of audio", lambda p: f"{p['postings_per_second']:.0f}")
    row("index size: postings / file (MB per hour)",
        lambda p: f"{p['blob_mb_per_hour']:.2f} / {p['file_mb_per_hour']:.2f}")  # fmt: skip
    row("index in memory (MB)", lambda p: f"{p['index_ram_mb']:.1f}")
    row("peak memory, bench process (MB)", lambda p: f"{p['peak_rss_mb']:.0f}")
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
