"""Sped-up, slowed, stretched and pitch-shifted excerpts; versions: `python -m benchmarks
fingerprint-speed --data DIR` (``AARES_FP_QUICK=1``: fewer factors, 1 excerpt per song;
``AARES_FP_KINDS="slowed + reverb,sped up,clean"``: those kinds of query only, with the
negatives, no growth or versions, and the section is printed instead of written;
``AARES_FP_BASELINE=REF``: the matcher of git revision REF (its ``match.py``) times the same
queries on the same catalog in the same run, for ratios on a shared machine).

On the course songs and the Singularity soundtrack (5 songs held out, seeded), for the
default and course profiles side by side:

1. top-1 and offset accuracy of 10 s excerpts per factor: resampled (tempo and pitch
   together, soxr) 0.80x, 0.85x-1.18x every 1 %, 1.25x; time-stretched (librosa's phase
   vocoder, tempo only) 0.90x-1.10x; pitch-shifted (librosa, pitch only) -2 to +2
   semitones; "slowed + reverb" (0.85x through a synthetic room of RT60 1.5 s) and "sped
   up" (1.2x); the excerpt is cut so that it covers the original's ``[start, start + 10
   s * factor)``, and the offset is right within 1 s of ``start``; the default matcher
   beside itself without its dereverberated second search (``dry``: ``dereverb=False``);
2. false positives on negatives: excerpts of the held-out songs, silence, white and pink
   noise, speech (espeak-ng when installed), and the course's Debussy excerpt (a song not
   in the catalog);
3. query CPU time (in-process: analysis, lookups and vote of the decoded excerpt) per kind
   of change, and the same queries against the catalog grown 10x;
4. versions: every song indexed with a "remastered twin" (EQ, level, compression, MP3
   re-encode) and a 1.12x copy: an excerpt of the original must name the original first,
   and with ``related`` settings list both others with their offsets and speeds.

Writes the "fingerprint-speed" section of BENCHMARKS.md and ``docs/fp-speed.png``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from scipy import signal

from aares.fingerprint.audio import load_audio, resample
from aares.fingerprint.catalog import Catalog, audio_files
from aares.fingerprint.index import Index
from aares.fingerprint.landmarks import analyse, landmark_hashes, pair_peaks
from aares.fingerprint.match import MatchSettings, match_signal, speed_grid
from aares.fingerprint.variants import add_noise, changed_excerpt, phone, pink_noise, speech
from aares.io import write_json
from aares.markdown import markdown_table
from benchmarks._common import ROOT, stamp, write_section

SR = 22050
LENGTH = 10.0
PROFILES = ("default", "dry", "before", "course")
#: The matcher as it was before issue 19, on the default profile's catalog: the +-6 % grid
#: only, the ratio against the next song whatever its significance, no spread test (its
#: significance now counts the song's other hits only, the bar's own votes left out).
BEFORE = MatchSettings(
    speeds=speed_grid(0.06, 0.01), accept_score=20, min_spread=0,
    version_significance=float("inf"),
)  # fmt: skip


#: What worked before issue 19 (MP3 32k is in the `fingerprint` benchmark: it needs files).
TODAY = [("clean", 1.0), ("noise 0 dB", 1.0), ("phone", 1.0)]


def factor_points(quick: bool = False) -> list[tuple[str, float]]:
    """``(kind, factor)`` of every measured point (pitch factors in semitones)."""
    if quick:
        speeds = [0.80, 0.85, 0.92, 1.08, 1.12, 1.18, 1.25]
        return (
            [("speed", s) for s in speeds]
            + [("stretch", r) for r in (0.90, 1.10)]
            + [("pitch", n) for n in (-2.0, 2.0)]
            + [("slowed + reverb", 0.85), ("sped up", 1.2)]
        )
    speeds = [0.80, *np.round(np.arange(0.85, 1.1801, 0.01), 2), 1.25]
    return (
        [("speed", float(s)) for s in speeds if abs(s - 1) > 1e-9]
        + [("stretch", float(r)) for r in np.round(np.arange(0.90, 1.1001, 0.02), 2)]
        + [("pitch", float(n)) for n in (-2, -1.5, -1, -0.5, 0.5, 1, 1.5, 2)]
        + [("slowed + reverb", 0.85), ("sped up", 1.2)]
    )


def transform(kind: str, factor: float, x: np.ndarray, start: float, rng) -> np.ndarray:
    """The 10 s excerpt of ``x`` (at ``SR``) from ``start`` under a change."""
    return changed_excerpt(kind, factor, x, SR, start, LENGTH, rng)


def remaster(x: np.ndarray, sr: int, folder: Path) -> np.ndarray:
    """A "remastered twin": bass and treble lifted, compressed, 2 dB quieter, re-encoded
    as MP3 at 128 kbit/s (ffmpeg; without it, the other steps only)."""
    low = signal.sosfilt(signal.butter(2, 200, fs=sr, output="sos"), x)
    high = signal.sosfilt(signal.butter(2, 5000, btype="high", fs=sr, output="sos"), x)
    y = x + 0.4 * low + 0.3 * high
    y = np.sign(y) * np.abs(y) ** 0.8  # a soft compressor
    y = (0.79 * y / max(np.max(np.abs(y)), 1e-9)).astype(np.float32)
    if shutil.which("ffmpeg"):
        wav, mp3 = folder / "twin.wav", folder / "twin.mp3"
        sf.write(wav, y, sr, subtype="PCM_16")
        cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav), "-b:a", "128k"]
        subprocess.run([*cmd, str(mp3)], check=True)
        y, _ = load_audio(mp3, sr=sr)
    return y


class _Baseline:
    # the default catalog searched by another revision's matcher (match.py of git REF, its
    # default settings): the same analysis code, index and naming, only the search differs
    def __init__(self, cat: Catalog, ref: str, work: Path) -> None:
        src = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{ref}:src/aares/fingerprint/match.py"],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        path = work / "baseline_match.py"
        path.write_text(src)
        spec = importlib.util.spec_from_file_location("aares_baseline_match", path)
        self.module = importlib.util.module_from_spec(spec)
        import sys

        sys.modules[spec.name] = self.module  # (dataclasses look their module up)
        spec.loader.exec_module(self.module)
        self.settings = self.module.MatchSettings(wide=self.module.factor_grid(), dereverb=True)
        self.cat = cat

    def identify_signal(self, x: np.ndarray, sr: int):
        prof = self.cat.profile
        y = resample(np.asarray(x, np.float32), sr, prof.sr, quality=prof.resample_quality)
        m = self.module.match_signal(y, self.cat.index, prof, self.settings, self.cat._postings())
        return self.cat._named(m)

    def songs(self):
        return self.cat.songs()

    def close(self) -> None:
        pass


def _timed(cat: Catalog, x: np.ndarray, sr: int):
    c0 = time.process_time()
    m = cat.identify_signal(x, sr=sr)
    return m, (time.process_time() - c0) * 1e3


def run(
    data_dir: Path,
    quick: bool = False,
    seed: int = 0,
    per_song: int = 3,
    kinds=None,
    baseline: str | None = None,
) -> dict:
    """Every figure of the benchmark (see the module docstring); ``kinds``: only the queries
    of those kinds (names as in the table), the negatives, and neither growth nor versions;
    ``baseline``: a git revision whose matcher also times every query."""  # fmt: skip
    files = audio_files([data_dir / "songs", data_dir / "music" / "singularity"])
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(files))
    held = [files[i] for i in sorted(order[:5])]
    indexed = [files[i] for i in sorted(order[5:])]
    per_song = 1 if quick else per_song
    work = Path(tempfile.mkdtemp(prefix="aares-fp-speed-"))
    points = factor_points(quick)
    today = list(TODAY)
    if kinds:
        points = [p for p in points if p[0] in kinds]
        today = [p for p in today if p[0] in kinds]
    res: dict = {"points": points, "today": today, "indexed": len(indexed), "held": len(held)}
    try:
        cats = {p: Catalog(work / f"{p}.fp.db", profile=p) for p in ("default", "course")}
        for cat in cats.values():
            cat.add(indexed)
            _ = cat.index
        cats["before"] = Catalog(work / "default.fp.db", settings=BEFORE)
        dry = replace(cats["default"].settings, dereverb=False)
        cats["dry"] = Catalog(work / "default.fp.db", settings=dry)
        if baseline:
            cats["baseline"] = _Baseline(cats["default"], baseline, work)
            res["baseline"] = baseline
        audio = {f: load_audio(f, sr=SR)[0] for f in files}
        ids = {p: {s.path: s.id for s in c.songs()} for p, c in cats.items() if p != "before"}
        ids["baseline"] = ids["default"]
        rows: list[dict] = []
        for f in indexed:
            x = audio[f]
            for _k in range(per_song):
                start = float(rng.uniform(0, x.size / SR - LENGTH * 1.3 - 0.5))
                for kind, factor in [*today, *points]:
                    q = x[int(start * SR) : int((start + LENGTH) * SR)]
                    if kind == "noise 0 dB":
                        q = add_noise(q, 0.0, rng)
                    elif kind == "phone":
                        q = phone(q, SR, rng)
                    elif kind != "clean":
                        q = transform(kind, factor, x, start, rng)
                    for p, cat in cats.items():
                        m, ms = _timed(cat, q, SR)
                        truth = ids["course" if p == "course" else "default"][str(f.resolve())]
                        ok = bool(m) and m[0].song_id == truth
                        rows.append(
                            {
                                "profile": p, "kind": kind, "factor": factor, "positive": True,
                                "ok": ok, "offset_ok": ok and abs(m[0].offset - start) <= 1.0,
                                "found": (m[0].speed, m[0].pitch) if ok else None, "cpu_ms": ms,
                                "answer": _answer(m),
                            }
                        )  # fmt: skip
        negatives: list[tuple[str, np.ndarray]] = []
        for f in held:
            x = audio[f]
            for _k in range(6):
                a = float(rng.uniform(0, x.size / SR - LENGTH))
                negatives.append(("held-out song", x[int(a * SR) : int((a + LENGTH) * SR)]))
        n8 = int(8 * SR)
        for _k in range(6):
            negatives.append(("silence", np.zeros(n8, np.float32)))
            negatives.append(("white noise", (0.1 * rng.standard_normal(n8)).astype(np.float32)))
            negatives.append(("pink noise", pink_noise(n8, rng)))
        negatives += [("speech", s) for s in speech(6, SR, rng, work)]
        for ex in audio_files([data_dir / "excerpts"]) if (data_dir / "excerpts").is_dir() else []:
            y = load_audio(ex, sr=SR)[0]
            negatives.append(("Debussy excerpt (whole)", y))
            for a in range(0, max(1, y.size - int(LENGTH * SR)), int(2 * SR)):
                negatives.append(("Debussy excerpt (10 s windows)", y[a : a + int(LENGTH * SR)]))
        for kind, q in negatives:
            for p, cat in cats.items():
                m, ms = _timed(cat, q, SR)
                rows.append(
                    {"profile": p, "kind": kind, "factor": None, "positive": False,
                     "ok": not m, "offset_ok": False, "found": None, "cpu_ms": ms,
                     "answer": _answer(m)}
                )  # fmt: skip
        res["rows"] = rows
        if not kinds:
            res["growth"] = _growth(cats["default"], indexed, audio, rng, quick)
            res["versions"] = _versions(
                indexed[:6] if quick else indexed, audio, work, rng, per_song
            )
        for cat in cats.values():
            cat.close()  # "before" and "dry" share the default catalog
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return res


def _answer(m) -> list:
    # what a query got, to compare two matchers answer by answer
    return [
        [r.song_id, r.score, round(r.offset, 3), round(r.speed, 4), round(r.pitch, 4)] for r in m
    ]


def _growth(cat: Catalog, indexed, audio, rng, quick: bool) -> dict:
    # The same kinds of query against the catalog grown 10x with speed-shifted copies of every
    # song's landmarks (0.45-0.7x and 1.45-2.2x: outside the search, other music as far as
    # the matcher can tell, with the catalog's own hash statistics).
    prof = cat.profile
    ids = [s.id for s in cat.songs()]
    base = [cat.store.postings(i) for i in ids]
    peaks = [analyse(resample(audio[f], SR, prof.sr), prof) for f in indexed]
    queries = []
    for j, f in enumerate(indexed[: 6 if quick else 18]):
        x = audio[f]
        start = float(rng.uniform(0, x.size / SR - 15))
        q = x[int(start * SR) : int((start + LENGTH) * SR)]
        queries.append(("clean", q, ids[j]))
        queries.append(("speed 1.15x", transform("speed", 1.15, x, start, rng), ids[j]))
        noise = (0.1 * rng.standard_normal(int(LENGTH * SR))).astype(np.float32)
        queries.append(("negative (white noise)", noise, None))
    out = {}
    copies = np.concatenate([np.linspace(0.45, 0.7, 64), np.linspace(1.45, 2.2, 64)])
    for factor in (1, 10):
        hs = [b[0] for b in base]
        fs = [b[1] for b in base]
        song_ids = list(ids)
        for c in range(factor - 1):
            s = float(copies[c % copies.size])
            for j, (pts, strength) in enumerate(peaks):
                scaled = pts * [s, 1 / s]
                h, t = landmark_hashes(scaled, pair_peaks(scaled, prof, strength), prof)
                hs.append(h)
                fs.append(np.rint(t))
                song_ids.append(10_000_000 + c * 100_000 + j)
        index = Index.from_arrays(hs, fs, song_ids)
        del hs, fs
        times: dict[str, list[float]] = {}
        right: dict[str, list[bool]] = {}
        for kind, q, truth in queries:
            y = resample(q, SR, prof.sr, quality=prof.resample_quality)
            c0 = time.process_time()
            m = match_signal(y, index, prof, cat.settings)
            times.setdefault(kind, []).append((time.process_time() - c0) * 1e3)
            right.setdefault(kind, []).append((m[0].song_id == truth) if m else truth is None)
        out[str(factor)] = {
            "postings": len(index),
            "kinds": {
                k: {
                    "p50": float(np.percentile(v, 50)),
                    "p95": float(np.percentile(v, 95)),
                    "right": float(np.mean(right[k])),
                }
                for k, v in times.items()
            },
        }
        del index
    return out


def _versions(indexed, audio, work: Path, rng, per_song: int) -> dict:
    # each song three times: the original, its remastered twin, a 1.12x copy
    cat = Catalog(work / "versions.fp.db", profile="default")
    prof = cat.profile
    sids = {}
    for f in indexed:
        x = audio[f]
        y = resample(x, SR, prof.sr)
        sids[f] = (
            cat.add_signal(y, title=f.stem),
            cat.add_signal(resample(remaster(x, SR, work), SR, prof.sr), title=f.stem + " (twin)"),
            cat.add_signal(resample(x, int(round(SR * 1.12)), prof.sr), title=f.stem + " (1.12x)"),
        )
    _ = cat.index
    related = replace(cat.settings, related=True)
    first = listed = n = 0
    ms_default, ms_related = [], []
    for f in indexed:
        x = audio[f]
        orig, twin, fast = sids[f]
        for _k in range(per_song):
            start = float(rng.uniform(0, x.size / SR - LENGTH - 0.5))
            q = x[int(start * SR) : int((start + LENGTH) * SR)]
            m, ms = _timed(cat, q, SR)
            ms_default.append(ms)
            first += bool(m) and m[0].song_id == orig and abs(m[0].offset - start) <= 1.0
            cat.settings, keep = related, cat.settings
            m, ms = _timed(cat, q, SR)
            cat.settings = keep
            ms_related.append(ms)
            got = {r.song_id: r for r in m}
            listed += (
                bool(m)
                and m[0].song_id == orig
                and twin in got
                and abs(got[twin].offset - start) <= 1.0
                and fast in got
                and abs(got[fast].offset - start / 1.12) <= 1.0
                and abs(got[fast].speed - 1 / 1.12) <= 0.011
            )
            n += 1
    cat.close()
    return {
        "n": n,
        "songs": len(indexed) * 3,
        "first": first / max(n, 1),
        "listed": listed / max(n, 1),
        "cpu_p50": float(np.percentile(ms_default, 50)),
        "cpu_p50_related": float(np.percentile(ms_related, 50)),
    }


# -- report ------------------------------------------------------------------------------


def _p50(profile: str, sel, rows) -> float:
    ms = [r["cpu_ms"] for r in rows if r["profile"] == profile and sel(r)]
    return float(np.percentile(ms, 50)) if ms else float("nan")


def _pct(rows, key="ok") -> str:
    return f"{np.mean([r[key] for r in rows]) * 100:.0f} %" if rows else "-"


def markdown(res: dict) -> str:
    rows = res["rows"]
    today_points = [tuple(p) for p in res.get("today", TODAY)]
    lines = [
        f"{res['indexed']} songs indexed, {res['held']} held out; 10 s excerpts, "
        f"{sum(1 for r in rows if r['profile'] == 'default' and r['kind'] == 'clean')} per "
        "point. Top-1 (offset within 1 s of the original's time in brackets), default "
        "profile beside the course profile (the handout's parameters, no speed search). "
        "Speed = resampled (tempo and pitch together); stretch = tempo only (librosa "
        "`time_stretch`); pitch = pitch only, in semitones (librosa `pitch_shift`). "
        "*dry*: the default matcher without its second, dereverberated search of queries "
        "that get no answer (`MatchSettings(dereverb=False)`), in the same run.",
        "",
        "| change | factor | default: top-1 (offset) | dry | before issue 19 | course "
        "| CPU p50 now | dry | before |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, factor in [*today_points, *res["points"]]:
        sel = {
            p: [r for r in rows if (r["profile"], r["kind"], r["factor"]) == (p, kind, factor)]
            for p in PROFILES
        }
        cells = [f"{_pct(sel[p])} ({_pct(sel[p], 'offset_ok')})" for p in PROFILES]
        ms = [
            f"{np.percentile([r['cpu_ms'] for r in sel[p]], 50):.0f} ms" if sel[p] else "-"
            for p in ("default", "dry", "before")
        ]
        label = f"{factor:+g} st" if kind == "pitch" else f"{factor:.2f}x"
        label = "-" if (kind, factor) in TODAY else label
        lines.append(f"| {kind} | {label} | {' | '.join(cells)} | {' | '.join(ms)} |")
    lines += ["", "Negatives (answers given, should be 0):", ""]
    lines += [
        "| negatives | n | default | dry | before issue 19 | course |",
        "|---|---|---|---|---|---|",
    ]
    kinds = []
    for r in rows:
        if not r["positive"] and r["kind"] not in kinds:
            kinds.append(r["kind"])
    for kind in [*kinds, "all"]:
        cells, n = [], 0
        for p in PROFILES:
            sel = [
                r for r in rows
                if r["profile"] == p and not r["positive"] and kind in ("all", r["kind"])
            ]  # fmt: skip
            n = len(sel)
            cells.append(str(sum(not r["ok"] for r in sel)))
        lines.append(f"| {kind} | {n} | {' | '.join(cells)} |")

    def cpu(p, sel):
        ms = [r["cpu_ms"] for r in rows if r["profile"] == p and sel(r)]
        return f"{np.percentile(ms, 50):.1f} / {np.percentile(ms, 95):.1f} ms" if ms else "-"

    def today(r):
        return (r["kind"], r["factor"]) in TODAY

    def changed(r):
        return r["positive"] and not today(r)

    def negative(r):
        return not r["positive"]

    base = "baseline" if any(r["profile"] == "baseline" for r in rows) else None
    shown = ("default", *([base] if base else []), "dry", "before")
    header = {"default": "now", "baseline": f"matcher of {res.get('baseline')}", "dry": "dry",
              "before": "before issue 19"}  # fmt: skip
    groups = (
        ("clean, noise 0 dB, phone", today),
        ("changed (every factor above)", changed),
        *(
            (f"changed: {k}", lambda r, k=k: changed(r) and r["kind"] == k)
            for k in dict.fromkeys(r["kind"] for r in rows if changed(r))
        ),
        ("every positive", lambda r: r["positive"]),
        ("negatives (search every factor, twice)", negative),
        ("all queries", lambda r: True),
    )
    table = pd.DataFrame(
        [{"queries": name, **{header[p]: cpu(p, sel) for p in shown}} for name, sel in groups]
    )
    if base:
        table["now / baseline (p50)"] = [
            f"{_p50('default', sel, rows) / _p50(base, sel, rows):.2f}" for _, sel in groups
        ]
    lines += [
        "",
        "Query CPU time p50 / p95 (in-process: resampling, analysis, lookups, vote of the "
        "decoded excerpt), default profile now, "
        + (
            f"the matcher of {res.get('baseline')} on the same catalog and queries, "
            if base
            else ""
        )
        + "dry (no second search) and before issue 19, in the same run:",
        "",
        markdown_table(table),
    ]
    if base:
        now = [r["answer"] for r in rows if r["profile"] == "default"]
        then = [r["answer"] for r in rows if r["profile"] == base]
        same = sum(a == b for a, b in zip(now, then, strict=True))
        lines += [
            "",
            f"Answers (song, votes, offset, factor of every match) identical to the matcher of "
            f"{res.get('baseline')} for {same} of {len(now)} queries.",
        ]
    if "growth" not in res:  # a run of some kinds only
        return "\n".join(lines)
    lines += [
        "",
        "The same kinds of query as the catalog grows (extra entries: speed-shifted copies of "
        "every song's landmarks, 0.45-0.7x and 1.45-2.2x, outside the search):",
        "",
        "| catalog | postings | query | CPU p50 | p95 | right |",
        "|---|---|---|---|---|---|",
    ]
    for k, g in res["growth"].items():
        for kind, v in g["kinds"].items():
            lines.append(
                f"| {k}x | {g['postings']:,} | {kind} | {v['p50']:.1f} ms | {v['p95']:.1f} ms | "
                f"{v['right'] * 100:.0f} % |"
            )
    v = res["versions"]
    lines += [
        "",
        f"Versions: every indexed song three times ({v['songs']} songs): the original, a "
        "remastered twin (bass and treble lifted, compressed, 2 dB down, MP3 128 kbit/s) and "
        f"a 1.12x copy. {v['n']} clean 10 s excerpts of originals: the original named first "
        f"with the right offset in {v['first'] * 100:.0f} % (CPU p50 {v['cpu_p50']:.1f} ms); "
        "with `--related` (every tier searched) the original first and both others listed "
        f"with their offsets (the copy's at start / 1.12) and speeds in {v['listed'] * 100:.0f}"
        f" % (CPU p50 {v['cpu_p50_related']:.1f} ms).",
    ]
    return "\n".join(lines)


#: How the method was chosen: development runs on the same machine (2026-12-01, 18 songs
#: indexed, 5 held out, 10 s excerpts, 53 negatives; load average 7-25, so CPU times are
#: inflated several-fold against an idle machine; ratios in one row's run are what count).
METHOD = "\n".join(
    [
        "How the search was chosen (development runs, 2026-12-01, same split and excerpts for",
        "the alternatives in one block; top-1 with the right offset; CPU p50 in-process under load",
        "average 7-25, so only ratios within a block compare):",
        "",
        "| alternative | speed 0.80 / 0.92 / 1.12 / 1.25 | stretch 0.9 / 1.1 | "
        "pitch -2 / +2 st | slowed + reverb | noise 0 dB | false positives | "
        "CPU p50 all / negatives |",
        "|---|---|---|---|---|---|---|---|",
        "| before issue 19 (+-6 % grid, 13 factors), 54 per point | 0 / 31 / 0 / 0 % | "
        "87 / 85 % | 0 / 0 % | 0 % | 93 % | 1 of 53 | 13.9 / 14.7 ms |",
        "| wide grid (95 factors), every pair (fan-out 16) at every factor, 54 per point "
        "| 100 / 98 / 100 / 100 % | 96 / 94 % | 83 / 87 % | 94 % | 93 % | 1 of 53 | "
        "31.6 / 137.7 ms |",
        "| +-6 % grid, then the wide grid coarse to fine (scan: 2 targets per anchor, 3 c"
        "andidates), 36 per point | 100 / 100 / 100 / 100 % | 100 / 100 % | 100 / 94 % | "
        "83 % | 94 % | 0 of 53 | 44.7 / 48.5 ms |",
        "| the wide grid alone, coarse to fine (scan: 1 target, 3 candidates), 36 per poi"
        "nt | 100 / 100 / 100 / 100 % | 100 / 100 % | 97 / 94 % | 81 % | 94 % | "
        "0 of 53 | 28.4 / 28.4 ms |",
        "| the same with 12 targets per anchor after the scan (slowed + reverb, stretch o"
        "nly) | | 98 / 100 % | | 87 % | | 0 of 53 | 39.5 / 30.4 ms |",
        "| scan with 2 targets, 5 candidates (slowed + reverb, stretch only) | | "
        "98 / 100 % | | 87 % | | 0 of 53 | 57.4 / 48.5 ms |",
        "",
        "The fourth row is the default. Hashes of ratios that do not change with speed (Panako's",
        "triplets) were not built: they need a new hash layout (three peaks per landmark, a new",
        "catalog format) and a vote that estimates the factor per hit; the grid reached t"
        "he targets",
        "on today's 22-bit pairs, and its cost is lookups, not hash bits. A significance "
        "counted on",
        "the query moments that vote (instead of the votes) was tried to catch chance bar"
        "s of similar",
        "music: it refused true noisy matches (a 5 s excerpt at 0 dB: 35 votes over 14 mo"
        "ments) and",
        "no negative needed it; the ratio test against songs that are not themselves over"
        "whelmingly",
        "significant (versions) does that work.",
        "",
    ]
)


#: What the wide search costs and how it was brought down (issue 19's query-time row):
#: development measurements, 2026-12-02 05:00 UTC, a harness outside the repository.
COST = "\n".join(
    [
        "What the wider search costs (issue 19's query-time row; development measurements "
        "2026-12-02 05:00 UTC at load 8-9, a harness outside the repository on this "
        "benchmark's catalog and split: 18 songs through `Catalog` with its default disk "
        "index, 18 excerpts per kind, the matcher's functions wrapped with CPU timers; "
        "the matcher of c6ba7ad, main before this work, beside today's, same queries, two "
        "runs averaged; CPU ms per query, the wrappers included):",
        "",
        "| stage | 0.90x, c6ba7ad | 0.90x, now | negative, c6ba7ad | negative, now |",
        "|---|---|---|---|---|",
        "| analysis (2 analyses; a negative 4: the dereverberated search) | 4.6 | 6.0 | "
        "14.4 | 9.8 |",
        "| speed 1: hashing / lookups / vote | 0.3 / 3.1 / 3.8 | 0.2 / 2.4 / 2.7 | "
        "0.4 / 3.4 / 4.4 | 0.2 / 2.5 / 2.6 |",
        "| wide grid, scan of 95 factors: hashing / lookups / vote | 4.3 / 11.9 / 13.3 | "
        "0.5 / 3.6 / 8.5 | 9.4 / 24.6 / 26.8 | 0.7 / 6.6 / 14.9 |",
        "| wide grid, full vote: hashing / lookups / vote | 0.9 / 7.4 / 9.0 | "
        "0.2 / 1.9 / 1.9 | 2.2 / 17.3 / 20.2 | 0.6 / 9.4 / 11.0 |",
        "| pairs, ranking, naming | 1.6 | 1.6 | 2.2 | 2.3 |",
        "| total | 60.2 | 29.5 | 125.3 | 60.4 |",
        "",
        "The analysis is the same code in both columns (its spread is the machine's noise). "
        "Per 0.90x query the scan hashes 28,662 landmarks (95 factors x one target per "
        "anchor) on 9,509 distinct hashes and casts 126,960 votes; the full vote 17,605 "
        "landmarks on 13,218 hashes (69,450 votes) before, 5,988 on 4,759 (16,841 postings "
        "read) now; the speed-1 vote 10,794 landmarks on 8,340 hashes. A negative searches "
        "the scan and the full vote twice (plain, then dereverberated) and keeps all three "
        "candidates. What changed, each with the same answers (380 development queries, "
        "and 3,245 of the 3,246 queries of the run above; the other one named the same song "
        "at the same offset at a neighbouring factor, 0.933x for 0.942x, through change 4):",
        "",
        "1. each distinct hash is looked up once and its postings go to every landmark "
        "holding it (three lookups in four of the scan repeated a hash of another factor): "
        "the scan's lookups 11.9 -> 3.6 ms;",
        "2. the vote sorts its keys by a radix sort (numba; 3x np.sort on 130,000 keys) "
        "instead of a stable argsort, and reads the spread of its few best cells from the "
        "unsorted votes;",
        "3. every factor is hashed in one numba pass (`landmarks.factor_hashes`) instead of "
        "~95 calls: the scan's hashing 4.3 -> 0.5 ms;",
        "4. the full vote searches the scan's candidates whose scan score is over half the "
        "best one's (`MatchSettings.wide_candidate_ratio`): 3 factors instead of 9 when one "
        "song stands out. In the development queries every answer of the wide grid was the "
        "scan's best song (247 of 247) and held-out excerpts' second song scored at least "
        "0.6 of their best (so negatives still search all three).",
        "",
        "Measured and not taken: a tighter stop list in the scan (hashes of more than 32, "
        "24, 16 or 8 postings skipped; the index's is 64) saved 8-15 % but changed answers "
        "(at 16 a +2 st excerpt lost, a reverberant one gained; at 8 five of 18 reverberant "
        "excerpts lost); an early exit for negatives when the scan shows no song standing "
        "out: the reverberant excerpts' best song scored 4-7 scan votes (significance -0.1 "
        "to 3), as the held-out songs' did (6-7, at most 2.2), so no threshold separates "
        'them. The catalog\'s in-memory index (`Catalog(index="memory")`, not a matcher '
        "change) gave changed p50 15.1 against 22.8 ms with the segment files and "
        "negatives 35 against 57 ms (same 380 queries, same answers): the disk index's "
        "lookups (Rice-coded blocks) are a third of a changed query now. Hashes of ratios "
        "that do not change with speed (Panako-style triplets: log-frequency differences "
        "and a time-difference ratio, the factor recovered per hit) were not built: they "
        "would replace the 95 lookups per landmark by one, but the scan's cost is now its "
        "votes (127,000 on 9,500 distinct hashes), which a key without the anchor's "
        "frequency and the time scale (less selective) does not reduce; and as a second "
        "key per landmark it would double the postings of a catalog whose index is at "
        "2.1 MB/h of its 2.5 MB/h budget at 1,000 h (issue 18), or need a second index "
        "for the one-stage search alone.",
        "",
    ]
)


#: Issue 19's "slowed + reverb": is the benchmark's room realistic, and what was tried
#: (development runs, 2026-12-02, the same 18 songs; a harness outside the repository).
REVERB = "\n".join(
    [
        '"Slowed + reverb" (issue 19). Is the benchmark\'s room (noise decaying 60 dB in 1.5 s, '
        "as much reverberant as direct energy, 10 ms after the direct sound) what such edits "
        "do? Impulse responses of the reverbs that slowed + reverb tools use (pedalboard's "
        "`Reverb`, i.e. JUCE's Freeverb, with settings from such tools; SoX `reverb`), "
        "measured at 22.05 kHz mono: RT60 from Schroeder's backward integral (-5 to -25 dB, "
        "times 3), DRR = energy within 2.5 ms of the direct impulse over the rest; top-1 "
        "of 36 10 s excerpts at 0.85x through each (the old single-stage matcher, dry / "
        "with the dereverberated second search):",
        "",
        "| reverb | RT60 (500 Hz / 2 kHz) | direct-to-reverberant | top-1 dry | with 2nd search |",
        "|---|---|---|---|---|",
        "| the benchmark's room | 1.5 s (1.4 / 1.5) | 0 dB | 75 % | 89 % |",
        "| Freeverb defaults (room 0.5, damping 0.5, wet 0.33, dry 0.4) | 1.0 s (1.3 / 1.1) "
        "| +8.0 dB | 94 % | 94 % |",
        "| Freeverb room 0.75, wet 0.45, dry 0.55 | 1.9 s (2.3 / 1.7) | +6.9 dB | 92 % | 94 % |",
        "| Freeverb room 0.75, wet 0.3, dry 0.7 | 1.9 s (2.3 / 1.7) | +12.5 dB | 94 % | 94 % |",
        "| Freeverb room 0.9, wet 0.5, dry 0.5 | 3.7 s (4.3 / 2.6) | +3.8 dB | 81 % | 86 % |",
        "| SoX `reverb 50` (defaults) | 1.3 s (1.7 / 1.0) | +12.7 dB | 94 % | 94 % |",
        "| SoX `reverb 80` | 4.3 s (4.6 / 1.7) | +11.2 dB | 89 % | 89 % |",
        "| SoX `reverb 100` | 9.0 s (8.1 / 2.2) | +10.0 dB | 89 % | 89 % |",
        "",
        "The benchmark's room is wetter than any preset (the presets' reverberation is 4-13 dB "
        "below the direct sound, and it decays faster at 2 kHz than at 500 Hz) but, as "
        "a fingerprint sees it, about as hard as the heaviest Freeverb setting: it stays the "
        "target row. What was tried (the same harness, old matcher, 90 slowed + reverb "
        "excerpts, 36 per control, 70-190 negatives, same run per block):",
        "",
        "| query analysis | slowed + reverb | controls | false positives | CPU p50 negatives |",
        "|---|---|---|---|---|",
        "| plain (before) | 84 % | 0.85x, clean, phone 100 %, noise 0 dB 92 % | 0 of 190 | 43 ms |",
        "| late reverb subtracted for every query (recursive / Lebart / decaying mask), 36 "
        "excerpts | 86-89 % | noise 0 dB 86-89 % | = | = |",
        "| smaller or larger peak neighbourhood (7x7, 11x7, 9x9, 7x11) | 66-87 % | = | = | "
        "1.5-2x |",
        "| second search when no answer, the same peaks, wider scan (2 targets, 5 candidates)"
        " | 91 % | = | = | 2.8x |",
        "| second search on the dereverberated peaks (speed 1 included) | 93 % | = | 1 of 60 "
        "in a benchmark run (a held-out song) | 1.9x |",
        "| the same, speed 1 skipped, significance 20 (the default) | 94 % | = | 0 of 190 | "
        "89 ms (2.1x) |",
        "",
        "Why it stops there: the song's peaks that a reverberant query still has within a "
        "bin and 1.5 frames: 51 % (dry 0.85x: 80 %); subtracting the late reverberation "
        "(recursive estimate, Lebart et al. 2001, weighted prediction error with 10-20 "
        "taps, a decaying mask) gives 55-56 %. Within 6.5 frames the reverberant query "
        "has 75 %: the early reverberation (the first 100 ms hold half of it) moves peaks "
        "by 1-5 frames, which no subtraction of a decaying tail undoes. On the two-stage "
        "matcher (three-point keys: a key needs three surviving peaks) the same harness "
        "gives 58 % dry and 67 % with the second search.",
        "",
    ]
)


def plot(res: dict, path: Path) -> Path:
    """Top-1 against factor: one line per kind of change, default beside course."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = res["rows"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
    for ax, kind, xlabel in (
        (axes[0], "speed", "speed factor (resampled)"),
        (axes[1], "stretch", "tempo factor (time-stretched)"),
        (axes[2], "pitch", "pitch shift (semitones)"),
    ):
        for p, style in (("default", "-o"), ("before", ":^"), ("course", "--s")):
            zero = 0.0 if kind == "pitch" else 1.0
            xs = sorted({f for k, f in res["points"] if k == kind} | {zero})
            ys = []
            for f in xs:
                k = "clean" if f == zero else kind
                sel = [
                    r["ok"] for r in rows
                    if r["profile"] == p and r["kind"] == k and (k == "clean" or r["factor"] == f)
                ]  # fmt: skip
                ys.append(100 * np.mean(sel))
            label = {"default": "aares (default profile)", "before": "aares before issue 19",
                     "course": "course profile (handout parameters)"}[p]  # fmt: skip
            ax.plot(xs, ys, style, ms=3, label=label)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("top-1 (%)")
    axes[0].legend(loc="lower center")
    fig.suptitle("10 s excerpts of 18 real songs, changed: top-1 against the factor")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(data_dir: Path) -> None:
    data_dir = Path(data_dir)
    if len(audio_files([data_dir / "songs", data_dir / "music" / "singularity"])) < 8:
        print(f"fingerprint-speed: skipped (too few songs under {data_dir})")
        return
    quick = os.environ.get("AARES_FP_QUICK") == "1"
    t0, c0, load0 = time.perf_counter(), time.process_time(), os.getloadavg()[0]
    # the figures are kept in a JSON file so that the report can be redrawn without a rerun
    saved = Path(os.environ.get("AARES_FP_SPEED_JSON", "/tmp/aares-fp-speed.json"))
    if os.environ.get("AARES_FP_SPEED_REUSE") == "1" and saved.is_file():
        res = json.loads(saved.read_text())
        res["points"] = [tuple(p) for p in res["points"]]
    else:
        kinds = [k.strip() for k in os.environ.get("AARES_FP_KINDS", "").split(",") if k.strip()]
        per_song = int(os.environ.get("AARES_FP_PER_SONG", "3"))
        res = run(
            data_dir, quick=quick, per_song=per_song, kinds=kinds or None,
            baseline=os.environ.get("AARES_FP_BASELINE") or None,
        )  # fmt: skip
        res["cost"] = {
            "wall": (time.perf_counter() - t0) / 60,
            "cpu": (time.process_time() - c0) / 60,
            "load": f"load average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end",
        }
        write_json(saved, res)
    wall, cpu, load = (res["cost"][k] for k in ("wall", "cpu", "load"))
    if "growth" not in res:  # some kinds only: a development run, not the section
        print(f"{stamp()} {wall:.1f} min wall, {cpu:.1f} min CPU, {load}\n\n{markdown(res)}")
        return
    png = plot(res, ROOT / "docs" / "fp-speed.png")
    text = (
        "## Audio fingerprints: speed, stretch, pitch and versions\n\n"
        f"{stamp()} Reproduce: `python -m benchmarks fingerprint-speed --data DATA`"
        f"{' (AARES_FP_QUICK=1)' if quick else ''}"
        + (f" (`AARES_FP_BASELINE={res['baseline']}`)" if res.get("baseline") else "")
        + f"; this run took {wall:.1f} min wall, "
        f"{cpu:.1f} min CPU, {load} (the machine is shared: CPU times are the figures to "
        "compare).\n\n"
        f"![top-1 against factor]({png.relative_to(ROOT)})\n\n"
        + markdown(res)
        + "\n\n"
        + COST
        + "\n"
        + METHOD
        + "\n"
        + REVERB
    )
    write_section("fingerprint-speed", text)
