"""Matching: look a query's landmarks up in an inverted index and vote on the time offset.

A song holding the excerpt shares many landmarks with it, all at the same offset
``frame_in_song - frame_in_excerpt``; a wrong song shares a few, at scattered offsets. So
every hit votes for ``(song, offset)``, a vote also counts for the two neighbouring offsets
(one frame of tolerance: peaks jitter by a frame between two recordings), and a song's score
is its tallest bar.

Speed changes are searched on the query's peaks: :func:`match_peaks` first tries speed 1; when
that gives no confident answer it retries a grid of factors (0.94 ... 1.06), rescaling the
peak frequencies and times (:func:`aares.fingerprint.landmarks.landmark_hashes`), all factors
in one vectorised lookup. A match reports the factor it was found at.

"No match" is calibrated: a score below ``min_score`` votes (set from negatives: songs not in
the catalog, silence, noise, speech; see ``aares fp bench``) is not a match, and the score
must stand out from the query's other candidates (``min_ratio`` times the best wrong song).

Example
-------
>>> import numpy as np
>>> idx = Index.from_arrays([np.array([1, 2, 3], np.uint32)], [np.array([10, 11, 12])], [7])
>>> songs, frames = idx.lookup(np.array([2, 9], np.uint32))[1:]
>>> songs.tolist(), frames.tolist()
([7], [11])
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from aares.fingerprint.landmarks import Profile, analyse, landmark_hashes, pair_peaks
from aares.fingerprint.store import Store

__all__ = ["Index", "Match", "match_peaks", "match_signal", "speed_grid", "MatchSettings"]

_OFFSET_BIAS = 1 << 22  # offsets (frames) are shifted positive inside the vote keys
_OFFSET_BITS = 23


class Index:
    """In-memory inverted index: postings sorted by hash, with song id and anchor frame.

    Built once from a store (:meth:`from_store`); a query then costs one binary search per
    landmark plus the hits, whatever the number of songs.
    """

    def __init__(self, hashes: np.ndarray, songs: np.ndarray, frames: np.ndarray) -> None:
        order = np.argsort(hashes, kind="stable")
        self.hashes = np.ascontiguousarray(hashes[order], dtype=np.uint32)
        self.songs = np.ascontiguousarray(songs[order], dtype=np.int32)
        self.frames = np.ascontiguousarray(frames[order], dtype=np.int32)

    @classmethod
    def from_arrays(cls, hashes_list, frames_list, song_ids) -> Index:
        """Index from per-song arrays of hashes and frames."""
        if len(hashes_list) == 0:
            z = np.zeros(0, dtype=np.uint32)
            return cls(z, z.astype(np.int32), z.astype(np.int32))
        hashes = np.concatenate([np.asarray(h, dtype=np.uint32) for h in hashes_list])
        frames = np.concatenate([np.asarray(f, dtype=np.int64) for f in frames_list])
        songs = np.repeat(
            np.asarray(song_ids, dtype=np.int32), [len(h) for h in hashes_list]
        ).astype(np.int32)
        return cls(hashes, songs, frames.astype(np.int32))

    @classmethod
    def from_store(cls, store: Store) -> Index:
        """Read every song's postings from ``store`` and sort them once."""
        ids, hs, fs = [], [], []
        for sid, h, f in store.all_postings():
            ids.append(sid)
            hs.append(h)
            fs.append(f)
        return cls.from_arrays(hs, fs, ids)

    def __len__(self) -> int:
        return int(self.hashes.size)

    @property
    def nbytes(self) -> int:
        return int(self.hashes.nbytes + self.songs.nbytes + self.frames.nbytes)

    def lookup(self, qh: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every posting of every query hash: ``(query index, song, frame)`` arrays."""
        qh = np.asarray(qh, dtype=np.uint32)
        lo = np.searchsorted(self.hashes, qh, side="left")
        hi = np.searchsorted(self.hashes, qh, side="right")
        return _gather(lo, hi, self.songs, self.frames)


@numba.njit(cache=True)
def _gather(lo, hi, songs, frames):  # pragma: no cover (numba)
    n = 0
    for i in range(lo.size):
        n += hi[i] - lo[i]
    qi = np.empty(n, dtype=np.int64)
    so = np.empty(n, dtype=np.int64)
    fr = np.empty(n, dtype=np.int64)
    k = 0
    for i in range(lo.size):
        for p in range(lo[i], hi[i]):
            qi[k] = i
            so[k] = songs[p]
            fr[k] = frames[p]
            k += 1
    return qi, so, fr


@dataclass(frozen=True)
class MatchSettings:
    """Decision thresholds and the speed search of the matcher.

    Parameters
    ----------
    min_score : int
        Votes (hits at one offset, +-1 frame) a match needs. Calibrated on negatives.
    min_ratio : float
        A match's score must be at least this multiple of the best *other* song's score
        (random hits pile up for any song; a real match towers over them).
    tolerance : int
        Frames of offset tolerance in the vote.
    speeds : tuple of float
        Factors searched when speed 1 gives no match (empty: never search).
    accept_score : int
        A speed-1 answer with at least this score ends the search early.
    slack : float
        Widening of the query's target zone so that pairs of a sped-up query still fall
        in the song's zone after rescaling.
    top : int
        Maximum number of matches returned.
    """

    min_score: int = 12
    min_ratio: float = 2.0
    tolerance: int = 1
    speeds: tuple[float, ...] = ()
    accept_score: int = 20
    slack: float = 1.07
    top: int = 5


def speed_grid(max_change: float = 0.06, step: float = 0.01) -> tuple[float, ...]:
    """Speed factors ``1 +- k * step`` up to ``max_change`` (1 itself excluded)."""
    k = int(round(max_change / step))
    grid = [1.0 + i * step for i in range(-k, k + 1) if i != 0]
    return tuple(sorted(grid, key=lambda s: abs(s - 1.0)))


@dataclass(frozen=True)
class Match:
    """One answer: a song of the catalog and where the excerpt lies in it."""

    song_id: int
    score: int
    offset: float  # seconds into the song where the excerpt starts
    confidence: float  # share of the query's landmarks that voted for this answer
    speed: float  # the speed factor the excerpt was found at (1.05: played 5 % fast)
    title: str = ""
    artist: str = ""
    path: str = ""

    def to_dict(self) -> dict:
        return {
            "song_id": self.song_id,
            "title": self.title,
            "artist": self.artist,
            "score": self.score,
            "offset": round(self.offset, 3),
            "confidence": round(self.confidence, 4),
            "speed": round(self.speed, 4),
            "path": self.path,
        }


def _vote(index: Index, qh: np.ndarray, qt: np.ndarray, qs: np.ndarray, tolerance: int):
    # qh: hashes, qt: anchor times (rescaled frames), qs: speed index of each landmark.
    # Returns per-song best (score, speed index, offset) arrays, sorted by score.
    qi, song, frame = index.lookup(qh)
    if qi.size == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e, e, e
    offset = frame - np.rint(qt[qi]).astype(np.int64)
    sidx = qs[qi]
    n_speeds = int(qs.max()) + 1
    group = song * n_speeds + sidx
    keys = (group << _OFFSET_BITS) | (offset + _OFFSET_BIAS)
    u, c = np.unique(keys, return_counts=True)
    score = c.copy()
    for d in range(1, tolerance + 1):
        for sign in (-1, 1):
            nb = u + sign * d
            j = np.searchsorted(u, nb)
            j = np.minimum(j, u.size - 1)
            ok = u[j] == nb
            score[ok] += c[j[ok]]
    g = u >> _OFFSET_BITS
    songs_of = g // n_speeds
    # best key per song: sort by (song, -score), take the first of each song
    order = np.lexsort((-score, songs_of))
    first = np.ones(order.size, dtype=bool)
    first[1:] = songs_of[order][1:] != songs_of[order][:-1]
    best = order[first]
    rank = np.argsort(-score[best], kind="stable")
    best = best[rank]
    off = (u[best] & ((1 << _OFFSET_BITS) - 1)) - _OFFSET_BIAS
    return songs_of[best], score[best], g[best] % n_speeds, off


def match_peaks(
    points: np.ndarray,
    strength: np.ndarray,
    index: Index,
    profile: Profile,
    settings: MatchSettings | None = None,
) -> list[Match]:
    """Ranked matches for a query given as peaks (:func:`aares.fingerprint.landmarks.analyse`).

    Returns an empty list for "no match". Matches carry the song id only; the catalog
    fills in the title, artist and path.
    """
    settings = settings or MatchSettings()
    slack = settings.slack if settings.speeds else 1.0
    pairs = pair_peaks(points, profile, strength, fan_out=profile.query_fan_out, slack=slack)
    result = _match_speeds(points, pairs, index, profile, settings, (1.0,))
    if settings.speeds and (not result or result[0].score < settings.accept_score):
        grid = (1.0, *settings.speeds)
        wide = _match_speeds(points, pairs, index, profile, settings, grid)
        if wide and (not result or wide[0].score > result[0].score):
            result = wide
    return result


def _match_speeds(points, pairs, index, profile, settings, speeds) -> list[Match]:
    hs, ts, ss, counts = [], [], [], []
    for k, s in enumerate(speeds):
        h, t = landmark_hashes(points, pairs, profile, speed=s)
        hs.append(h)
        ts.append(t)
        ss.append(np.full(h.size, k, dtype=np.int64))
        counts.append(h.size)
    if not hs or sum(counts) == 0:
        return []
    song, score, sidx, off = _vote(
        index, np.concatenate(hs), np.concatenate(ts), np.concatenate(ss), settings.tolerance
    )
    if song.size == 0 or score[0] < settings.min_score:
        return []
    runner_up = score[1] if score.size > 1 else 0
    if score[0] < settings.min_ratio * runner_up:
        return []
    out = []
    for i in range(min(settings.top, song.size)):
        # further answers must pass the same tests against the best wrong one
        if score[i] < settings.min_score:
            break
        if i > 0:
            rest = score[i + 1] if score.size > i + 1 else 0
            if score[i] < settings.min_ratio * rest:
                break
        s = float(speeds[sidx[i]])
        out.append(
            Match(
                song_id=int(song[i]),
                score=int(score[i]),
                offset=float(off[i]) * profile.frame_seconds,
                confidence=float(min(1.0, score[i] / max(1, counts[sidx[i]]))),
                speed=s,
            )
        )
    return out


def match_signal(
    x: np.ndarray, index: Index, profile: Profile, settings: MatchSettings | None = None
) -> list[Match]:
    """Ranked matches for a mono signal at ``profile.sr``."""
    points, strength = analyse(x, profile)
    return match_peaks(points, strength, index, profile, settings)
