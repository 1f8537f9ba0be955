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

from aares.fingerprint import course
from aares.fingerprint.course import (
    HOP_LENGTH,
    get_hashes,
    get_maxima_in_tz,
    load,
    process_signal,
    save_dataset,
    score_songs,
    search_song,
    song_files,
)
from aares.fingerprint.peaks import course_maxima


def corrected_process_signal(x):
    """process_signal with the corrected peak picker (threshold on S[f, t] itself)."""
    S = course.compute_spectrogram(x)
    hashes, times = course.hashes_of(S, course_maxima(S, shifted=False))
    return dict(zip(hashes.tolist(), times.tolist(), strict=True))


def plain_process_signal(x):
    """The handout's steps written plainly (librosa and Python loops), for comparison."""
    import librosa  # only for this comparison

    S = np.abs(librosa.stft(x, n_fft=2048, win_length=1024, hop_length=512)) ** 2
    padded = np.pad(S, 1, constant_values=-np.inf)
    n_bins, n_frames = S.shape
    is_max = np.ones(S.shape, dtype=bool)
    for a in (-1, 0, 1):
        for b in (-1, 0, 1):
            if (a, b) != (0, 0):
                is_max &= S >= padded[1 + a : n_bins + 1 + a, 1 + b : n_frames + 1 + b]
    threshold = np.quantile(padded, 0.9)
    # the course helper's test reads padded[f, t] (= S[f-1, t-1])
    candidates = [(f, t) for f, t in np.argwhere(is_max).tolist() if padded[f, t] > threshold]
    candidates.sort(key=lambda p: padded[p], reverse=True)
    kept = []
    for p in candidates:
        if all(not (0 < np.hypot(p[0] - q[0], p[1] - q[1]) < 10) for q in kept):
            kept.append(p)
    maxima = np.array(sorted(kept))
    hashes = {}
    for anchor in maxima:
        for h, t_a in get_hashes(anchor, get_maxima_in_tz(S, maxima, anchor)):
            hashes[h] = t_a
    return hashes


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
    parser.add_argument(
        "--corrected",
        action="store_true",
        help="use the corrected peak picker (not the course helper's shifted threshold test)",
    )
    parser.add_argument(
        "--plain",
        action="store_true",
        help="also build the dataset with the plainly written pipeline (librosa, loops), "
        "time it and check that it gives the same hashes",
    )
    parser.add_argument("--save", type=Path, help="save the dataset (.npz or .json)")
    parser.add_argument("--query", type=Path, nargs="*", default=[], help="extra excerpt files")
    args = parser.parse_args()
    hash_signal = corrected_process_signal if args.corrected else process_signal

    # 1. The songs: every audio file of the folder, in name order. The index of a song in
    #    this list is its index in the dataset, and what search_song returns.
    paths = song_files(args.folder)
    print(f"{len(paths)} songs in {args.folder}")

    # 2. Build the dataset. For each song: load() decodes it at 3 kHz, mono (all the
    #    fingerprint needs: the course keeps 0-1.5 kHz); process_signal() runs the handout's
    #    steps (a)-(e): spectrogram, its maxima, each maximum's target zone, the hashes
    #    f_a * 1e6 + f_p * 1e3 + (t_p - t_a), all in one {hash: t_a} dict.
    #    (Timing: wall clock and CPU time of this process; on a busy machine they differ.)
    start, cpu = time.perf_counter(), time.process_time()
    signals, dataset = [], []
    for path in paths:
        x, sr = load(path)
        signals.append(x)
        dataset.append(hash_signal(x))
    seconds = sum(len(x) for x in signals) / sr
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(
        f"dataset built: {seconds:.0f} s of audio in {elapsed:.1f} s "
        f"({seconds / elapsed:.0f}x realtime; CPU {cpu:.1f} s, {seconds / cpu:.0f}x), "
        f"{sum(map(len, dataset))} hashes"
    )
    if args.plain:
        import librosa

        start, cpu = time.perf_counter(), time.process_time()
        plain = [plain_process_signal(librosa.load(path, sr=3000)[0]) for path in paths]
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        same = plain == dataset if not args.corrected else "n/a (--corrected)"
        print(
            f"plain pipeline: {elapsed:.1f} s ({seconds / elapsed:.0f}x realtime; "
            f"CPU {cpu:.1f} s, {seconds / cpu:.0f}x); same hashes: {same}"
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
            best = search_song(dataset, hash_signal(x[begin : begin + n]))
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
        hashes = hash_signal(x)
        scores = score_songs(dataset, hashes)
        best = search_song(dataset, hashes)
        print(f"{path.name}: top 3 =")
        for i in best:
            print(f"  {paths[i].name} (score {scores[i]})")


if __name__ == "__main__":
    main()
