"""The search as the catalog grows: one stage on pairs (before) against two stages on
three-point keys (now), in one run. `python -m benchmarks fingerprint-search --data DIR`
(sizes in audio hours: ``AARES_SEARCH_HOURS``, default ``1,10,100``).

At each size a catalog holds the pairs of 18 real songs (``songs/`` and
``music/singularity/``; 5 held out as negatives) and synthetic songs made from their peaks
as ``fingerprint-scale`` makes them (:func:`benchmarks.fingerprint_scale.synthetic_postings`:
played backwards on a warped time line), up to the size. Before: the
index of the pairs, searched directly (``match_signal`` without ``postings``). Now: the index
of the three-point keys derived from the same pairs (``index_landmarks``), searched in two
stages with the pairs of the candidates. Both indexes are segment files read in place, as a
catalog's are (:class:`aares.fingerprint.index.DiskIndex`). The same excerpts (8 kHz: clean
5 s, noise 0 dB 10 s, speed +-5 % 10 s; speed 0.85x and 1.18x, stretch 0.9x, pitch +2
semitones, 10 s; negatives: 6 excerpts of each held-out song) go to both; per kind: top-1
with the offset within 1 s, CPU p50 (``time.process_time``: analysis, lookups, votes), and
the postings the query reads from the catalog's index (the candidates' pairs apart).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from aares.fingerprint.audio import load_audio
from aares.fingerprint.catalog import DEFAULT_SETTINGS
from aares.fingerprint.index import DiskIndex
from aares.fingerprint.landmarks import analyse, get_profile, index_landmarks, peak_landmarks
from aares.fingerprint.match import match_signal
from aares.fingerprint.segment import Segment, write_segment
from aares.fingerprint.variants import add_noise, changed_excerpt

from ._common import stamp, write_section
from .fingerprint_scale import _transforms, positive_excerpt, real_songs, synthetic_postings

SIZES = [float(h) for h in os.environ.get("AARES_SEARCH_HOURS", "1,10,100").split(",")]
SR = 8000
KINDS = (
    "clean 5 s", "noise 0 dB 10 s", "speed +-5 % 10 s", "speed 0.85x", "speed 1.18x",
    "stretch 0.90x", "pitch +2 st", "negatives",
)  # fmt: skip
ISSUE18 = KINDS[:3]
RESULTS = Path(tempfile.gettempdir()) / "aares-fingerprint-search.json"
WORK = Path(tempfile.gettempdir()) / "aares-fingerprint-search"


class _Counting:
    # an index that counts the postings its lookups return
    def __init__(self, index) -> None:
        self.index, self.read = index, 0

    def __getattr__(self, name):
        return getattr(self.index, name)

    def __len__(self) -> int:
        return len(self.index)

    def lookup(self, qh, **kw):
        out = self.index.lookup(qh, **kw)
        self.read += out[0].size
        return out


def _queries(audio: dict, indexed: list[int], held: list[int], rng) -> list[tuple]:
    out = []
    for k, i in enumerate(indexed):
        x = audio[i]
        dur = x.size / SR
        for kind, length in (("clean 5 s", 5), ("noise 0 dB 10 s", 10), ("speed +-5 % 10 s", 10)):
            out.append((kind, i, *positive_excerpt(x, SR, kind, length, k, rng)[::-1]))
        for kind, change, f in (
            ("speed 0.85x", "speed", 0.85), ("speed 1.18x", "speed", 1.18),
            ("stretch 0.90x", "stretch", 0.9), ("pitch +2 st", "pitch", 2.0),
        ):  # fmt: skip
            a = float(rng.uniform(0, dur - 14))
            out.append((kind, i, a, changed_excerpt(change, f, x, SR, a, 10.0, rng)))
    for i in held:
        x = audio[i]
        for j in range(6):
            length = 5 if j % 2 == 0 else 10
            a = int(rng.uniform(0, x.size / SR - length - 0.5) * SR)
            seg = x[a : a + length * SR]
            out.append(("negatives", None, 0.0, add_noise(seg, 0.0, rng) if j % 2 else seg))
    return out


def run(data_dir: Path) -> dict:
    prof = get_profile("default")
    settings = DEFAULT_SETTINGS["default"]
    files, held_files = real_songs(data_dir)
    audio = {i: load_audio(f, sr=SR)[0] for i, f in enumerate(files)}
    held = [i for i, f in enumerate(files) if f in held_files]
    indexed = [i for i in range(len(files)) if i not in held]
    queries = _queries(audio, indexed, held, np.random.default_rng(0))
    peaks = {i: analyse(audio[i], prof) for i in indexed}
    pairs = {i: peak_landmarks(*peaks[i], prof) for i in indexed}
    rate = sum(h.size for h, _ in pairs.values()) / sum(audio[i].size / SR for i in indexed)
    hours = sum(audio[i].size / SR for i in indexed) / 3600
    transforms = _transforms(7, 4096)
    copy, next_id, rows = 0, 1000, []
    for size in SIZES:
        while hours < size:
            for i in indexed:
                h, f = synthetic_postings(*peaks[i], prof, *transforms[copy % len(transforms)])
                pairs[next_id] = (h, f)
                next_id += 1
                hours += h.size / rate / 3600
                copy += 1
        ids = sorted(pairs)
        # both indexes as a catalog reads them: one segment file each, memory-mapped
        WORK.mkdir(parents=True, exist_ok=True)
        hs, fs = [pairs[i][0] for i in ids], [pairs[i][1] for i in ids]
        write_segment(WORK / "pairs.aix", ids, hs, fs, key_bits=prof.hash_bits)
        before = DiskIndex([Segment(WORK / "pairs.aix")])
        keys = [index_landmarks(*pairs[i], prof) for i in ids]
        hs, fs = [k for k, _ in keys], [f for _, f in keys]
        write_segment(WORK / "keys.aix", ids, hs, fs, key_bits=prof.index_bits)
        now = DiskIndex([Segment(WORK / "keys.aix")])
        del keys, hs, fs
        row = {"hours": hours, "songs": len(ids), "pair_postings": len(before)}
        row["key_postings"] = len(now)
        for name, index, postings in (("before", before, None), ("now", now, pairs.get)):
            per: dict[str, dict] = {k: {"ok": 0, "n": 0, "ms": [], "read": []} for k in KINDS}
            for kind, song, start, x in queries:
                counted = _Counting(index)
                t0 = time.process_time()
                found = match_signal(x, counted, prof, settings, postings)
                d = per[kind]
                d["ms"].append((time.process_time() - t0) * 1e3)
                d["read"].append(counted.read)
                d["n"] += 1
                if song is None:
                    d["ok"] += bool(found)
                else:
                    d["ok"] += (
                        bool(found)
                        and found[0].song_id == song
                        and (abs(found[0].offset - start) < 1.0)
                    )
            row[name] = per
        rows.append(row)
        print({k: v for k, v in row.items() if k not in ("before", "now")}, flush=True)
        RESULTS.write_text(json.dumps({"rows": rows}))  # a long run keeps what it measured
        del before, now
    return {"rows": rows, "n_queries": len(queries)}


def _p50(xs) -> float:
    return float(np.median(xs)) if xs else 0.0


def markdown(res: dict) -> str:
    lines = [
        "### The search as the catalog grows: one stage on pairs against two stages"
        " (`python -m benchmarks fingerprint-search`)",
        "",
        stamp(),
        "Catalogs (segment files read in place) of 18 real songs and synthetic copies of their"
        " peaks (the method of `fingerprint-scale`); the same excerpts through the one-stage"
        " pair search (before) and the two-stage search on three-point keys (now) in one run."
        " Top-1 with the offset within 1 s (negatives: answers given, should be 0), CPU p50 per"
        " query, postings read from the catalog's index (median).",
        "",
        "| catalog | excerpts | before: top-1 | now: top-1 | before: CPU p50 | now: CPU p50 |"
        " before: postings read | now: postings read |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        b, n = r["before"], r["now"]
        for kind in KINDS:
            bb, nn = b[kind], n[kind]
            acc = "{:.0%}" if kind != "negatives" else "{} of " + str(bb["n"])
            fb = acc.format(bb["ok"] / bb["n"] if kind != "negatives" else bb["ok"])
            fn = acc.format(nn["ok"] / nn["n"] if kind != "negatives" else nn["ok"])
            lines.append(
                f"| {r['hours']:,.0f} h ({r['songs']:,} songs) | {kind} ({bb['n']}) | {fb} |"
                f" {fn} | {_p50(bb['ms']):.1f} ms | {_p50(nn['ms']):.1f} ms |"
                f" {_p50(bb['read']):,.0f} | {_p50(nn['read']):,.0f} |"
            )
        pos_b = [x for k in ISSUE18 for x in b[k]["ms"]]
        pos_n = [x for k in ISSUE18 for x in n[k]["ms"]]
        lines.append(
            f"| {r['hours']:,.0f} h | issue 18's positives (first three rows) | | |"
            f" {_p50(pos_b):.1f} ms | {_p50(pos_n):.1f} ms | | |"
        )
    lines += [
        "",
        "Index postings per audio hour: "
        + ", ".join(
            f"{r['hours']:,.0f} h: {r['pair_postings'] / r['hours']:,.0f} pairs,"
            f" {r['key_postings'] / r['hours']:,.0f} three-point keys"
            for r in res["rows"]
        )
        + ".",
    ]
    return "\n".join(lines)


def main(data_dir: Path) -> None:
    write_section("fingerprint-search", markdown(run(data_dir)))
