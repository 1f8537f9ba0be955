"""Fingerprint catalog at library scale: 10, 100, 1,000 (and more) audio hours.

``python -m benchmarks fingerprint-scale --data DIR`` (sizes: ``AARES_SCALE_HOURS=10,100,1000``;
the catalog goes to ``AARES_SCALE_WORK``, default ``/tmp/aares-fingerprint-scale``, and stays
there after the run so that other measurements can use it at its largest size).

The catalog holds the landmarks of real songs (``songs/`` and ``music/singularity/`` of the
data folder, 5 of them held out as negatives) plus synthetic songs made from those real
songs' *peaks*: a copy is a real song's peaks **played backwards** on a time line stretched
by a factor drawn log-uniformly from 0.6-0.72 or 1.4-1.6 that wobbles by +-6 % over 20 s,
rounded to whole frames, and **transposed** by 5 to 9 whole semitones (up when slower, down
when faster), then paired and hashed by the profile's own code
(:func:`aares.fingerprint.landmarks.peak_landmarks`, so another hash layout builds the same
way). Why: a copy keeps real music's peaks (density, spacing, the intervals between them,
the equal-tempered grid of their frequencies), so the joint distribution of the hash fields
stays near that of real music, but no excerpt of a real song lines up with it: played
backwards, its landmarks do not line up at one offset; its frequency factor lies beyond
every factor the matcher searches (at most 1.28x = 4.3 semitones; 5 semitones is 1.33x)
and its tempo factor outside the searched tempos (0.78-1.28), wobbling, because a steady
loop played backwards at its own tempo is that loop again; slower-and-higher (or
faster-and-lower) keeps it away from resampling (faster and higher by one factor), which
music does to its own material: a held-out song of the soundtrack met a copy of another of
its tracks sped up 1.45x, 7 semitones up and reversed with 84 votes. Copies played forwards
were tried and dropped (a piano piece's motifs recur at other tempi and pitches: a copy
was listed beside the right song). The run counts the queries that name a copy.

:func:`check_copies` measures how alike copies and real songs are (chance meetings per
landmark and posting, on the pair hashes and on the index keys; BENCHMARKS.md has the
figures). Copies at their song's pitch (the generator until 2026-12-02 05:00 UTC) met their
own song 31 times as often as another real song does on three-point keys (a copy met
another copy of its song 458 times as often): a catalog of 1,000 h was 18 families of
~980 near-identical songs, and a real query of an indexed song met its 980 copies, which
real music does not have. Transposed by fractions of a semitone, copies were 20-25 % more
alien to real songs than real songs are to each other (real songs share the tuning grid);
the speed/mirror copies of an earlier session 6x (0.16).

A copy counts for as many audio hours as real music needs for its number of postings (so
"1,000 h" holds the postings of 1,000 h of real music). Postings go straight into the store
(no audio is synthesised; generated and compressed on two threads), and the index is built
from the store by the catalog's own code with bounded memory (segments of ``BATCH``
postings, one streamed merge). Per size: build time, bytes per audio hour, a new process's
time to open the catalog and answer (imports apart), warm query p50/p95 (positives,
negatives), peak resident memory while serving, accuracy (clean 5 s, noise 0 dB 10 s, speed
+-5 % 10 s), false positives on held-out excerpts, the time to add a song (its analysis
apart) and ``Catalog.stats()``; the in-memory design beside it where it fits. A held-out
excerpt named with a real song whose neighbours in its own song name that song at the same
relative time shares that song's recording (:func:`runs_together`): counted apart, with the
evidence, not as a false positive.
"""

from __future__ import annotations

import collections
import contextlib
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from aares.fingerprint.audio import load_audio
from aares.fingerprint.catalog import Catalog, _analyse_file, audio_files
from aares.fingerprint.heap import keep_freed_memory
from aares.fingerprint.index import index_folder_for
from aares.fingerprint.landmarks import analyse, get_profile, index_landmarks, peak_landmarks
from aares.fingerprint.parallel import sigterm_as_interrupt
from aares.fingerprint.store import SongInfo, SQLiteStore, encode_postings
from aares.fingerprint.variants import add_noise, change_speed, write_pcm16

from ._common import peak_rss_mb, stamp, write_section

WORK = Path(os.environ.get("AARES_SCALE_WORK", "/tmp/aares-fingerprint-scale"))
SIZES = [float(h) for h in os.environ.get("AARES_SCALE_HOURS", "10,100,1000").split(",")]
# the in-memory design needs ~12 bytes a posting: measured up to 120 h (under 6 GB), or
# AARES_SCALE_MEMORY_HOURS (0: not at all)
MEMORY_MAX_HOURS = float(os.environ.get("AARES_SCALE_MEMORY_HOURS", "120"))
HELD_OUT = 5
QUERY_SR = 44100
# time factors of the reversed copies (log-uniform on either side): outside the tempo
# factors the matcher searches (0.78-1.28), since a steady loop played backwards at its own
# tempo sounds like itself (a copy stretched 0.7-1.4 matched a noisy excerpt of its song)
STRETCH = ((0.6, 0.72), (1.4, 1.6))
# ... and wobbling by +-6 % over 20 s (625 frames): a held-out song built on a steady loop
# like a copy's, at the copy's tempo, matched the copy when its tempo was steady (a drum
# loop played backwards is a drum loop); the local tempo stays outside 0.78-1.28
WOBBLE = 0.06
PERIOD = 625.0
# transposition of the copies, whole semitones (equal temperament: real songs share its
# grid, and copies transposed by fractions of a semitone met 20-25 % fewer postings of real
# music than real songs do); 5 or more, beyond every frequency factor the matcher searches
# (1.28x = 4.3 semitones). Copies kept at the songs' pitch met their own song 31 times as
# often as another real song does (three-point keys), which made the catalog a few families
# of near-identical songs; see copy_honesty
SEMITONES = (-9, -8, -7, -6, -5, 5, 6, 7, 8, 9)
THREADS = 2  # copies generated and compressed at once (zlib releases the GIL)
# a folder to keep each size's store in (store-<size>h.db + .json): a later run with the same
# generator copies it instead of generating the songs again (its index is built anew, e.g.
# for another index layout); unset: nothing kept
# AARES_SCALE_SERVE=0: build (and keep) the catalogs only, no serving measurements
SERVE = os.environ.get("AARES_SCALE_SERVE", "1") != "0"
# each size's index is compacted into one segment (each key then looked up once: at 10,000 h
# positives CPU p50 24-34 ms against ~50 in 2 segments) when the disk has room for it beside
# the unmerged index (a merge writes its output beside its inputs: 20 GB at 10,000 h, beside
# the store's 17 GB and the unmerged 21 GB), else into segments of about this many hours
SEGMENT_HOURS = float(os.environ.get("AARES_SCALE_SEGMENT_HOURS", "5000"))
STORES = Path(os.environ["AARES_SCALE_STORES"]) if os.environ.get("AARES_SCALE_STORES") else None
# AARES_SCALE_RESERVE=1: build nothing; serve the catalog a run left in AARES_SCALE_WORK
# (its results.json's last size) again with today's code, e.g. a catalog built with
# AARES_SCALE_SERVE=0 while the matcher was still changing
RESERVE = os.environ.get("AARES_SCALE_RESERVE", "0") == "1"
# AARES_SCALE_RESUME=1: a run that stopped after its store was complete (during the index
# build): the store in AARES_SCALE_WORK is kept, its index built again from it (measured) and
# the catalog served; the store's build figures are not known ("-" in the tables)
RESUME = os.environ.get("AARES_SCALE_RESUME", "0") == "1"
# rows of other runs (their results.json, ':'-separated) shown in this run's tables, e.g. a
# larger catalog built in a folder of its own (and served again with AARES_SCALE_RESERVE)
MORE = [Path(p) for p in os.environ.get("AARES_SCALE_MORE", "").split(":") if p]
# more real music for the honesty check of the copies only (folders, ':'-separated)
EXTRA_MUSIC = [Path(p) for p in os.environ.get("AARES_SCALE_MUSIC", "").split(":") if p]


def synthetic_postings(points, strength, profile, stretch: float, phase=0.0, pitch=1.0):
    """Landmarks of a copy of a song's peaks, transposed by ``pitch`` (a frequency factor),
    played backwards on a warped time line (see the module docstring):
    ``(hashes, frames)`` as the store keeps a song's.

    The local tempo is ``stretch * (1 + WOBBLE * sin(2 pi t / PERIOD + phase))``: no stretch
    of the query aligns with it at one offset for longer than a few seconds. Peaks
    transposed above the analysis's top bin (``n_fft / 2``) are dropped, as an analysis
    would never find them."""
    if not points.size:
        return peak_landmarks(points, strength, profile)
    t = points[:, 1].max() - points[:, 1]
    w = 2 * np.pi / PERIOD
    warped = stretch * (t - WOBBLE / w * (np.cos(w * t + phase) - np.cos(phase)))
    f = points[:, 0] * pitch
    keep = f <= profile.n_fft // 2
    t, f, strength = np.rint(warped[keep]), f[keep], strength[keep]
    order = np.lexsort((f, t))  # time order, then bin, as an analysis gives
    return peak_landmarks(np.column_stack([f[order], t[order]]), strength[order], profile)


def _factors(rng, n: int, ranges, side=None) -> np.ndarray:
    # n factors, each log-uniform in one of the two ranges (chosen at random, or by side)
    side = rng.integers(0, 2, n) if side is None else side
    lo, hi = np.log(np.array(ranges)[side]).T
    return np.exp(rng.uniform(lo, hi))


def _transforms(seed, n: int) -> list[tuple[float, float, float]]:
    # n copies' (stretch, phase, pitch), the arguments of synthetic_postings. A
    # slower copy goes up, a faster one down: never near resampling (faster and higher by
    # one factor), which real music does to its own material (a held-out song met copies
    # of another song of its album sped up 1.45x and transposed 7 semitones up, reversed:
    # 84 votes at speed 1)
    rng = np.random.default_rng(seed)
    side = rng.integers(0, 2, n)
    stretch, phase = _factors(rng, n, STRETCH, side), rng.uniform(0, 2 * np.pi, n)
    semis = np.array(SEMITONES)
    up, down = semis[semis > 0], semis[semis < 0]
    pitch = 2.0 ** (np.where(side == 1, rng.choice(up, n), rng.choice(down, n)) / 12)
    return [(float(s), float(p), float(q)) for s, p, q in zip(stretch, phase, pitch, strict=True)]


def _copy(c: int, peaks, profile, rate: float) -> list[tuple[SongInfo, bytes]]:
    # every real song's copy number c: (info, postings blob), ready for the store
    out = []
    for j, ((pts, strength), tr) in enumerate(
        zip(peaks, _transforms([1, c], len(peaks)), strict=True)
    ):
        h, fr = synthetic_postings(pts, strength, profile, *tr)
        info = SongInfo(
            f"synthetic://{c}/{j}", f"copy {c} of {j}", "", h.size / rate,
            f"synthetic:{c}:{j}", n_hashes=int(h.size),
        )  # fmt: skip
        out.append((info, encode_postings(h, fr)))
    return out


def _backup(src: Path, dst: Path) -> None:
    # a consistent copy of an SQLite file whatever its WAL holds (SQLite's backup API)
    with (
        contextlib.closing(sqlite3.connect(src)) as a,
        contextlib.closing(sqlite3.connect(dst)) as b,
    ):
        a.backup(b)


_SONG_SIDE = (
    "sr n_fft hop_length win_length picker peak_size peak_floor_db max_per_second dt_min "
    "dt_max df_max fan_out strongest f_bits df_bits dt_bits absolute_f2 resample_quality"
).split()


def _song_side(method: str) -> list:
    # a kept store's method, its profile reduced to the song side (an older run may have
    # written the whole profile)
    return [
        {k: v for k, v in x.items() if k in _SONG_SIDE} if isinstance(x, dict) else x
        for x in json.loads(method)
    ]


def _method(profile, real_hours: float) -> str:
    # what a kept store depends on: the generator's parameters, the profile, the real songs
    # (a song's analysis only: the query's and the query index's parameters do not change
    # what the store holds)
    params = {k: v for k, v in profile.to_dict().items() if k in _SONG_SIDE}
    return json.dumps([STRETCH, WOBBLE, PERIOD, SEMITONES, "up when slower", params, real_hours])


def _table(arrays) -> tuple[np.ndarray, np.ndarray]:
    # distinct keys of some postings and how many postings each
    a = np.concatenate(arrays) if arrays else np.zeros(0, np.uint64)
    return np.unique(a, return_counts=True)


def _rate(q: np.ndarray, arrays) -> float:
    # chance meetings per (query landmark, posting): how often one of q's keys meets one
    # posting of ``arrays`` (a lookup's cost per posting of the catalog)
    keys, n = _table(arrays)
    total = sum(a.size for a in arrays)
    if keys.size == 0 or q.size == 0 or total == 0:
        return float("nan")
    i = np.minimum(np.searchsorted(keys, q), keys.size - 1)
    return float(np.where(keys[i] == q, n[i], 0).sum()) / (q.size * total)


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("nan")  # a song that meets none: left out of the mean


def copy_honesty(real: dict, copies: dict, profile, album: dict | None = None) -> dict:
    """How alike the synthetic copies are to real music, on the store's pair hashes and on
    the query index's keys (three-point keys for the default profile).

    ``real``: ``{song: (hashes, frames)}`` of every real song at hand (indexed and held
    out); ``copies``: ``{(c, song): (hashes, frames)}``, copy ``c`` of an indexed song.
    Rates of chance meetings per (landmark, posting) (:func:`_rate`), each relative to a real
    song's rate against the *other* real songs (1: as alike as two real songs):

    * ``others``: a real song's landmarks against the copies of the other songs (below 1,
      the copies make a large catalog look cheaper to query than real music would);
    * ``own``: a real song against its own copies (real music holds no hundreds of versions
      of one song; two songs of one composer meet a few times as often as the mean);
    * ``family``: one copy against the other copies of the same song (how far the catalog
      is made of families of near-identical songs: its buckets, its stop list);
    * ``others_vs_albums``: ``others`` relative to the real songs of *other albums*
      (``album``: ``{song: folder}``) instead: songs of one album meet each other more often
      than songs of different artists do (7 piano pieces here: 3.6 times the mean on
      three-point keys), and a large library is mostly pairs of songs of different albums;

    and per key kind the distinct keys per posting and the mean bucket a posting meets
    (``sum n_k^2 / sum n_k``), among the real songs and among as many copies' postings.
    """
    out = {}
    for kind in ("pairs", "index"):

        def keys(hf, kind=kind):
            h, fr = hf
            if kind == "index":
                h = index_landmarks(h, fr, profile)[0]
            return np.asarray(h, dtype=np.uint64)

        rk = {j: keys(v) for j, v in real.items()}
        ck = {jc: keys(v) for jc, v in copies.items()}
        n_copies = 1 + max(c for c, _ in ck)
        rel = {"others": [], "own": [], "family": [], "others_vs_albums": []}
        for j in sorted({j for _, j in ck}):
            base = _rate(rk[j], [v for k, v in rk.items() if k != j])
            own = [ck[(c, j)] for c in range(n_copies)]
            others = _rate(rk[j], [v for (_, k), v in ck.items() if k != j])
            rel["others"].append(_ratio(others, base))
            if album is not None:
                away = [v for k, v in rk.items() if album[k] != album[j]]
                rel["others_vs_albums"].append(_ratio(others, _rate(rk[j], away) if away else 0))
            rel["own"].append(_ratio(_rate(rk[j], own), base))
            rel["family"].append(_ratio(_rate(own[0], own[1:]), base))
        n = sum(v.size for v in rk.values())
        pool = np.concatenate([ck[k] for k in sorted(ck)])[:n]
        row = {k: float(np.nanmean(v)) if v else float("nan") for k, v in rel.items()}
        for name, a in (("real", np.concatenate(list(rk.values()))), ("copies", pool)):
            _, cnt = np.unique(a, return_counts=True)
            row[f"{name}_distinct_per_posting"] = cnt.size / max(a.size, 1)
            row[f"{name}_bucket_met"] = float((cnt.astype(np.float64) ** 2).sum() / max(a.size, 1))
        row["postings"] = int(min(n, pool.size))
        out[kind] = row
    return out


def positive_excerpt(x, sr: int, kind: str, length: float, k: int, rng):
    """One of issue 18's positives of song number ``k``: ``(excerpt, start in seconds)``;
    ``kind`` starts with "speed" (5 % fast for odd ``k``, slow for even), "noise" (white
    noise at 0 dB) or is clean."""
    speed = (1.05 if k % 2 else 0.95) if kind.startswith("speed") else 1.0
    a = int(rng.uniform(0, x.size / sr - length * 1.06 - 0.5) * sr)
    seg = x[a : a + int(length * speed * sr)]
    if speed != 1.0:
        seg = change_speed(seg, sr, speed)
    if kind.startswith("noise"):
        seg = add_noise(seg, 0.0, rng)
    return seg, a / sr


def _queries(real, held, profile, folder: Path, rng) -> list[dict]:
    # positives: clean 5 s, noise 0 dB 10 s, speed +-5 % 10 s of every indexed real song;
    # negatives: 10 excerpts of each held-out song (clean 5 s, noise 10 s) and the course's
    # Debussy excerpt
    folder.mkdir(parents=True, exist_ok=True)
    out = []

    def write(x, sr, name, **kw):
        path = folder / f"{len(out):03d}.wav"
        write_pcm16(path, x, sr)
        out.append({"path": str(path), "kind": name, **kw})

    for k, (sid, path) in enumerate(real):
        x, sr = load_audio(path, sr=QUERY_SR)
        dur = x.size / sr
        for kind, length in (("clean 5 s", 5), ("noise 0 dB 10 s", 10), ("speed 10 s", 10)):
            if dur < length * 1.1 + 1:
                continue
            seg, start = positive_excerpt(x, sr, kind, length, k, rng)
            write(seg, sr, kind, song=sid, start=start)
    for path in held:
        x, sr = load_audio(path, sr=QUERY_SR)
        dur = x.size / sr
        for i in range(10):
            length = 5 if i % 2 == 0 else 10
            a = int(rng.uniform(0, max(dur - length - 0.5, 0.1)) * sr)
            seg = x[a : a + length * sr]
            if i % 2:
                seg = add_noise(seg, 0.0, rng)
            write(seg, sr, "negative", song=None, source=str(path), start=a / sr, length=length)
    return out


def runs_together(cat: Catalog, query: dict, match) -> list[float]:
    """The evidence that a held-out excerpt answered with a real song shares its recording.

    The excerpt's neighbours in its own song (the same length, starting 1-4 times
    ``length / 2`` earlier and later) are identified too; returned: the starts of those that
    name the same song at the same relative time (within 0.1 s). Two tracks mixed from a
    common stem meet there again; a chance or similar-sounding match does not come back at
    one relative time (``Catalog.related_songs`` asks two windows the same way). Held-out
    "Aberrations" shares a layer of its first 16 s with indexed "Nebula", sample for
    sample from the first sample (BENCHMARKS.md, "Held-out excerpts that share a recording").
    """
    prof = cat.profile
    x, _ = load_audio(query["source"], sr=prof.sr, quality=prof.resample_quality)
    start, length, lag = query["start"], query["length"], match.offset - query["start"]
    agree = []
    for k in (-4, -3, -2, -1, 1, 2, 3, 4):
        s = start + k * length / 2
        if s < 0 or (s + length) * prof.sr > x.size:
            continue
        m = cat.identify_signal(x[int(s * prof.sr) : int((s + length) * prof.sr)])
        if m and m[0].song_id == match.song_id and abs(m[0].offset - s - lag) <= 0.1:
            agree.append(round(s, 2))
    return agree


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
    # (killed, this run ends the serving process too: subprocess.run kills it on the interrupt)
    with sigterm_as_interrupt():
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
    keep_freed_memory()  # as the service's identify workers and `aares fp identify` do
    c0 = time.process_time()
    cat = Catalog(db, index=kind, readonly=True)
    cat.identify(queries[0]["path"])
    first_s, first_cpu = time.perf_counter() - t_imported, time.process_time() - c0
    rss_open = peak_rss_mb()
    pos, neg, by_kind, fp, copies, answered = [], [], {}, 0, 0, []
    for q in queries:
        t0, c0 = time.perf_counter(), time.process_time()
        m = cat.identify(q["path"])
        ms = ((time.process_time() - c0) * 1e3, (time.perf_counter() - t0) * 1e3)
        if q["song"] is None:
            neg.append(ms)
            fp += bool(m)
            copies += bool(m) and m[0].path.startswith("synthetic")
            if m:
                answered.append((q, m[0]))
        else:
            pos.append(ms)
            ok = bool(m) and m[0].song_id == q["song"]
            copies += any(x.path.startswith("synthetic") for x in m)
            hit, n = by_kind.get(q["kind"], (0, 0))
            by_kind[q["kind"]] = (hit + ok, n + 1)
    # (after the timed queries) held-out excerpts answered with a real song that shares
    # their recording: counted apart from the false positives, with the evidence
    shared = []
    for q, m in answered:
        if q.get("source") and not m.path.startswith("synthetic"):
            agree = runs_together(cat, q, m)
            if agree:
                shared.append(
                    {
                        "query": q["path"],
                        "source": Path(q["source"]).name,
                        "start": round(q["start"], 2),
                        "song": m.title,
                        "offset": round(m.offset, 2),
                        "score": m.score,
                        "significance": round(m.significance, 1),
                        "neighbours_agreeing": agree,
                    }
                )
    idx = cat.index
    pos, neg = np.array(pos), np.array(neg)
    return {
        "import_s": import_s,
        "first_s": first_s,
        "first_cpu_s": first_cpu,
        "p50_pos": float(np.percentile(pos[:, 0], 50)),
        "p95_pos": float(np.percentile(pos[:, 0], 95)),
        "p50_neg": float(np.percentile(neg[:, 0], 50)),
        "p95_neg": float(np.percentile(neg[:, 0], 95)),
        "wall_p50_pos": float(np.percentile(pos[:, 1], 50)),
        "wall_p50_neg": float(np.percentile(neg[:, 1], 50)),
        "accuracy": {k: h / n for k, (h, n) in by_kind.items()},
        "false_positives": fp - len(shared),
        "shares_recording": shared,
        "negatives": len(neg),
        "copies_named": int(copies),
        "index_mb": idx.nbytes / 1e6,
        "postings": len(idx),
        "serve_rss_mb": peak_rss_mb(),
        "rss_after_first_mb": rss_open,
        **_rss_parts(),
    }


class _PeakParts:
    """Peaks of this process's anonymous and file-backed resident memory, sampled every
    ``period`` seconds on a thread (VmHWM holds only their sum's peak: mapped index files
    count in it, though the kernel can drop their clean pages, while anonymous memory is
    what can run the machine out of memory)."""

    def __init__(self, period: float = 0.5) -> None:
        self.peak = {"rssanon_mb": 0.0, "rssfile_mb": 0.0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(period,), daemon=True)
        self._thread.start()

    def _run(self, period: float) -> None:
        while not self._stop.wait(period):
            for k, v in _rss_parts().items():
                self.peak[k] = max(self.peak[k], v)

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        return dict(self.peak)


def _parts(cat: Catalog, hours: float) -> int:
    # one segment when the free disk holds a copy of the index as its songs' segments left
    # it (with a tenth to spare), else parts of SEGMENT_HOURS
    unmerged = cat.index.nbytes  # (writes the songs' segments first)
    free = shutil.disk_usage(index_folder_for(cat.store)).free
    parts = 1 if free > 1.1 * unmerged else max(1, math.ceil(hours / SEGMENT_HOURS))
    # (said in the log: a run of 2026-12-04 cut its 10,000 h index into 3 for a reason that
    # its log did not keep)
    print(
        f"{hours:,.0f} h: index of {unmerged / 1e9:.1f} GB before its merge, {free / 1e9:.1f} GB"
        f" free: {parts} segment(s)",
        flush=True,
    )
    return parts


def _rss_parts() -> dict:
    # resident now: anonymous (the process's own arrays) and file-backed (mapped index
    # pages, libraries), in MB
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        for key in ("RssAnon", "RssFile"):
            if line.startswith(key + ":"):
                out[key.lower() + "_mb"] = int(line.split()[1]) / 1024
    return out


def add_one_song(db: Path, path: Path) -> dict:
    """Add a song to the catalog as ``aares fp add`` does, then take it out again.

    Timed twice: ``Catalog.add`` whole (decoding and analysis included), and the part
    beyond the analysis alone (the song decoded and analysed first, then stored and the
    index brought in step: a new segment and manifest), which is what the catalog's size
    could change."""
    prof = get_profile("default")
    cat = Catalog(db)
    t0, c0 = time.perf_counter(), time.process_time()
    rep = cat.add([path])
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    for song in rep.added:
        cat.remove(song.id)
    cat.index  # noqa: B018 (the removed song's segment leaves the manifest)
    t0, c0 = time.perf_counter(), time.process_time()
    res = _analyse_file(str(path), prof.name)
    an_wall, an_cpu = time.perf_counter() - t0, time.process_time() - c0
    info = SongInfo(res["path"], res["title"], res["artist"], res["duration"], f"again:{path}")
    t0, c0 = time.perf_counter(), time.process_time()
    sid = cat.store.add_song(info, res["hashes"], res["frames"])
    cat.index  # noqa: B018 (in step: the song's segment written, the manifest replaced)
    beyond_wall, beyond_cpu = time.perf_counter() - t0, time.process_time() - c0
    cat.remove(sid)
    cat.index  # noqa: B018
    segments = len(cat.index.segments) if hasattr(cat.index, "segments") else 0
    cat.close()
    return {
        "analysis_wall_s": an_wall,
        "analysis_cpu_s": an_cpu,
        "add_wall_s": wall,
        "add_cpu_s": cpu,
        "beyond_wall_s": beyond_wall,
        "beyond_cpu_s": beyond_cpu,
        "added": len(rep.added),
        "segments_after": segments,
    }


def check_copies(
    peaks: list, files: list[Path], others: list[Path], profile, n_copies: int = 8
) -> dict:
    """:func:`copy_honesty` of ``n_copies`` copies of each indexed song (``peaks`` of
    ``files``; their folders are their albums), the
    real side being those songs and the songs of ``others`` (files or folders: the
    held-out songs, and any more music at hand, ``AARES_SCALE_MUSIC``)."""
    real = {j: peak_landmarks(*pk, profile) for j, pk in enumerate(peaks)}
    album = {j: str(Path(f).parent) for j, f in enumerate(files)}
    for f in audio_files(others):
        x, _ = load_audio(f, sr=profile.sr, quality=profile.resample_quality)
        album[len(real)] = str(f.parent)
        real[len(real)] = peak_landmarks(*analyse(x, profile), profile)
    copies = {
        (c, j): synthetic_postings(*pk, profile, *tr)
        for c in range(n_copies)
        for j, (pk, tr) in enumerate(zip(peaks, _transforms([2, c], len(peaks)), strict=True))
    }
    return {
        "real_songs": len(real),
        "albums": len(set(album.values())),
        "copies": len(copies),
        **copy_honesty(real, copies, profile, album),
    }


def real_songs(data_dir: Path) -> tuple[list[Path], list[Path]]:
    """The real songs of the data folder and the ``HELD_OUT`` of them kept out of every
    catalog (evenly spaced in the sorted list: the negatives' songs)."""
    files = audio_files([data_dir / "songs", data_dir / "music" / "singularity"])
    return files, files[:: max(1, len(files) // HELD_OUT)][:HELD_OUT]


def run(data_dir: Path) -> dict:
    profile = get_profile("default")
    files, held = real_songs(data_dir)
    indexed = [f for f in files if f not in held]
    WORK.mkdir(parents=True, exist_ok=True)
    for old in WORK.iterdir():  # a fresh catalog (kept stores apart)
        if STORES is None or old.resolve() != STORES.resolve():
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    if STORES is not None:
        STORES.mkdir(parents=True, exist_ok=True)
    db = WORK / "scale.db"
    store = SQLiteStore(db, profile="default")
    real, peaks, hours, n_real = [], [], 0.0, 0
    t_an = time.process_time()
    for f in indexed:
        x, sr = load_audio(f, sr=profile.sr, quality=profile.resample_quality)
        pk = analyse(x, profile)
        h, fr = peak_landmarks(*pk, profile)
        info = SongInfo(str(f), f.stem, "", x.size / sr, f"real:{f.name}")
        real.append((store.add_song(info, h, fr), f))
        peaks.append(pk)
        hours += x.size / sr / 3600
        n_real += h.size
    analysis_cpu = time.process_time() - t_an
    real_hours = hours
    # a copy counts for the audio that real music needs for as many postings
    rate = n_real / (hours * 3600)
    honesty = check_copies(peaks, indexed, held + EXTRA_MUSIC, profile)
    rng = np.random.default_rng(0)
    queries = _queries(real, held, profile, WORK / "queries", rng)
    for d in sorted((data_dir / "excerpts").glob("*")):
        queries.append({"path": str(d), "kind": "negative", "song": None})
    (WORK / "queries.json").write_text(json.dumps(queries))
    (WORK / "README.txt").write_text(
        "Catalogs of python -m benchmarks fingerprint-scale (aares), rebuilt by each run:\n"
        f"scale.db + scale.db.index/: {len(real)} real songs ({real_hours:.2f} h) and reversed,"
        " time-stretched copies of their peaks; sizes " + ",".join(map(str, SIZES)) + " h\n"
    )
    rows = []
    copy = 0
    index_wall_total = index_cpu_total = 0.0
    pool = ThreadPoolExecutor(THREADS)
    store_wall_total = store_cpu_total = 0.0
    for size in SIZES:
        held_memory = _PeakParts()
        t0, c0 = time.perf_counter(), time.process_time()
        snap = STORES / f"store-{size:g}h.db" if STORES else None
        reused = None
        if snap is not None and snap.exists():
            # the store of an earlier run at this size (same generator): copied into place,
            # its build time is that run's; the index is built again below
            reused = json.loads(snap.with_suffix(".json").read_text())
            if _song_side(reused["method"]) != _song_side(_method(profile, real_hours)):
                raise RuntimeError(f"{snap}: built by another generator; delete it to rebuild")
            store.close()
            for tail in ("", "-wal", "-shm"):
                Path(f"{db}{tail}").unlink(missing_ok=True)
            _backup(snap, db)
            store = SQLiteStore(db)
            hours, copy = reused["hours"], reused["copies"]
        ahead: collections.deque = collections.deque()
        while hours < size:
            while len(ahead) < 2 * THREADS:
                ahead.append(pool.submit(_copy, copy, peaks, profile, rate))
                copy += 1
            for info, blob in ahead.popleft().result():
                store.add_blob(info, blob)
                hours += info.duration / 3600
                if hours >= size:
                    break
        for fut in ahead:  # copies generated past the size: dropped (their numbers unused)
            fut.cancel()
        store.checkpoint()
        store_wall, store_cpu = time.perf_counter() - t0, time.process_time() - c0
        if reused is not None:
            store_wall_total, store_cpu_total = reused["store_wall_s"], reused["store_cpu_s"]
        else:
            store_wall_total += store_wall
            store_cpu_total += store_cpu
            if snap is not None:
                _backup(db, snap)
                snap.with_suffix(".json").write_text(
                    json.dumps(
                        {
                            "method": _method(profile, real_hours),
                            "hours": hours,
                            "copies": copy,
                            "store_wall_s": store_wall_total,
                            "store_cpu_s": store_cpu_total,
                            "load": os.getloadavg(),
                            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                        }
                    )
                )
        t1, c1 = time.perf_counter(), time.process_time()
        cat = Catalog(store=store)
        cat.compact(parts=_parts(cat, size))
        index_wall, index_cpu = time.perf_counter() - t1, time.process_time() - c1
        index_wall_total += index_wall
        index_cpu_total += index_cpu
        folder = Path(f"{db}.index")
        index_bytes = sum(p.stat().st_size for p in folder.iterdir() if p.suffix == ".aix")
        row = {
            "hours": hours,
            "songs": len(store.song_ids()),
            # the store's songs up to this size, then every index build and merge so far
            "build_wall_s": store_wall_total + index_wall_total,
            "build_cpu_s": store_cpu_total + index_cpu_total,
            "store_wall_s": store_wall_total,
            "store_cpu_s": store_cpu_total,
            "index_wall_s": index_wall,
            "index_cpu_s": index_cpu,
            "store_reused": reused,
            "index_mb_per_h": index_bytes / 1e6 / hours,
            "store_mb_per_h": store.size_bytes() / 1e6 / hours,
            "builder_rss_mb": peak_rss_mb(),
            # peaks while this size was built (store and index)
            **{f"builder_{k}": v for k, v in held_memory.stop().items()},
            "load": os.getloadavg(),
        }
        _serve_row(db, row, queries, held[0])
        rows.append(row)
        print(json.dumps(row), flush=True)
        res = {
            "rows": rows,
            "analysis_cpu_s": analysis_cpu,
            "real_hours": real_hours,
            "real_songs": len(real),
            "honesty": honesty,
        }
        # after each size: a later run can serve this catalog again (AARES_SCALE_RESERVE)
        # or add these rows to its table (AARES_SCALE_MORE)
        (WORK / "results.json").write_text(json.dumps(res, indent=1))
    pool.shutdown()
    store.close()
    return res


def _fig(r: dict) -> dict:
    # the figures of one size's row that the tables show and the growth table compares
    d, st = r["disk"], r["stats"]
    return {
        "build CPU (store + index), s": None
        if r["store_cpu_s"] is None
        else r["store_cpu_s"] + r["index_cpu_s"],
        "index build CPU, s": r["index_cpu_s"],
        "index MB per audio hour": r["index_mb_per_h"],
        "open + first answer CPU, s": d["first_cpu_s"],
        "warm CPU p50 positives, ms": d["p50_pos"],
        "warm CPU p50 negatives, ms": d["p50_neg"],
        "serving peak RSS, MB": d["serve_rss_mb"],
        "mean bucket met by a posting": st["bucket_occupancy"]["seen_by_a_posting"],
        "add a song beyond its analysis, CPU s": r["add"]["beyond_cpu_s"],
    }


def tables(rows: list[dict]) -> str:
    """The per-size tables, the growth from the smallest size and the extrapolation to
    10,000 h (from the last two sizes' log-log slope), all through ``markdown_table``."""
    import pandas as pd

    from aares.markdown import markdown_table

    main, detail = [], []
    for r in rows:
        d, ad, st = r["disk"], r["add"], r["stats"]
        acc = d["accuracy"]
        main.append(
            {
                "catalog": f"{r['hours']:,.0f} h",
                "songs": r["songs"],
                "index": f"{r['index_mb_per_h']:.2f} MB/h",
                "build CPU: store + index (wall)": (
                    f"{r['store_cpu_s']:.0f} + {r['index_cpu_s']:.0f} s"
                    f" ({r['store_wall_s'] + r['index_wall_s']:.0f} s)"
                    if r["store_cpu_s"] is not None
                    else f"- + {r['index_cpu_s']:.0f} s (index {r['index_wall_s']:.0f} s)"
                ),
                "open + first answer, new process": f"{d['first_cpu_s']:.2f} s CPU"
                f" ({d['first_s']:.2f} s wall)",
                "warm CPU p50 / p95, positives": f"{d['p50_pos']:.0f} / {d['p95_pos']:.0f} ms",
                "negatives p50 / p95": f"{d['p50_neg']:.0f} / {d['p95_neg']:.0f} ms",
                "serving peak RSS": f"{d['serve_rss_mb']:,.0f} MB",
                "clean 5 s": f"{acc.get('clean 5 s', 0):.0%}",
                "noise 0 dB 10 s": f"{acc.get('noise 0 dB 10 s', 0):.0%}",
                "speed +-5 % 10 s": f"{acc.get('speed 10 s', 0):.0%}",
                "false positives": f"{d['false_positives']} of {d['negatives']}",
                "named a song sharing their recording": len(d.get("shares_recording", [])),
                "copies named": d["copies_named"],
            }
        )
        occ = st["bucket_occupancy"]
        detail.append(
            {
                "catalog": f"{r['hours']:,.0f} h",
                "store": f"{r['store_mb_per_h']:.2f} MB/h",
                "segments": st.get("segments", 1),
                "builder peak RSS (peaks anon / file)": f"{r['builder_rss_mb']:,.0f} MB"
                + (
                    f" ({r['builder_rssanon_mb']:,.0f} / {r['builder_rssfile_mb']:,.0f})"
                    if "builder_rssanon_mb" in r
                    else ""
                ),
                "RSS anon / file at end": f"{d.get('rssanon_mb', 0):.0f} /"
                f" {d.get('rssfile_mb', 0):.0f} MB",
                "wall p50 pos / neg": f"{d['wall_p50_pos']:.0f} / {d['wall_p50_neg']:.0f} ms",
                "add a song beyond its analysis (wall / CPU)": f"{ad['beyond_wall_s']:.2f} /"
                f" {ad['beyond_cpu_s']:.2f} s",
                "postings": f"{st['postings']:,}",
                "distinct keys": f"{st['distinct_hashes']:,}",
                "mean bucket met by a posting": f"{occ['seen_by_a_posting']:.0f}",
                "load (1 min) built / served": f"{r['load'][0]:.1f} /"
                f" {r.get('served', {}).get('load', r['load'])[0]:.1f}",
                "served by": r.get("served", {}).get("commit", "-"),
            }
        )
    out = [markdown_table(pd.DataFrame(main)), "", markdown_table(pd.DataFrame(detail))]
    if len(rows) > 1:
        base, figs = rows[0], [_fig(r) for r in rows]
        grow = {}
        for r, f in zip(rows[1:], figs[1:], strict=True):
            grow[f"{r['hours']:,.0f} h ({r['hours'] / base['hours']:.0f}x audio)"] = {
                k: f"{v / figs[0][k]:.2f}x" if figs[0][k] and v is not None else "-"
                for k, v in f.items()
            }
        (h0, f0), (h1, f1) = ((r["hours"], f) for r, f in zip(rows[-2:], figs[-2:], strict=True))
        ext = {}
        for k in f1:
            if f0[k] is not None and f1[k] is not None and f0[k] > 0 and f1[k] > 0 and h1 > h0:
                slope = np.log(f1[k] / f0[k]) / np.log(h1 / h0)
                ext[k] = f"{f1[k] * (10_000 / h1) ** slope:,.2f} (x{10**slope:.2f} per 10x)"
            else:
                ext[k] = "-"
        if h1 < 9_999:  # (measured at 10,000 h: nothing to extrapolate)
            grow["extrapolated to 10,000 h"] = ext
        table = pd.DataFrame(grow)
        table.index.name = f"figure (growth from {base['hours']:,.0f} h)"
        out += ["", markdown_table(table, index=True)]
    return "\n".join(out)


def _markdown(res: dict) -> str:
    rows = res["rows"]
    lines = [
        "### Catalogs of " + ", ".join(f"{r['hours']:,.0f}" for r in rows) + " audio hours"
        " (`python -m benchmarks fingerprint-scale`)",
        "",
        stamp(),
        "Command: `AARES_SCALE_HOURS=" + ",".join(f"{h:g}" for h in SIZES) + " nice -n"
        " 10 python -m benchmarks fingerprint-scale --data ../shared/data`"
        + (" (the catalog of an earlier run served again: `AARES_SCALE_RESERVE=1`)" * RESERVE)
        + ". Times are CPU unless marked wall (the machine is shared; load in the second"
        ' table; "served by": the commit whose code served the catalog).',
        "",
        tables(rows),
        *shared_markdown(rows),
        "",
        honesty_markdown(res["honesty"], res["real_songs"], res["real_hours"]),
    ]
    for path in res.get("more", []):
        lines += [
            "",
            f"Rows from another run (`AARES_SCALE_MORE={path}`): built there (its build figures"
            " and peaks) and served there, or again with `AARES_SCALE_RESERVE=1`, by the"
            " commit in the second table.",
        ]
    for r in rows:
        if r.get("resumed"):
            lines += [
                "",
                f"The store of {r['hours']:,.0f} h comes from a run that stopped during its index"
                ' build: its build figures are not known ("-"); the index was built again'
                " from it and measured (`AARES_SCALE_RESUME=1`).",
            ]
        if r.get("store_reused"):
            u = r["store_reused"]
            lines += [
                "",
                f"The store of {r['hours']:,.0f} h was generated by a run of {u['date']} (load"
                f" {u['load'][0]:.1f}) and copied in: its store time is that run's.",
            ]
    return "\n".join(lines)


def shared_markdown(rows: list[dict]) -> list[str]:
    """The held-out excerpts named with a song that shares their recording, with the
    evidence (see :func:`runs_together`)."""
    out = []
    for r in rows:
        for c in r.get("disk", {}).get("shares_recording", []):
            out.append(
                f"- {r['hours']:,.0f} h: the excerpt of *{c['source']}* at {c['start']:.2f} s"
                f" was named *{c['song']}* at {c['offset']:.2f} s ({c['score']} votes,"
                f" significance {c['significance']}); its neighbours in its own song at"
                f" {', '.join(f'{a:.2f}' for a in c['neighbours_agreeing'])} s name"
                f" *{c['song']}* at the same relative time."
            )
    if out:
        out = [
            "",
            "Held-out excerpts named with a real song that shares their recording (counted"
            " apart from the false positives; `runs_together`):",
            "",
            *out,
        ]
    return out


def honesty_markdown(h: dict, indexed: int, hours: float) -> str:
    """The honesty check of the copies (:func:`check_copies`) as a paragraph and a table."""
    import pandas as pd

    from aares.markdown import markdown_table

    rows = []
    for kind, name in (("pairs", "pair hashes (store)"), ("index", "index keys")):
        r = h[kind]
        rows.append(
            {
                "keys": name,
                "real song vs other songs' copies": r["others"],
                "... relative to other albums' songs": r["others_vs_albums"],
                "vs its own copies": r["own"],
                "a copy vs its song's other copies": r["family"],
                "distinct keys per posting, real / copies": f"{r['real_distinct_per_posting']:.3f}"
                f" / {r['copies_distinct_per_posting']:.3f}",
                "mean bucket met, real / copies": f"{r['real_bucket_met']:.2f}"
                f" / {r['copies_bucket_met']:.2f}",
            }
        )
    return (
        f"**Honesty of the copies** ({indexed} real songs indexed, {hours:.2f} h; the real side"
        f" {h['real_songs']} songs of {h['albums']} albums with the held-out ones,"
        f" {h['copies']} copies): chance"
        " meetings per (landmark, posting), relative to a real song against the other real"
        " songs (1: as alike as two real songs; below 1 a large catalog of copies looks"
        " cheaper to query than real music). Distinct keys and the mean bucket a posting"
        f" meets among the real songs and among as many postings of copies"
        f" ({h['index']['postings']:,} index keys):\n\n"
        + markdown_table(pd.DataFrame(rows), floatfmt="{:.2f}")
    )


def _git_head() -> str:
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return out.stdout.strip() or "?"


def _serve_row(db: Path, row: dict, queries: list[dict], held: Path) -> None:
    # one size's serving figures, measured now (``row`` updated in place); the time to add a
    # song and the catalog's stats only when the row has none yet or its index files changed
    # since (served again: the same index, and its stats decode all of it)
    t = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    for kind in ("disk", "memory") if SERVE else ():
        if kind == "memory" and row["hours"] > MEMORY_MAX_HOURS:
            continue
        row[kind] = _new_process(db, kind, queries)
    files = _index_files(db)
    if row.get("index_files") != files:  # (a row of an older run has none: measured again)
        row.pop("add", None)
        row.pop("stats", None)
    if "add" not in row:
        row["add"] = add_one_song(db, held)
    if "stats" not in row:
        with Catalog(db, readonly=True) as cat:
            row["stats"] = cat.stats()
        row["index_mb_per_h"] = row["stats"]["bytes"] / 1e6 / row["hours"]
    row["index_files"] = _index_files(db)
    row["served"] = {"date": t, "commit": _git_head(), "load": os.getloadavg()}


def _index_files(db: Path) -> list[list]:
    # the index's segment files (name, bytes): a row's figures are this index's
    folder = Path(f"{db}.index")
    return [[p.name, p.stat().st_size] for p in sorted(folder.glob("*.aix"))]


def resume(data_dir: Path) -> dict:
    """The row of a run whose store in ``WORK`` is complete but whose index is not: the
    index built again from the store by the catalog's code (as :func:`run` does), then
    served; the store's build figures are None."""
    db = WORK / "scale.db"
    _, held = real_songs(data_dir)
    queries = json.loads((WORK / "queries.json").read_text())
    shutil.rmtree(f"{db}.index", ignore_errors=True)
    held_memory = _PeakParts()
    t1, c1 = time.perf_counter(), time.process_time()
    with Catalog(db) as cat:
        hours = cat.store.audio_seconds() / 3600
        cat.compact(parts=_parts(cat, hours))
        songs = len(cat.store.song_ids())
        store_mb_per_h = cat.store.size_bytes() / 1e6 / hours
    index_wall, index_cpu = time.perf_counter() - t1, time.process_time() - c1
    index_bytes = sum(size for _, size in _index_files(db))
    row = {
        "hours": hours,
        "songs": songs,
        "build_wall_s": None,
        "build_cpu_s": None,
        "store_wall_s": None,
        "store_cpu_s": None,
        "index_wall_s": index_wall,
        "index_cpu_s": index_cpu,
        "store_reused": None,
        "resumed": True,
        "index_mb_per_h": index_bytes / 1e6 / hours,
        "store_mb_per_h": store_mb_per_h,
        "builder_rss_mb": peak_rss_mb(),
        **{f"builder_{k}": v for k, v in held_memory.stop().items()},
        "load": os.getloadavg(),
    }
    _serve_row(db, row, queries, held[0])
    res = {"rows": [row]}
    (WORK / "results.json").write_text(json.dumps(res, indent=1))
    return res


def reserve(data_dir: Path) -> dict:
    """The result of the run that left its catalog in ``WORK``, its last size served again
    (first answer, warm queries, adding a song, stats) with today's code."""
    res = json.loads((WORK / "results.json").read_text())
    _, held = real_songs(data_dir)
    queries = json.loads((WORK / "queries.json").read_text())
    _serve_row(WORK / "scale.db", res["rows"][-1], queries, held[0])
    (WORK / "results.json").write_text(json.dumps(res, indent=1))
    return res


def main(data_dir: Path) -> None:
    if RESUME:
        resume(data_dir)
        print(f"resumed and served: {WORK / 'results.json'} (BENCHMARKS.md unchanged)")
        return
    res = reserve(data_dir) if RESERVE else run(data_dir)
    for path in MORE:  # other runs' rows (their own honesty checks are not repeated)
        res["rows"] += [r for r in json.loads(path.read_text())["rows"] if "disk" in r]
        res.setdefault("more", []).append(str(path))
    res["rows"].sort(key=lambda r: r["hours"])
    if "honesty" not in res:  # (a resumed run's rows: a table run shows them, AARES_SCALE_MORE)
        print(f"served: {WORK / 'results.json'} (BENCHMARKS.md unchanged)")
    elif all("disk" in r for r in res["rows"]):
        write_section("fingerprint-scale", _markdown(res))
    else:  # AARES_SCALE_SERVE=0: the catalogs are built, the table waits for their serving
        print(f"built, not served: {WORK / 'results.json'} (BENCHMARKS.md unchanged)")
