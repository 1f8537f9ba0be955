"""Matching: look a query's landmarks up in an inverted index and vote on the time offset.

A song holding the excerpt shares many landmarks with it, all at the same offset
``frame_in_song - frame_in_excerpt``; a wrong song shares a few, at scattered offsets. So
every hit votes for ``(song, offset)``, a vote also counts for the two neighbouring offsets
(one frame of tolerance: peaks jitter by a frame between two recordings), and a song's score
is its tallest bar. A query landmark repeated with the same hash and frame (the query's two
shifted analyses repeat most of them) votes once. The vote is one sort of the hits' keys and
one linear pass (numba), whatever the number of songs.

Speed changes are searched on the query's peaks: :func:`match_pairs` first tries speed 1; when
that gives no confident answer it retries a grid of factors (0.94 ... 1.06), rescaling the
peak frequencies and times (:func:`aares.fingerprint.landmarks.landmark_hashes`), all factors
in one vectorised lookup. A match reports the factor it was found at.

"No match" is calibrated: a match needs ``min_score`` votes, ``min_ratio`` times the votes of
the next song, and above all a *significance*: how unlikely its bar is by chance, given how
many hits its song received in all (a noisy song hit everywhere by a noise query gets tall
bars by chance; a clean match stands on few hits elsewhere). See :func:`significance`; the
thresholds are set from negatives (songs not in the catalog, silence, noise, speech) by
``aares fp bench``.

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
from scipy.special import gammainc

from aares.fingerprint.index import Index
from aares.fingerprint.landmarks import Profile, analyse_query, landmark_hashes

__all__ = [
    "Index",
    "Match",
    "match_pairs",
    "match_signal",
    "speed_grid",
    "MatchSettings",
]

_OFFSET_BIAS = 1 << 22  # offsets (frames) are shifted positive inside the vote keys
_OFFSET_BITS = 23


@dataclass(frozen=True)
class MatchSettings:
    """Decision thresholds and the speed search of the matcher.

    Parameters
    ----------
    min_score : int
        Votes (hits at one offset, +-1 frame) a match needs.
    min_ratio : float
        A match's score must be at least this multiple of the best *other* song's score
        (random hits pile up for any song; a real match towers over them).
    min_significance : float
        ``-log10`` of the number of ``(song, offset, speed)`` cells expected to reach the
        score by chance: with ``h`` hits spread over a song of ``F`` frames, a cell gets
        ``h * (2 * tolerance + 1) / F`` votes on average (Poisson); ``3`` means one chance
        match in a thousand catalogs. This is what keeps noise, speech and noisy songs
        (which hit many postings everywhere) from matching: their hits are many but spread.
        Calibrated on negatives by ``aares fp bench``: the model ignores that similar
        music (two pieces by one pianist) shares hashes beyond chance, so negatives reach
        5-7 and the threshold sits above them; true matches mostly exceed 10.
    grid_min_score, grid_min_ratio, grid_min_significance :
        The same tests for an answer found at another speed than 1: the grid searches
        many more cells, so chance bars are taller and the bar is set higher.
    tolerance : int
        Frames of offset tolerance in the vote.
    speeds : tuple of float
        Factors searched when speed 1 gives no match (empty: never search).
    accept_score : int
        A speed-1 answer with at least this score ends the search early.
    dt_jitter : int
        At speed 1, also look each pair up with ``dt`` this many frames shorter and longer
        (noise shifts a peak by a frame now and then).
    slack : float
        Widening of the query's target zone so that pairs of a sped-up query still fall
        in the song's zone after rescaling.
    grid_shifts : int
        How many of the query's shifted analyses the speed grid searches (the first ones);
        speed 1 always uses all of them. The sub-hop shifts matter in noise, which comes
        at the song's own speed; the grid costs a lookup per speed and shift.
    top : int
        Maximum number of matches returned.
    """

    min_score: int = 6
    min_ratio: float = 2.2
    min_significance: float = 7.0
    grid_min_score: int = 12
    grid_min_ratio: float = 2.5
    grid_min_significance: float = 8.0
    tolerance: int = 1
    speeds: tuple[float, ...] = ()
    accept_score: int = 20
    dt_jitter: int = 0
    slack: float = 1.07
    grid_shifts: int = 1
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
    confidence: float  # 1 - expected number of chance matches this strong (see significance)
    speed: float  # the speed factor the excerpt was found at (1.05: played 5 % fast)
    significance: float = 0.0  # -log10(expected number of chance matches this strong)
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
            "significance": round(self.significance, 2),
            "speed": round(self.speed, 4),
            "path": self.path,
        }


@numba.njit(cache=True)
def _vote_keys(qi, songs, frames, q_frame, q_speed, n_speeds):  # pragma: no cover (numba)
    # One key per hit: (song * n_speeds + speed) << _OFFSET_BITS | (offset + _OFFSET_BIAS)
    keys = np.empty(qi.size, dtype=np.int64)
    for k in range(qi.size):
        i = qi[k]
        group = np.int64(songs[k]) * n_speeds + q_speed[i]
        keys[k] = (group << 23) | (np.int64(frames[k]) - q_frame[i] + (1 << 22))
    return keys


@numba.njit(cache=True)
def _tally(keys, tolerance):  # pragma: no cover (numba)
    # ``keys`` sorted. Per song: the best cell (votes in it and its +-tolerance neighbours),
    # the cell's key and the hits of the song at that cell's speed. One linear pass.
    n = keys.size
    # distinct cells and their counts
    u = np.empty(n, dtype=np.int64)
    c = np.empty(n, dtype=np.int64)
    m = 0
    for i in range(n):
        if m > 0 and keys[i] == u[m - 1]:
            c[m - 1] += 1
        else:
            u[m] = keys[i]
            c[m] = 1
            m += 1
    best_song = np.empty(m, dtype=np.int64)
    best_score = np.empty(m, dtype=np.int64)
    best_key = np.empty(m, dtype=np.int64)
    best_hits = np.empty(m, dtype=np.int64)
    n_best = 0
    i = 0
    while i < m:
        group = u[i] >> 23
        j = i
        hits = 0
        while j < m and (u[j] >> 23) == group:
            hits += c[j]
            j += 1
        # cells i .. j-1 belong to one group
        top, top_key = -1, 0
        for a in range(i, j):
            score = c[a]
            b = a - 1
            while b >= i and u[a] - u[b] <= tolerance:
                score += c[b]
                b -= 1
            b = a + 1
            while b < j and u[b] - u[a] <= tolerance:
                score += c[b]
                b += 1
            if score > top:
                top, top_key = score, u[a]
        best_song[n_best] = group
        best_score[n_best] = top
        best_key[n_best] = top_key
        best_hits[n_best] = hits
        n_best += 1
        i = j
    return best_song[:n_best], best_score[:n_best], best_key[:n_best], best_hits[:n_best]


def _vote(
    index: Index, qh: np.ndarray, qt: np.ndarray, qs: np.ndarray, tolerance: int, stop_list: bool
):
    # qh: hashes, qt: anchor times (rescaled frames), qs: speed index of each landmark.
    # Returns per-song best (song, score, speed index, offset, hits of that song at that
    # speed) arrays, sorted by score.
    e = np.zeros(0, dtype=np.int64)
    if qh.size == 0:
        return e, e, e, e, e
    n_speeds = int(qs.max()) + 1
    q_frame = np.rint(qt).astype(np.int64)
    # A query landmark repeated with the same hash, speed and frame (the shifted analyses of
    # a query repeat most landmarks) would hit the same postings at the same offsets again:
    # it votes once, so that a chance bar is not doubled along with the true one and the
    # votes stay about as independent as the significance assumes.
    # (Sorting by hash also makes the lookups walk the index in order.)
    qkey = (qh.astype(np.int64) << 32) | ((q_frame + (1 << 22)) << 9) | qs
    qkey.sort()
    if qkey.size > 1:
        qkey = qkey[np.concatenate(([True], qkey[1:] != qkey[:-1]))]
    qh = (qkey >> 32).astype(np.uint32)
    q_frame = ((qkey >> 9) & ((1 << 23) - 1)) - (1 << 22)
    qs = qkey & 511
    # through lookup() only, so that any index (in memory, on disk) serves the vote
    qi, song, frame = index.lookup(qh, stop_list=stop_list)
    keys = _vote_keys(qi, song, frame, q_frame, qs, n_speeds)
    if keys.size == 0:
        return e, e, e, e, e
    keys.sort()
    groups, score, key, hits = _tally(keys, int(tolerance))
    # best group per song (groups are song-major: a song's speeds are adjacent)
    songs_of = groups // n_speeds
    order = np.lexsort((-score, songs_of))
    first_of_song = np.ones(order.size, dtype=bool)
    first_of_song[1:] = songs_of[order][1:] != songs_of[order][:-1]
    best = order[first_of_song]
    best = best[np.argsort(-score[best], kind="stable")]
    off = (key[best] & ((1 << _OFFSET_BITS) - 1)) - _OFFSET_BIAS
    return songs_of[best], score[best], groups[best] % n_speeds, off, hits[best]


def significance(
    score: np.ndarray, hits: np.ndarray, frames: np.ndarray, trials: float, tolerance: int = 1
) -> np.ndarray:
    """``-log10`` of the expected number of chance cells reaching ``score`` votes.

    ``hits`` votes of one song spread over ``frames`` offsets put ``lam = hits * (2 *
    tolerance + 1) / frames`` votes in a cell on average; ``P(X >= score)`` for a Poisson
    ``X`` is the regularised lower incomplete gamma ``gammainc(score, lam)``; ``trials`` is
    the number of cells searched (every song's frames times the speeds).
    """
    lam = hits * (2 * tolerance + 1) / np.maximum(frames, 1)
    with np.errstate(divide="ignore"):
        logp = np.log10(gammainc(np.maximum(score, 1).astype(float), lam))
    return np.minimum(-(logp + np.log10(max(trials, 1.0))), 99.0)


def match_pairs(
    points: np.ndarray,
    pairs: np.ndarray,
    index: Index,
    profile: Profile,
    settings: MatchSettings | None = None,
    grid_pairs: np.ndarray | None = None,
) -> list[Match]:
    """Ranked matches for a query given as peaks and their pairs
    (:func:`aares.fingerprint.landmarks.pair_peaks`).

    Tries speed 1, then (when that gives no answer of ``accept_score`` votes) the grid of
    ``settings.speeds`` with ``grid_pairs`` (``pairs`` when None).
    """
    settings = settings or MatchSettings()
    tests = (settings.min_score, settings.min_ratio, settings.min_significance)
    result = _match_speeds(points, pairs, index, profile, settings, (1.0,), tests)
    if settings.speeds and (not result or result[0].score < settings.accept_score):
        grid = (1.0, *settings.speeds)
        tests = (
            settings.grid_min_score,
            settings.grid_min_ratio,
            settings.grid_min_significance,
        )
        if grid_pairs is None:
            grid_pairs = pairs
        wide = _match_speeds(points, grid_pairs, index, profile, settings, grid, tests)
        if wide and (not result or wide[0].score > result[0].score):
            result = wide
    return result


def _match_speeds(points, pairs, index, profile, settings, speeds, tests) -> list[Match]:
    min_score, min_ratio, min_significance = tests
    hs, ts, ss, counts = [], [], [], []
    jitter = settings.dt_jitter if len(speeds) == 1 else 0
    for k, s in enumerate(speeds):
        for d in range(-jitter, jitter + 1):
            h, t = landmark_hashes(points, pairs, profile, speed=s, dt_shift=d)
            hs.append(h)
            ts.append(t)
            ss.append(np.full(h.size, k, dtype=np.int64))
            counts.append(h.size)
    if not hs or sum(counts) == 0:
        return []
    all_t = np.concatenate(ts)
    song, score, sidx, off, hits = _vote(
        index, np.concatenate(hs), all_t, np.concatenate(ss), settings.tolerance, len(speeds) > 1
    )
    if song.size == 0 or score[0] < min_score:
        return []
    n = min(settings.top + 1, song.size)
    q_frames = float(all_t.max() - all_t.min()) if all_t.size else 0.0
    frames = index.frames_of(song[:n]) + q_frames
    sig = significance(
        score[:n], hits[:n], frames, index.total_frames * len(speeds), settings.tolerance
    )
    out = []
    for i in range(min(settings.top, song.size)):
        # every answer must pass the tests, the ratio against the best song below it
        rest = score[i + 1] if score.size > i + 1 else 0
        if score[i] < min_score or score[i] < min_ratio * rest or sig[i] < min_significance:
            break
        out.append(
            Match(
                song_id=int(song[i]),
                score=int(score[i]),
                offset=float(off[i]) * profile.frame_seconds,
                confidence=float(1.0 - 10.0 ** (-sig[i])),
                speed=float(speeds[sidx[i]]),
                significance=float(sig[i]),
            )
        )
    return out


def match_signal(
    x: np.ndarray, index: Index, profile: Profile, settings: MatchSettings | None = None
) -> list[Match]:
    """Ranked matches for a mono signal at ``profile.sr``.

    The query is analysed ``profile.query_shifts`` times at sub-hop shifts
    (:func:`aares.fingerprint.landmarks.analyse_query`).
    """
    settings = settings or MatchSettings()
    slack = settings.slack if settings.speeds else 1.0
    points, _, pairs, shift = analyse_query(x, profile, slack=slack)
    grid_pairs = pairs[shift < settings.grid_shifts]
    return match_pairs(points, pairs, index, profile, settings, grid_pairs)
