"""Noise 0 dB 10 s on many excerpts: the scale table's noise figure with its error bar.

The scale table (``fingerprint-scale``) has one noisy 10 s excerpt a real song, 18 in all:
its noise accuracy moves in steps of 5.6 %, and issue 18's 97 % means 18 of 18. This
benchmark asks the catalogs that ``fingerprint-scale`` left (``AARES_NOISE_DBS``:
comma-separated catalog files, default ``$AARES_SCALE_WORK/scale.db``; read-only) the same
kind of excerpt, ``AARES_NOISE_PER_SONG`` (default 10) of every real song they index, made
the way the table makes its own (:func:`benchmarks.fingerprint_scale.positive_excerpt`:
44.1 kHz, white noise at 0 dB over the whole band, a 16-bit WAV, decoded by the query), with
another seed, so that they are new excerpts. Per catalog: top-1 accuracy (the right song)
with a Wilson 95 % interval, warm CPU per query, and every miss: the song, where the
excerpt starts, what was answered. The same number of noisy excerpts of each held-out song
(:func:`benchmarks.fingerprint_scale.real_songs`, in no catalog) must stay unanswered: an
answer is a false positive unless the excerpt shares its recording with the song named
(:func:`benchmarks.fingerprint_scale.runs_together`, as the scale table counts them).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from aares.fingerprint.audio import load_audio
from aares.fingerprint.catalog import Catalog
from aares.fingerprint.variants import add_noise, write_pcm16
from aares.markdown import markdown_table

from ._common import require_catalogs, stamp, write_section
from .fingerprint_scale import QUERY_SR, WORK, positive_excerpt, real_songs, runs_together

DBS = [Path(p) for p in os.environ.get("AARES_NOISE_DBS", str(WORK / "scale.db")).split(",")]
PER_SONG = int(os.environ.get("AARES_NOISE_PER_SONG", "10"))
FOLDER = Path(os.environ.get("AARES_NOISE_WORK", "/tmp/aares-fingerprint-noise"))
KIND, LENGTH, SEED = "noise 0 dB 10 s", 10, 1


def real_songs_of(cat: Catalog) -> list[tuple[int, str, str]]:
    """``(id, path, title)`` of the catalog's songs that are audio files (the scale
    benchmark's generated songs are not), by file name."""
    songs = [(s.id, s.path, s.title) for s in cat.songs() if Path(s.path).is_file()]
    return sorted(songs, key=lambda s: Path(s[1]).name)


def make_excerpts(songs: list[tuple[int, str, str]], folder: Path) -> list[dict]:
    """``PER_SONG`` noisy excerpts of each song, written once (the same for every catalog)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    out = []
    for k, (_, path, title) in enumerate(songs):
        x, sr = load_audio(path, sr=QUERY_SR)
        for j in range(PER_SONG):
            seg, start = positive_excerpt(x, sr, KIND, LENGTH, k, rng)
            wav = folder / f"{k:02d}-{j:02d}.wav"
            write_pcm16(wav, seg, sr)
            out.append({"path": str(wav), "song": path, "title": title, "start": start})
    return out


def make_negatives(held: list[Path], folder: Path) -> list[dict]:
    """``PER_SONG`` noisy excerpts of each held-out song, written once."""
    rng = np.random.default_rng(SEED + 1)
    out = []
    for k, path in enumerate(held):
        x, sr = load_audio(path, sr=QUERY_SR)
        for j in range(PER_SONG):
            a = int(rng.uniform(0, max(x.size / sr - LENGTH - 0.5, 0.1)) * sr)
            seg = add_noise(x[a : a + LENGTH * sr], 0.0, rng)
            wav = folder / f"held-{k:02d}-{j:02d}.wav"
            write_pcm16(wav, seg, sr)
            out.append({"path": str(wav), "source": str(path), "start": a / sr, "length": LENGTH})
    return out


def ask(db: Path, excerpts: list[dict], negatives: list[dict]) -> dict:
    """Every excerpt identified in one process, warm (one query first, untimed)."""
    with Catalog(db, readonly=True) as cat:
        ids = {Path(path).name: sid for sid, path, _ in real_songs_of(cat)}
        cat.identify(excerpts[0]["path"])
        cpu, misses = [], []
        for q in excerpts:
            c0 = time.process_time()
            m = cat.identify(q["path"])
            cpu.append((time.process_time() - c0) * 1e3)
            if not (m and m[0].song_id == ids.get(Path(q["song"]).name)):
                misses.append({**q, "answer": m[0].title if m else None})
        neg_cpu, answered = [], []
        for q in negatives:
            c0 = time.process_time()
            m = cat.identify(q["path"])
            neg_cpu.append((time.process_time() - c0) * 1e3)
            if m:
                answered.append((q, m[0]))
        # an answer sharing the excerpt's recording (neighbouring excerpts agree) is no
        # false positive (the scale table's rule)
        wrong = [
            {"path": q["path"], "source": Path(q["source"]).name, "start": q["start"],
             "answer": m.title, "score": m.score, "significance": round(m.significance, 1)}
            for q, m in answered
            if not runs_together(cat, q, m)
        ]  # fmt: skip
        hours = cat.store.audio_seconds() / 3600
        n_songs = len(cat)
    n, hit = len(excerpts), len(excerpts) - len(misses)
    ci = binomtest(hit, n).proportion_ci(method="wilson")
    return {
        "db": str(db),
        "hours": hours,
        "songs": n_songs,
        "n": n,
        "correct": hit,
        "low": ci.low,
        "high": ci.high,
        "cpu_p50_ms": float(np.median(cpu)),
        "cpu_p95_ms": float(np.percentile(cpu, 95)),
        "misses": misses,
        "negatives": len(negatives),
        "shares_recording": len(answered) - len(wrong),
        "false_positives": wrong,
        "neg_cpu_p50_ms": float(np.median(neg_cpu)) if neg_cpu else float("nan"),
    }


def _markdown(rows: list[dict], n_real: int, n_held: int) -> str:
    table = [
        {
            "catalog": f"{r['hours']:,.0f} h",
            "songs": f"{r['songs']:,}",
            "excerpts": r["n"],
            "named": r["correct"],
            "accuracy (95 % interval)": f"{r['correct'] / r['n']:.1%}"
            f" ({r['low']:.1%} - {r['high']:.1%})",
            "warm CPU p50 / p95": f"{r['cpu_p50_ms']:.0f} / {r['cpu_p95_ms']:.0f} ms",
            "noisy held-out excerpts: false positives (shares its recording)": (
                f"{len(r['false_positives'])} of {r['negatives']} ({r['shares_recording']})"
            ),
            "held-out CPU p50": f"{r['neg_cpu_p50_ms']:.0f} ms",
            "missed (song: excerpts)": ", ".join(
                f"{t}: {c}" for t, c in sorted(Counter(m["title"] for m in r["misses"]).items())
            )
            or "none",
        }
        for r in rows
    ]
    # one row an excerpt missed somewhere: which catalogs missed it
    missed: dict[tuple[str, float], list[str]] = {}
    for r in rows:
        for m in r["misses"]:
            missed.setdefault((m["title"], m["start"]), []).append(
                f"{r['hours']:,.0f} h" + (f" ({m['answer']})" if m["answer"] else "")
            )
    miss_rows = [
        {
            "song": title,
            "excerpt starts": f"{start:.1f} s",
            "missed by (wrong answer)": ", ".join(c),
        }
        for (title, start), c in sorted(missed.items())
    ]
    return "\n\n".join(
        [
            "### Noise 0 dB 10 s on many excerpts (`python -m benchmarks fingerprint-noise`)",
            stamp(),
            f"Command: `AARES_NOISE_DBS={','.join(r['db'] for r in rows)} "
            f"AARES_NOISE_PER_SONG={PER_SONG} python -m benchmarks fingerprint-noise "
            "--data ../shared/data`. "
            f"{PER_SONG} excerpts of each of the {n_real} real songs the catalogs index, "
            "made as the scale table's noisy ones (seed 1, not the table's 0); CPU times "
            "include decoding. The same number of noisy excerpts (seed 2) of each of the "
            f"{n_held} held-out songs must stay unanswered.",
            markdown_table(pd.DataFrame(table)),
            "Every excerpt missed (no answer, unless a wrong one is named):"
            if miss_rows
            else "No miss.",
            markdown_table(pd.DataFrame(miss_rows)) if miss_rows else "",
            *(
                f"False positive at {r['hours']:,.0f} h: {f['source']} at {f['start']:.1f} s "
                f"named {f['answer']} ({f['score']} votes, significance {f['significance']})."
                for r in rows
                for f in r["false_positives"]
            ),
        ]
    )


def main(data_dir: Path) -> None:
    require_catalogs(DBS, "AARES_NOISE_DBS")
    with Catalog(DBS[0], readonly=True) as cat:
        songs = real_songs_of(cat)
    if not songs:
        raise SystemExit(f"{DBS[0]} holds no song whose audio file is at hand")
    excerpts = make_excerpts(songs, FOLDER)
    _, held = real_songs(data_dir)
    negatives = make_negatives(held, FOLDER)
    rows = []
    for db in DBS:
        rows.append(ask(db, excerpts, negatives))
        r = rows[-1]
        print(
            f"{db}: {r['correct']} of {r['n']} ({r['cpu_p50_ms']:.0f} ms p50), "
            f"{len(r['false_positives'])} false positives of {r['negatives']} "
            f"({r['shares_recording']} share a recording; {r['neg_cpu_p50_ms']:.0f} ms p50)",
            flush=True,
        )
    (FOLDER / "results.json").write_text(json.dumps(rows, indent=1))
    rows.sort(key=lambda r: r["hours"])
    write_section("fingerprint-noise", _markdown(rows, len(songs), len(held)))
