"""Exercises 4-5 of the course, end to end: a small Shazam with the handout's functions.

Run it on a folder of songs (the course's ``songs/`` folder, for example):

    python examples/course_fingerprint.py ../shared/data/songs
    python examples/course_fingerprint.py ../shared/data/songs --n 7 --save dataset.npz

It builds the dataset (one ``{hash: t_a}`` dict per song), cuts random excerpts of 5, 10 and
15 seconds out of the songs, looks each up with ``search_song`` and prints whether the right
song is first and whether it is in the top 3.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from aares.fingerprint.course import (
    HOP_LENGTH,
    load,
    process_signal,
    save_dataset,
    score_songs,
    search_song,
    song_files,
)


def main() -> None:
    default = Path(os.environ.get("AARES_DATA", "data")) / "songs"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=default, help="folder of songs")
    parser.add_argument("--n", type=int, default=7, help="excerpts per length (default 7)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the excerpts")
    parser.add_argument(
        "--aligned",
        action="store_true",
        help="cut excerpts on the frame grid (multiples of 512 samples)",
    )
    parser.add_argument("--save", type=Path, help="save the dataset (.npz or .json)")
    parser.add_argument("--query", type=Path, nargs="*", default=[], help="extra excerpt files")
    args = parser.parse_args()

    # 1. The songs: every audio file of the folder, in name order. The index of a song in
    #    this list is its index in the dataset, and what search_song returns.
    paths = song_files(args.folder)
    print(f"{len(paths)} songs in {args.folder}")

    # 2. Build the dataset. For each song: load() decodes it at 3 kHz, mono (all the
    #    fingerprint needs: the course keeps 0-1.5 kHz); process_signal() runs the handout's
    #    steps (a)-(e): spectrogram, its maxima, each maximum's target zone, the hashes
    #    f_a * 1e6 + f_p * 1e3 + (t_p - t_a), all in one {hash: t_a} dict.
    start = time.perf_counter()
    signals, dataset = [], []
    for path in paths:
        x, sr = load(path)
        signals.append(x)
        dataset.append(process_signal(x))
    seconds = sum(len(x) for x in signals) / sr
    elapsed = time.perf_counter() - start
    print(
        f"dataset built: {seconds:.0f} s of audio in {elapsed:.1f} s "
        f"({seconds / elapsed:.0f}x realtime), {sum(map(len, dataset))} hashes"
    )

    # 3. Save it in a safe format (NPZ or JSON: plain data, unlike a pickle).
    if args.save:
        save_dataset(args.save, dataset, names=[p.name for p in paths])
        print(f"saved to {args.save}")

    # 4. Search excerpts. An excerpt is a random stretch of a random song; we hash it exactly
    #    like a song and search_song() scores each song by the tallest bar of its histogram
    #    of offsets t_song - t_excerpt (one bin per frame): the right song's hashes agree on
    #    one offset, the excerpt's start.
    rng = np.random.default_rng(args.seed)
    for length in (5, 10, 15):
        first = top3 = 0
        for _ in range(args.n):
            song = int(rng.integers(len(paths)))
            x = signals[song]
            n = length * sr
            begin = int(rng.integers(0, len(x) - n))
            if args.aligned:
                begin -= begin % HOP_LENGTH
            best = search_song(dataset, process_signal(x[begin : begin + n]))
            first += best[0] == song
            top3 += song in best
            mark = "first" if best[0] == song else ("top 3" if song in best else "MISSED")
            print(f"  {length:2d} s of {paths[song].name[:50]:50s} at {begin / sr:6.1f} s: {mark}")
        print(
            f"{length} s excerpts: right song first {first}/{args.n}, in the top 3 {top3}/{args.n}"
        )

    # 5. Files given with --query: the top 3 (search_song has no "no match" answer: it always
    #    names 3 songs, even for an excerpt of a song that is not in the dataset; the scores
    #    show it: a few chance matches instead of dozens of hashes on one offset).
    for path in args.query:
        x, _ = load(path)
        hashes = process_signal(x)
        scores = score_songs(dataset, hashes)
        best = search_song(dataset, hashes)
        print(f"{path.name}: top 3 =")
        for i in best:
            print(f"  {paths[i].name} (score {scores[i]})")


if __name__ == "__main__":
    main()
