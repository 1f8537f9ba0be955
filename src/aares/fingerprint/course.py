"""The course's fingerprint functions (Exercises 4-5), with the handout's names, exact and fast.

The handout builds a small Shazam (Avery Wang, "An Industrial-Strength Audio Search
Algorithm", 2003) in five steps; each is one function here:

1. :func:`load` decodes a song at 3 kHz (mono float32, the samples ``librosa.load`` gives);
2. :func:`compute_spectrogram` takes the power ``|STFT|^2`` (``n_fft=2048``,
   ``win_length=1024``, ``hop_length=512``): 1025 frequency rows, one column per frame;
3. :func:`get_maxima` picks the spectrogram's peaks exactly as the course helper does (quirk
   included, see :func:`aares.fingerprint.peaks.course_maxima`);
4. :func:`get_maxima_in_tz` and :func:`get_hashes` pair each peak (the *anchor*) with the 10
   strongest peaks of its *target zone* (the next 300 frames, +-10 bins) and turn each pair
   into an integer ``hash = f_a * 1_000_000 + f_p * 1_000 + (t_p - t_a)``;
   :func:`process_signal` runs steps 2-4 and returns the song's ``{hash: t_a}``;
5. :func:`search_song` looks the excerpt's hashes up in every song and votes on the time
   offset: the true song has many hashes that agree on one offset.

The dataset (one ``{hash: t_a}`` dict per song) is stored with :func:`save_dataset` as NPZ
or JSON; :func:`load_dataset` reads those, and a course pickle only with ``trusted=True``.

Example
-------
>>> from aares.fingerprint import course                             # doctest: +SKIP
>>> x, sr = course.load("songs/song.mp3")                            # doctest: +SKIP
>>> song = course.process_signal(x)            # {hash: t_a}         # doctest: +SKIP
>>> course.search_song([song], course.process_signal(x[:30000]))    # doctest: +SKIP
[0]
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Iterable, Sequence
from pathlib import Path

import numba
import numpy as np

from aares.fingerprint.audio import AUDIO_EXTENSIONS, load_audio
from aares.fingerprint.peaks import course_maxima
from aares.fingerprint.spectrogram import power_spectrogram
from aares.io import atomic_path, write_json

__all__ = [
    "SR",
    "N_FFT",
    "WIN_LENGTH",
    "HOP_LENGTH",
    "load",
    "compute_spectrogram",
    "get_maxima",
    "get_maxima_in_tz",
    "get_hashes",
    "hashes_of",
    "process_signal",
    "search_song",
    "score_songs",
    "matching_times",
    "song_files",
    "build_dataset",
    "save_dataset",
    "load_dataset",
]

#: The handout's parameters.
SR = 3000
N_FFT = 2048
WIN_LENGTH = 1024
HOP_LENGTH = 512
TZ_FRAMES = 300
TZ_BINS = 10
TZ_POINTS = 10

_PICKLE_SUFFIXES = {".pkl", ".pickle", ".p", ".pck"}
_FORMAT = "aares-course-dataset"


# --- steps 1-3 ------------------------------------------------------------------------------


def load(path: str | os.PathLike, sr: int = SR) -> tuple[np.ndarray, int]:
    """Decode ``path`` as mono float32 at ``sr`` Hz: the same samples as ``librosa.load``.

    Returns ``(x, sr)``. Raises :class:`aares.fingerprint.AudioError` (a ``ValueError``
    naming the file) when the file cannot be decoded.
    """
    return load_audio(path, sr=sr, mono=True)


def compute_spectrogram(x: np.ndarray) -> np.ndarray:
    """Power spectrogram ``|STFT|^2`` with ``n_fft=2048, win_length=1024, hop_length=512``.

    Equals ``np.abs(librosa.stft(x, n_fft=2048, win_length=1024, hop_length=512)) ** 2``
    (librosa's centred frames, zero padding) up to float32 rounding. Shape
    ``(1025, 1 + len(x) // 512)``: rows are frequency bins (``k * sr / 2048`` Hz), columns
    are frames (``t * 512 / sr`` seconds).

    Examples
    --------
    >>> compute_spectrogram(np.zeros(3000, dtype=np.float32)).shape
    (1025, 6)
    """
    return power_spectrogram(x, n_fft=N_FFT, hop_length=HOP_LENGTH, win_length=WIN_LENGTH)


def get_maxima(S: np.ndarray) -> np.ndarray:
    """The course helper's peaks of ``S``: int array ``(K, 2)`` of ``(bin, frame)``, row-major.

    Exactly the course helper's output, so students get the same peaks: local maxima
    (``>=`` their 8 neighbours, ``-inf`` outside), kept when the value tested is above the
    0.9 quantile of the ``-inf``-padded array, then greedily thinned so that no two kept peaks
    are closer than 10 cells. **Quirk reproduced**: the helper tests ``padded[f, t]``, which
    is ``S[f-1, t-1]`` (the diagonal neighbour), not ``S[f, t]``; peaks on the first bin or
    frame are never kept. The corrected picker is
    ``aares.fingerprint.peaks.course_maxima(S, shifted=False)``.
    """
    return course_maxima(S, quantile=0.9, radius=10.0, shifted=True)


# --- step 4: target zones and hashes ---------------------------------------------------------


def get_maxima_in_tz(
    S: np.ndarray,
    maxima: np.ndarray,
    anchor: Sequence[int],
    dt: int = TZ_FRAMES,
    df: int = TZ_BINS,
    n_points: int = TZ_POINTS,
) -> np.ndarray:
    """The (at most) ``n_points`` maxima of the anchor's target zone with the highest ``S``.

    The target zone of anchor ``(f_a, t_a)`` is the frames ``t_a < t <= t_a + dt`` and the
    bins ``f_a - df <= f <= f_a + df``. Returns an int array ``(<= n_points, 2)`` of
    ``(bin, frame)``, strongest first (equal values in the order of ``maxima``).

    Examples
    --------
    >>> S = np.arange(100.0).reshape(10, 10)
    >>> maxima = np.array([[1, 1], [2, 3], [5, 2], [3, 9]])
    >>> get_maxima_in_tz(S, maxima, (2, 1), dt=5, df=2).tolist()
    [[2, 3]]
    """
    maxima = np.asarray(maxima, dtype=np.int64).reshape(-1, 2)
    f_a, t_a = int(anchor[0]), int(anchor[1])
    f, t = maxima[:, 0], maxima[:, 1]
    inside = (t > t_a) & (t <= t_a + dt) & (f >= f_a - df) & (f <= f_a + df)
    zone = maxima[inside]
    values = np.asarray(S)[zone[:, 0], zone[:, 1]]
    order = np.argsort(-values.astype(np.float64), kind="stable")[:n_points]
    return zone[order]


def get_hashes(anchor: Sequence[int], maxima_in_tz: np.ndarray) -> list[tuple[int, int]]:
    """``[(hash, t_a), ...]`` with ``hash = f_a * 1_000_000 + f_p * 1_000 + (t_p - t_a)``.

    One hash per point ``p = (f_p, t_p)`` of the anchor's target zone. The layout packs
    the two bins and the time gap in decimal digits (the gap is at most 300 frames, bins at
    most 1024, so hashes with ``f_p >= 1000`` may collide with the next anchor bin: a course
    simplification kept as is).

    Examples
    --------
    >>> get_hashes((12, 40), np.array([[15, 45], [9, 140]]))
    [(12015005, 40), (12009100, 40)]
    """
    f_a, t_a = int(anchor[0]), int(anchor[1])
    return [
        (f_a * 1_000_000 + int(f_p) * 1_000 + (int(t_p) - t_a), t_a)
        for f_p, t_p in np.asarray(maxima_in_tz, dtype=np.int64).reshape(-1, 2)
    ]


@numba.njit(cache=True)
def _zone_pairs(bins, frames, values, by_time, dt, df, n_points):  # pragma: no cover (numba)
    # For each anchor i (in the order of the maxima), the n_points strongest maxima of its
    # target zone; ties go to the earlier maximum, as a stable sort does.
    K = bins.size
    sorted_frames = frames[by_time]
    out_a = np.empty(K * n_points, dtype=np.int64)
    out_p = np.empty(K * n_points, dtype=np.int64)
    m = 0
    buf = np.empty(K, dtype=np.int64)
    for i in range(K):
        f_a = bins[i]
        t_a = frames[i]
        lo = np.searchsorted(sorted_frames, t_a, side="right")
        hi = np.searchsorted(sorted_frames, t_a + dt, side="right")
        c = 0
        for j in range(lo, hi):
            p = by_time[j]
            if f_a - df <= bins[p] <= f_a + df:
                buf[c] = p
                c += 1
        cand = np.sort(buf[:c])  # maxima order, for stable tie-breaking
        taken = np.zeros(c, dtype=np.bool_)
        for _ in range(min(n_points, c)):
            best = -1
            for k in range(c):
                if not taken[k] and (best < 0 or values[cand[k]] > values[cand[best]]):
                    best = k
            taken[best] = True
            out_a[m] = i
            out_p[m] = cand[best]
            m += 1
    return out_a[:m], out_p[:m]


def hashes_of(
    S: np.ndarray,
    maxima: np.ndarray,
    dt: int = TZ_FRAMES,
    df: int = TZ_BINS,
    n_points: int = TZ_POINTS,
) -> tuple[np.ndarray, np.ndarray]:
    """Every anchor's hashes at once, as two int64 arrays ``(hashes, t_a)``.

    The same pairs, in the same order, as calling :func:`get_maxima_in_tz` and
    :func:`get_hashes` for each anchor of ``maxima`` in turn, without a Python loop.
    """
    maxima = np.asarray(maxima, dtype=np.int64).reshape(-1, 2)
    if maxima.shape[0] == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    bins = np.ascontiguousarray(maxima[:, 0])
    frames = np.ascontiguousarray(maxima[:, 1])
    values = np.asarray(S, dtype=np.float64)[bins, frames]
    by_time = np.argsort(frames, kind="stable").astype(np.int64)
    a, p = _zone_pairs(bins, frames, values, by_time, int(dt), int(df), int(n_points))
    hashes = bins[a] * 1_000_000 + bins[p] * 1_000 + (frames[p] - frames[a])
    return hashes, frames[a]


def process_signal(x: np.ndarray) -> dict[int, int]:
    """The handout's steps (a)-(e) on a 3 kHz signal; returns the song's ``{hash: t_a}``.

    (a) spectrogram (:func:`compute_spectrogram`); (b) its maxima (:func:`get_maxima`);
    (c) each maximum as an anchor, its target zone's 10 strongest maxima
    (:func:`get_maxima_in_tz`); (d) the anchor's hashes (:func:`get_hashes`); (e) all hashes
    in one dict. When two anchors give the same hash, the later anchor (in the order of the
    maxima: by bin, then frame) wins, as filling the dict in a loop does.
    """
    S = compute_spectrogram(x)
    hashes, times = hashes_of(S, get_maxima(S))
    return dict(zip(hashes.tolist(), times.tolist(), strict=True))


# --- step 5: search --------------------------------------------------------------------------


def matching_times(
    db_song: dict[int, int], song_hashes: dict[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """For the hashes shared by a database song and an excerpt: ``(t_excerpt, t_song)``."""
    common = song_hashes.keys() & db_song.keys()
    t_query = np.fromiter((song_hashes[h] for h in common), dtype=np.int64, count=len(common))
    t_db = np.fromiter((db_song[h] for h in common), dtype=np.int64, count=len(common))
    return t_query, t_db


def score_songs(db_hashes: Sequence[dict[int, int]], song_hashes: dict[int, int]) -> np.ndarray:
    """Each song's score: the tallest bar of its histogram of offsets, one bin per frame."""
    scores = np.zeros(len(db_hashes), dtype=np.int64)
    for i, db_song in enumerate(db_hashes):
        t_query, t_db = matching_times(db_song, song_hashes)
        if t_query.size:
            offsets = t_db - t_query
            scores[i] = np.bincount(offsets - offsets.min()).max()
    return scores


def search_song(
    db_hashes: Sequence[dict[int, int]], song_hashes: dict[int, int], n_best: int = 3
) -> list[int]:
    """Indices of the ``n_best`` (3) songs of ``db_hashes`` that best match the excerpt.

    Each song is scored by the tallest bar of the histogram of offsets ``t_db - t_query``
    over the hashes it shares with the excerpt, **with one bin per frame** (Appendix C):
    when the excerpt comes from the song, its hashes agree on one exact offset (where the
    excerpt starts, in frames) and pile up in one bar; chance matches spread over all
    offsets. The course helper calls ``np.histogram(offsets)``, whose default is 10 bins
    spanning the whole range of offsets: a bin is then hundreds of frames wide, so a wrong
    song with many scattered chance matches fills one wide bin and outscores the true
    song's sharp peak. That is why the course pipeline sometimes names a wrong song.

    Ties keep the database order. There is no "no match" answer: the best 3 are returned
    even when none of them is the excerpt's song (the engine, ``aares fp identify``, has one).

    Examples
    --------
    >>> db = [{1: 10, 2: 11, 3: 50}, {1: 100, 2: 101, 3: 102}]
    >>> search_song(db, {1: 0, 2: 1, 3: 2}, n_best=2)
    [1, 0]
    """
    scores = score_songs(db_hashes, song_hashes)
    return np.argsort(-scores, kind="stable")[:n_best].tolist()


# --- datasets ---------------------------------------------------------------------------------


def song_files(folder: str | os.PathLike) -> list[Path]:
    """The audio files of ``folder`` (not recursive), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder of songs")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS)
    if not files:
        raise ValueError(f"{folder}: no audio files (expected {', '.join(AUDIO_EXTENSIONS)})")
    return files


def build_dataset(
    paths: Iterable[str | os.PathLike], progress: bool = False
) -> tuple[list[dict[int, int]], list[str]]:
    """``process_signal(load(path)[0])`` for each path: ``(dataset, names)``.

    ``names`` are the file names (without folder), in the same order as ``dataset``.
    """
    paths = [Path(p) for p in paths]
    dataset, names = [], []
    if progress:
        from aares.console import progress as bar

        with bar() as prog:
            task = prog.add_task("hashing songs", total=len(paths))
            for p in paths:
                dataset.append(process_signal(load(p)[0]))
                names.append(p.name)
                prog.advance(task)
    else:
        for p in paths:
            dataset.append(process_signal(load(p)[0]))
            names.append(p.name)
    return dataset, names


def save_dataset(
    path: str | os.PathLike,
    dataset: Sequence[dict[int, int]],
    names: Sequence[str] | None = None,
) -> Path:
    """Save the list of ``{hash: t_a}`` dicts (and optional song names) as NPZ or JSON.

    The format follows the suffix: ``.json`` writes JSON, anything else NPZ (compact: two
    int64 arrays and the songs' hash counts). Both are plain data, safe to open from anyone;
    the write is atomic. Pickle is not offered: unpickling a file runs code from it.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "db.npz"
    >>> _ = save_dataset(path, [{12015005: 40}, {}], names=["a.mp3", "b.mp3"])
    >>> load_dataset(path)
    [{12015005: 40}, {}]
    """
    path = Path(path)
    if path.suffix.lower() in _PICKLE_SUFFIXES:
        raise ValueError(f"{path}: aares does not write pickles; use a .npz or .json file")
    dataset = list(dataset)
    if names is not None and len(names) != len(dataset):
        raise ValueError(f"{len(names)} names for {len(dataset)} songs")
    if path.suffix.lower() == ".json":
        songs = [
            {
                "name": None if names is None else str(names[i]),
                "hash": [int(h) for h in d],
                "t": [int(t) for t in d.values()],
            }
            for i, d in enumerate(dataset)
        ]
        write_json(path, {"format": _FORMAT, "version": 1, "songs": songs})
        return path
    counts = np.array([len(d) for d in dataset], dtype=np.int64)
    hashes = np.fromiter((h for d in dataset for h in d), dtype=np.int64, count=int(counts.sum()))
    times = np.fromiter(
        (t for d in dataset for t in d.values()), dtype=np.int64, count=int(counts.sum())
    )
    arrays = {"hashes": hashes, "times": times, "counts": counts}
    arrays["format"] = np.array(_FORMAT)
    if names is not None:
        arrays["names"] = np.array([str(n) for n in names], dtype=str)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return path


def load_dataset(
    path: str | os.PathLike, trusted: bool = False, with_names: bool = False
) -> list[dict[int, int]] | tuple[list[dict[int, int]], list[str] | None]:
    """Read a dataset written by :func:`save_dataset` (NPZ or JSON).

    A course pickle (``.pkl``/``.pickle``, or any file that starts like one) is read only
    with ``trusted=True``: unpickling runs code from the file, so do it only for a file you
    made yourself, then convert it once with :func:`save_dataset`. With ``with_names`` the
    result is ``(dataset, names)`` (``names`` is ``None`` when the file has none).

    Raises ``ValueError`` naming the file when it is not a dataset.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such dataset file")
    with open(path, "rb") as fh:
        head = fh.read(2)
    names: list[str] | None = None
    if path.suffix.lower() in _PICKLE_SUFFIXES or head[:1] == b"\x80":
        if not trusted:
            raise ValueError(
                f"{path}: is a Python pickle, refused: unpickling runs code from the file. "
                "If you made this file yourself, load it once with "
                "load_dataset(path, trusted=True) and convert it with "
                "save_dataset('dataset.npz', dataset)."
            )
        with open(path, "rb") as fh:
            obj = pickle.load(fh)  # noqa: S301 (explicit trusted opt-in)
        dataset = _check_dataset(obj, path)
    elif head[:1] in (b"{", b"[", b" ", b"\n"):
        dataset, names = _read_json(path)
    elif head == b"PK":
        dataset, names = _read_npz(path)
    else:
        raise ValueError(f"{path}: not a dataset file (expected NPZ or JSON from save_dataset)")
    return (dataset, names) if with_names else dataset


def _read_npz(path: Path) -> tuple[list[dict[int, int]], list[str] | None]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "format" not in npz or str(npz["format"]) != _FORMAT:
                raise ValueError(f"{path}: NPZ file is not an aares course dataset")
            hashes, times, counts = npz["hashes"], npz["times"], npz["counts"]
            names = npz["names"].tolist() if "names" in npz else None
    except (OSError, KeyError, EOFError) as exc:
        raise ValueError(f"{path}: unreadable dataset file ({exc})") from None
    if hashes.shape != times.shape or counts.sum() != hashes.size:
        raise ValueError(f"{path}: inconsistent dataset arrays (hashes, times, counts)")
    bounds = np.concatenate([[0], np.cumsum(counts)])
    dataset = [
        dict(zip(hashes[a:b].tolist(), times[a:b].tolist(), strict=True))
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    return dataset, names


def _read_json(path: Path) -> tuple[list[dict[int, int]], list[str] | None]:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(obj, dict) or obj.get("format") != _FORMAT:
        raise ValueError(f"{path}: JSON file is not an aares course dataset")
    dataset, names = [], []
    for i, song in enumerate(obj.get("songs", [])):
        try:
            dataset.append(dict(zip(map(int, song["hash"]), map(int, song["t"]), strict=True)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: song {i}: expected 'hash' and 't' lists ({exc})") from None
        names.append(song.get("name"))
    return dataset, (None if all(n is None for n in names) else names)


def _check_dataset(obj: object, path: Path) -> list[dict[int, int]]:
    if not isinstance(obj, list | tuple) or not all(isinstance(d, dict) for d in obj):
        raise ValueError(f"{path}: expected a list of {{hash: t_a}} dicts")
    return [{int(h): int(t) for h, t in d.items()} for d in obj]
