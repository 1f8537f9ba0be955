"""Any catalogue at 600k songs: parsing, the checksum cache, the index and a playlist.

The shared catalogue (145k songs) is grown to 600,000 rows, the size of the public
"600k tracks" release, by jittered copies with new ids and titles
(:func:`benchmarks.recommend.inflate`: the six bounded audio features +- N(0, 0.03), tempo
x N(1, 0.02), loudness + N(0, 0.5 dB), title + " #k"), and written as a CSV in that
release's column layout (no ``year``: it is taken from ``release_date``; extra
``id_artists`` and ``time_signature`` columns). Then, as ``aares recommend playlist
--catalogue FILE`` does: first read (parse + checks + cache write), cached read (checksum +
Parquet), index (:meth:`PlaylistRecommender.fit`), and playlists from a seed title
(title search + recommend, 100 random seeds). The 145k catalogue is the baseline of the same
run. Targets: index <= 30 s, playlist <= 50 ms at 600k.

Run: ``python -m benchmarks catalogue --data ../shared/data`` (a few minutes; ~3 GB RAM).
"""

from __future__ import annotations

import os
import resource
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from aares.data import CATALOGUE_FILE, TRAIN_FILE, data_file, load_train
from aares.markdown import markdown_table
from aares.recommend.catalog import load_catalogue_cached
from aares.recommend.playlist import PlaylistRecommender

from ._common import stamp, write_section
from .recommend import inflate

SIZE = 600_000
#: the "600k tracks" release's columns, in its order
LAYOUT = ["id", "name", "popularity", "duration_ms", "explicit", "artists", "id_artists",
          "release_date", "danceability", "energy", "key", "loudness", "mode", "speechiness",
          "acousticness", "instrumentalness", "liveness", "valence", "tempo",
          "time_signature"]  # fmt: skip


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(t) -> tuple[float, float]:
    return time.perf_counter() - t[0], time.process_time() - t[1]


def write_release(catalogue: pd.DataFrame, path: Path) -> Path:
    """Write ``catalogue`` as a CSV in the 600k release's layout."""
    out = catalogue.copy()
    out["artists"] = [repr(list(a)) for a in out["artists"]]
    codes = pd.factorize(pd.Series([a[0] if len(a) else "" for a in catalogue["artists"]]))[0]
    out["id_artists"] = [f"['a{c}']" for c in codes]
    out["explicit"] = out["explicit"].astype(int)
    out["time_signature"] = 4
    out[LAYOUT].to_csv(path, index=False)
    return path


def _playlists(rec: PlaylistRecommender, n: int = 100) -> dict:
    """Title search + a 10-song playlist from random seeds: wall and CPU ms."""
    rng = np.random.default_rng(0)
    wall, cpu = [], []
    for s in rng.integers(0, len(rec.vectors_), n):
        title = str(rec.names_[s])
        artist = rec.artists_[s][0] if rec.artists_[s] else None
        t = _clock()
        rec.playlist([title], [artist], n=10)
        w, c = _since(t)
        wall.append(1000 * w)
        cpu.append(1000 * c)
    return {"median": float(np.median(wall)), "p95": float(np.percentile(wall, 95)),
            "cpu": float(np.median(cpu))}  # fmt: skip


def _one(label: str, path: Path, cache: Path, train: pd.DataFrame) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the release has no 'year' column: expected
        t = _clock()
        load_catalogue_cached(path, cache)
        first = _since(t)
        t = _clock()
        cat = load_catalogue_cached(path, cache)
        cached = _since(t)
    t = _clock()
    rec = PlaylistRecommender().fit(cat, train["genre"], train)
    index = _since(t)
    lat = _playlists(rec)
    return {
        "catalogue": label,
        "songs": f"{len(cat):,}",
        "file MB": path.stat().st_size / 1e6,
        "first read s (wall/CPU)": f"{first[0]:.1f} / {first[1]:.1f}",
        "cached read s (wall/CPU)": f"{cached[0]:.2f} / {cached[1]:.2f}",
        "index s (wall/CPU)": f"{index[0]:.1f} / {index[1]:.1f}",
        "playlist ms median (wall/CPU)": f"{lat['median']:.1f} / {lat['cpu']:.1f}",
        "playlist ms p95 (wall)": lat["p95"],
        "_index": index,
        "_playlist": (lat["median"], lat["cpu"]),
    }


def main(data_dir: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="aares-catalogue-"))
    try:
        base_path = data_file(CATALOGUE_FILE, data_dir)
        train = load_train(data_file(TRAIN_FILE, data_dir))
        t = _clock()
        base = load_catalogue_cached(base_path)  # uncached: each row times its first read
        big_path = write_release(inflate(base, SIZE), work / "tracks_600k.csv")
        make = _since(t)
        PlaylistRecommender().fit(base.iloc[:2000], train["genre"], train)  # imports, warm-up
        rows = [_one("shared catalogue (baseline)", base_path, work / "cache", train),
                _one("grown to 600k, release layout", big_path, work / "cache", train)]  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    table = pd.DataFrame(rows)
    load = os.getloadavg()[1]
    big = rows[1]

    def verdict(value: float, target: float) -> str:
        return "met" if value <= target else "missed"

    index_txt = (
        f"{big['_index'][0]:.1f} s wall ({verdict(big['_index'][0], 30)}), "
        f"{big['_index'][1]:.1f} s CPU ({verdict(big['_index'][1], 30)})"
    )
    playlist_txt = (
        f"{big['_playlist'][0]:.1f} ms median wall ({verdict(big['_playlist'][0], 50)}), "
        f"{big['_playlist'][1]:.1f} ms CPU ({verdict(big['_playlist'][1], 50)})"
    )
    md = f"""## Any catalogue at 600k songs (`aares recommend playlist --catalogue FILE`)

{stamp()} Command: `python -m benchmarks catalogue --data ../shared/data`.

The shared 145k catalogue grown to {SIZE:,} rows by jittered copies with new ids and titles
(bounded audio features +- N(0, 0.03), tempo x N(1, 0.02), loudness + N(0, 0.5 dB), title +
" #k"), written as a CSV in the 600k release's layout (no `year`, extra `id_artists` and
`time_signature`; {make[0]:.0f} s to make). Each row: the first read (parse, cell checks,
Parquet cache written per SHA-256), the cached read (checksum + Parquet), the index
(`PlaylistRecommender.fit`: space, artist sound, version keys, title search, exact index),
and 100 playlists of 10 songs from a seed title and artist (title search + recommend).
Peak memory of the run: {peak:.1f} GB.

{markdown_table(table.drop(columns=["_index", "_playlist"]), "{:.1f}")}

Targets at 600k: index <= 30 s: {index_txt}; playlist <= 50 ms: {playlist_txt}. Load
average during the run: {load:.1f} on 2 cores (when other jobs share the machine, wall times
run above the CPU times, which are then the figure to compare with an idle machine; CPU above
wall means several threads).
"""
    write_section("catalogue", md)
    print(md)
