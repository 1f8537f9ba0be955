"""Matching: look a query's landmarks up in an inverted index and vote on the time offset.

Large catalogs are searched in two stages, so that a query's cost does not grow with the
catalog (issue 18). A 21-bit pair's bucket does: a clean 5 s excerpt reads 16 thousand
postings at 1 h, 142 thousand at 10 h, 1.4 million at 100 h. From 50 audio hours
(:data:`aares.fingerprint.catalog.TWO_STAGE_HOURS`) the query index holds three-point keys
instead (32 bits: a pair and its anchor's next target,
:func:`aares.fingerprint.landmarks.index_landmarks`), which meet about 100 times fewer
chance postings per lookup; :func:`match_signal` first votes with them over the whole index
for the ``candidates`` best songs (speed 1; for the wide grid, a scan of every factor for
``wide_candidates`` more), then runs the whole pair search described below on those songs'
stored pairs alone (``postings``; joined with the query by a bitmap of its hashes, no sort),
where a landmark needs two surviving peaks, not three (under noise or reverb a three-point key
survives about a quarter as often as a pair: as the only key it lost 8-14 points of noise
0 dB accuracy). The decision statistics stay the whole catalog's: the number of cells searched
counts every song's frames and every factor, and a candidate's chance level comes from its
hits over its whole length; the ratio test sees the candidates only, so an answer also needs
``two_stage_significance``. Measured (``python -m benchmarks fingerprint-search``, one run,
load 9-15): at 100 h positives' CPU p50 526 ms in one stage, 38 ms in two (negatives 1,878 vs
137 ms), the same or better accuracy, no false positive; at 1 h two stages cost more (23 vs
14 ms) and find fewer heavily reverberant excerpts, hence the switch. Reasons and the
alternatives measured: BENCHMARKS.md, "How the search for large catalogs was chosen".

A song holding the excerpt shares many landmarks with it, all at the same offset
``frame_in_song - frame_in_excerpt``; a wrong song shares a few, at scattered offsets. So
every hit votes for ``(song, offset)``, a vote also counts for the two neighbouring offsets
(one frame of tolerance: peaks jitter by a frame between two recordings), and a song's score
is its tallest bar. A query landmark repeated with the same hash and frame (the query's two
shifted analyses repeat most of them) votes once. The vote is one sort of the hits' keys and
one linear pass (numba), whatever the number of songs.

Changed excerpts are searched on the query's peaks: :func:`match_signal` first tries the
query as it is; when that gives no answer of ``accept_score`` votes it searches the
:func:`factor_grid` of ``(pitch, tempo)`` factors (sped up or slowed by resampling 0.78-1.28x,
time-stretched 0.88-1.13x, pitch-shifted +-2.3 semitones, 1 % apart), rescaling the peak
frequencies and times (:func:`aares.fingerprint.landmarks.factor_hashes`, every factor in one
pass). That costs a vote per landmark and factor, so it runs coarse to fine: a scan of every
factor with one target per anchor, then all of the query's pairs at the factors (and their
neighbours) where the best songs of the scan stand (those within ``wide_candidate_ratio`` of
the best one). The factors repeat most hashes (three lookups in four): each distinct hash is
looked up once and its postings vote for every landmark that holds it. A match reports the
factor it was found at (``speed`` is the tempo factor, ``pitch`` the frequency factor).
Measured alternatives (a grid searched with all pairs, 2 or 5 candidates, 8 or 12 targets,
what each stage costs) are in BENCHMARKS.md.

"No match" is calibrated: a match needs ``min_score`` votes, a *significance* (how unlikely
its bar is by chance, given how many other hits its song received: a noisy song hit everywhere
by a noise query gets tall bars by chance; a clean match stands on few hits elsewhere), votes
spread over several moments of the query, and ``min_ratio`` times the score of the best song
that is not itself overwhelmingly significant: two versions of one song (a remaster, a sped-up
copy) both hold the excerpt and are both listed, the best first, the other as *related*; a
piece that merely sounds alike (same piano, same key) is held against the answer. See
:func:`significance`; the thresholds are set from negatives (songs not in the catalog,
silence, noise, speech) by the benchmarks.

Example
-------
A song hit 200 times over 6,000 offsets gets 0.1 chance votes per cell: a bar of 40 votes is
no accident, one of 5 barely clears the 6,000 cells searched (the index's own example is in
:mod:`aares.fingerprint.index`):

>>> import numpy as np
>>> hits, frames = np.array([200, 200]), np.array([6000, 6000])
>>> significance(np.array([40, 5]), hits, frames, trials=6000.0).round(1).tolist()
[84.2, 3.3]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numba
import numpy as np
from scipy.special import gammainc

from aares.fingerprint.index import Index
from aares.fingerprint.landmarks import (
    Profile,
    factor_hashes,
    factor_index_keys,
    pair_peaks,
    query_peaks,
)
from aares.fingerprint.sorting import radix_sort

__all__ = [
    "Index",
    "Match",
    "match_pairs",
    "match_signal",
    "speed_grid",
    "factor_grid",
    "significance",
    "MatchSettings",
]

_MIX = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing of keys into the table's slots
_OFFSET_BIAS = 1 << 22  # offsets (frames) are shifted positive inside the vote keys
_OFFSET_BITS = 23


Factor = tuple[float, float]  # (pitch, tempo): frequencies and speed of time both scaled


@dataclass(frozen=True)
class MatchSettings:
    """Decision thresholds and the speed search of the matcher.

    A query is searched in up to three tiers, each stopping the search when it finds a match
    of ``accept_score`` votes: (1) as it is; (2) the ``speeds`` grid, resampled factors near 1,
    with all the query's landmarks; (3) the ``wide`` grid of ``(pitch, tempo)`` factors (sped
    up or slowed by resampling, time-stretched, pitch-shifted) with fewer landmarks per
    factor (``wide_fan_out``). Each tier has its own thresholds, since searching more cells
    makes tall chance bars more likely.

    Parameters
    ----------
    min_score : int
        Votes (hits at one offset, +-1 frame) a match needs.
    min_significance : float
        ``-log10`` of the number of ``(song, offset, factor)`` cells expected to reach the
        score by chance, given the song's other hits (see :func:`significance`): ``3``
        means one chance match in a thousand catalogs. This is what keeps noise, speech and
        noisy songs (which hit many postings everywhere) from matching. The model ignores
        that similar music (two pieces by one pianist) shares hashes beyond chance: such
        negatives reach 5-12, hence ``min_ratio``. Calibrated on negatives (held-out songs,
        silence, noise, speech) by the benchmarks.
    min_ratio : float
        A match's score must be at least this multiple of the best score among the songs
        below ``version_significance`` (what chance and similar music give this query).
    version_significance : float
        Songs this significant hold the excerpt's audio (a remaster, a sped-up copy): they
        are listed as related matches instead of counting against the answer's ratio.
    min_spread : int
        Distinct query moments (``window`` frames each) a match's votes must come from (a
        chord of the query on the same chord of another piece casts many votes at one
        moment). A Poisson test on the moments instead of the votes was tried: it refused
        true noisy matches (a 5 s excerpt at 0 dB: 35 votes over 14 moments, significance
        18 on the votes, under 3 on the moments) and no negative needed it.
    grid_min_score, grid_min_significance, grid_min_ratio :
        The same tests for an answer found on the ``speeds`` or the ``wide`` grid.
    wide_min_score, wide_min_significance :
        Score and significance for an answer found on the ``wide`` grid.
    tolerance : int
        Frames of offset tolerance in the vote.
    window : int
        Frames of a query moment for ``spread`` (8 frames: 0.26 s for the default profile).
    speeds : tuple of float
        Resampling factors of tier 2 (empty: never search).
    wide : tuple of (pitch, tempo)
        Factors of tier 3 (see :func:`factor_grid`; empty: never search).
    wide_fan_out : int
        Targets per anchor of the query's pairs in tier 3 (the tier costs one lookup per
        pair and factor; fewer pairs keep it cheap).
    wide_slack : float
        Widening of the query's target zone in tier 3 (see ``slack``).
    wide_scan_fan_out, wide_candidates : int
        Tier 3 first scans every factor with this many targets per anchor (0: no scan) and
        then searches, with all ``wide_fan_out`` targets, only the factors (and their two
        neighbours) at which the ``wide_candidates`` best songs of the scan stand.
    wide_candidate_ratio : float
        ... but of those songs only the ones whose scan score is over this fraction of the
        best song's (0: all of them; ``related`` searches all of them): when one song stands
        out, the full vote costs a third. In the speed benchmark the song named was the
        scan's best song in every query the wide grid answered (247 of 247); a held-out
        excerpt's second song scored at least 0.6 of its best.
    accept_score : int
        An answer with at least this score ends the search. 50, not less: a pitch-shifted
        or stretched excerpt can match a repetition of its own song (a motif a tone higher)
        as it is with a few dozen votes, and the true factor then gives several times more.
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
    related : bool
        Search every tier whatever the first ones found, so that every version of the
        song in the catalog (a remaster, a sped-up copy) is listed, at its own offset and
        factor, after the best one. Costs the whole search for every query.
    dereverb : bool
        When the search finds nothing, search again on the query's peaks picked after its
        late reverberation is taken out (:func:`aares.fingerprint.landmarks.query_peaks`
        ``(dereverb=True)``): in a reverberant query (a "slowed + reverb" edit) the tails
        hide the onsets that the dry song's peaks stand on. The second search skips the
        query as it is (speed 1, searched dry already: there, the dereverberated onsets of
        a piano piece not in the catalog met another piano piece's with 22-26 votes, while
        the reverberant queries it names all stand at other speeds) and needs
        ``dereverb_significance``. Costs a second search for queries with no answer
        (negatives).
    dereverb_significance : float
        Significance an answer of the second search needs: the onsets of similar music
        meet beyond chance there (161 negatives, held-out songs and the Debussy excerpt,
        reached 15.8 at most; the "slowed + reverb" excerpts it names 18-88).
    top : int
        Maximum number of matches returned.
    candidates : int
        Songs that the first stage passes to the second (three-point index only): the best
        of a vote at speed 1 over the whole index (``wide_candidates`` more from the scan of
        the wide grid).
    recheck_candidates : int
        An answer of the first ``candidates`` under ``accept_score`` votes is searched again
        among this many of the first stage's best: its ratio test then also sees the
        similar music that the first stage ranked a little lower (a held-out piano piece met
        another one from its album with 24 votes, against 11 for a third, sixth in the
        first stage: 2.2 times that is 24.2).
    candidates_cap : int
        The first stage's stop list: it skips the three-point keys held by more than this
        many postings (a pattern repeated all over the catalog: it costs most of the lookups'
        work and says little about which song it is). A fixed number, not a multiple of
        the mean bucket, so that the first stage's cost does not grow with the catalog
        (BENCHMARKS.md, "Serving a 1,000 h catalog").
    candidates_factor_step : int
        The first stage of the wide grid looks up every this-many-th factor (1: all).
    candidates_fan_out, candidates_gap : int
        Targets per anchor of the query's pairs whose three-point keys the first stage of
        the wide grid looks up, and how many of the next ones each is joined to (3 and 2:
        five keys an anchor). A quiet, sparse piece sped up 5 % (*March Thee to Dis*) got
        1 vote with 2 and 1 and 2 votes with 3 and 1, tied at 1,000 h with the crowd of
        songs that chance gives as many (35th among them; it had come first while ties went
        to the songs added first), and 4 votes against 2 for any other song with 3 and 2.
        At 1,000 and 10,000 h every speed excerpt of the scale benchmark is then first
        among that stage's songs, for 80 against 56-65 ms of that stage at 1,000 h and 44
        against 22-30 at 10,000 h (median CPU).
    quick_shifts, quick_gap : int
        Before the first stage at speed 1, a quick one on the keys of the first
        ``quick_shifts`` analyses (0: none) with each target joined to the next
        ``quick_gap`` ones only (a quarter of the keys): when the second stage finds an
        answer of ``accept_score`` votes among its ``candidates`` best songs, on those
        analyses' pairs and then, failing that, on every analysis', the search ends there,
        as it would after the whole first stage; else the search goes on as without it. A
        clean or noisy excerpt at the song's speed is answered after a quarter of the
        lookups, most of them before the query's other analyses are computed (their
        answer then reports the votes of the first analyses: the same song, speed and
        offset, within a frame, with fewer votes); the others pay the quick lookups on top.
    quick_ratio : float
        ... and the quick pass's second stage runs only when its best song has this many
        times the votes of its ``candidates``-th: otherwise no song stands out (1,000 h: no
        speed-changed excerpt or held-out song got 2 times, 14 of 18 noisy excerpts did),
        and the second stage would read the candidates' pairs for nothing. It reads the
        songs above the ``candidates``-th only: the others tie with it at the chance level
        of the whole catalog (2-4 votes, shared by thousands of songs at 1,000 h), a draw
        from the crowd that is no better a test of the answer than any other song (their
        pairs cost 1.3 ms a song to read).
    candidates_shifts : int
        How many of the query's shifted analyses the first stage looks up (the first ones;
        the second stage searches all of them).
    two_stage_significance : float
        The least significance of an answer of the two-stage search (every tier). Its ratio
        test sees the candidates only; at 100 h a held-out excerpt reached 7.5 against a
        synthetic copy that the one-stage search's ratio test stopped, while right answers
        had 26 or more (BENCHMARKS.md, "The search as the catalog grows").
    """

    min_score: int = 6
    min_significance: float = 7.0
    min_ratio: float = 2.2
    min_spread: int = 3
    version_significance: float = 20.0
    grid_min_score: int = 12
    grid_min_significance: float = 8.0
    grid_min_ratio: float = 2.5
    wide_min_score: int = 12
    wide_min_significance: float = 9.0
    tolerance: int = 1
    window: int = 8
    speeds: tuple[float, ...] = ()
    wide: tuple[Factor, ...] = ()
    wide_fan_out: int = 8
    wide_slack: float = 1.3
    wide_scan_fan_out: int = 1
    wide_candidates: int = 3
    wide_candidate_ratio: float = 0.5
    accept_score: int = 50
    dt_jitter: int = 0
    slack: float = 1.07
    grid_shifts: int = 1
    related: bool = False
    dereverb: bool = False
    dereverb_significance: float = 20.0
    top: int = 5
    candidates: int = 5
    recheck_candidates: int = 10
    candidates_cap: int = 64
    candidates_shifts: int = 2
    candidates_factor_step: int = 1
    candidates_fan_out: int = 3
    candidates_gap: int = 2
    quick_shifts: int = 1
    quick_gap: int = 1
    quick_ratio: float = 2.0
    two_stage_significance: float = 12.0


def speed_grid(max_change: float = 0.06, step: float = 0.01) -> tuple[float, ...]:
    """Speed factors ``1 +- k * step`` up to ``max_change`` (1 itself excluded)."""
    k = int(round(max_change / step))
    grid = [1.0 + i * step for i in range(-k, k + 1) if i != 0]
    return tuple(sorted(grid, key=lambda s: abs(s - 1.0)))


def _log_steps(lo: float, hi: float, step: float) -> np.ndarray:
    # factors from lo to hi, evenly spaced in log (a relative step of ``step``), 1 included
    n_lo = int(np.ceil(-np.log(lo) / np.log1p(step)))
    n_hi = int(np.ceil(np.log(hi) / np.log1p(step)))
    return np.exp(np.arange(-n_lo, n_hi + 1) * np.log1p(step))


def factor_grid(
    speed: tuple[float, float] = (0.78, 1.28),
    stretch: tuple[float, float] = (0.88, 1.13),
    semitones: float = 2.3,
    step: float = 0.01,
) -> tuple[Factor, ...]:
    """``(pitch, tempo)`` factors for the wide search, each ``step`` apart (relative).

    Three lines of the plane: resampled (``pitch == tempo``, over ``speed``), time-stretched
    (``pitch == 1``, tempo over ``stretch``) and pitch-shifted (``tempo == 1``, +-``semitones``).
    A 1 % step keeps a factor between two grid points within half a bin of the song's
    quantisation for most peaks and the offset drift over a 10 s excerpt within the vote's
    tolerance. ``(1, 1)`` itself is left out (tier 1 searched it).

    The steps reach past each end when the range is not a whole number of steps from 1, so
    the grid brackets it (0.98 lies between 0.9706 and 0.9803):

    >>> g = factor_grid(speed=(0.98, 1.02), stretch=(1, 1), semitones=0.0)
    >>> [(round(p, 4), round(t, 4)) for p, t in g]
    [(0.9706, 0.9706), (0.9803, 0.9803), (0.9901, 0.9901), (1.01, 1.01), (1.0201, 1.0201)]
    """
    out: list[Factor] = [(float(s), float(s)) for s in _log_steps(*speed, step)]
    out += [(1.0, float(r)) for r in _log_steps(*stretch, step)]
    p = 2.0 ** (semitones / 12)
    out += [(float(f), 1.0) for f in _log_steps(1 / p, p, step)]
    seen, grid = set(), []
    for f in out:
        key = (round(f[0], 6), round(f[1], 6))
        if key != (1.0, 1.0) and key not in seen:
            seen.add(key)
            grid.append(f)
    return tuple(grid)


@dataclass(frozen=True)
class Match:
    """One answer: a song of the catalog and where the excerpt lies in it.

    The first match of a list is the answer; the others (``related``) are other songs of
    the catalog holding the same audio (another version, a sped-up copy), each at its own
    offset and factor, as significant as an answer must be.
    """

    song_id: int
    score: int
    offset: float  # seconds into the song where the excerpt starts
    confidence: float  # 1 - expected number of chance matches this strong (see significance)
    speed: float  # tempo factor the excerpt was found at (1.05: plays 5 % faster than the song)
    significance: float = 0.0  # -log10(expected number of chance matches this strong)
    pitch: float = 1.0  # frequency factor (= speed when resampled; 1 when time-stretched)
    related: bool = False  # another version of the answer's audio, not the answer
    spread: int = 0  # distinct moments of the query that vote for the match
    title: str = ""
    artist: str = ""
    path: str = ""

    @property
    def change(self) -> str:
        """How the excerpt differs from the song: ``"none"``, ``"speed"`` (resampled),
        ``"stretch"`` (tempo only) or ``"pitch"`` (pitch only)."""
        if abs(self.speed - 1) < 1e-9 and abs(self.pitch - 1) < 1e-9:
            return "none"
        if abs(self.speed - self.pitch) < 1e-9:
            return "speed"
        return "stretch" if abs(self.pitch - 1) < 1e-9 else "pitch"

    @property
    def semitones(self) -> float:
        """The pitch factor in semitones (12 per octave)."""
        return float(12 * np.log2(self.pitch))

    def describe_change(self) -> str:
        """The change in words: ``"-"``, ``"speed 1.12x"``, ``"stretch 0.90x"``,
        ``"pitch +2.0 st"``."""
        kind = self.change
        if kind == "none":
            return "-"
        if kind == "pitch":
            return f"pitch {self.semitones:+.1f} st"
        return f"{kind} {self.speed:.2f}x"

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
            "pitch": round(self.pitch, 4),
            "semitones": round(self.semitones, 2),
            "change": self.change,
            "related": self.related,
            "path": self.path,
        }


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


@numba.njit(cache=True)
def _hit_keys(ui, song, frame, runs, q_frame, qs, n_factors, window):  # pragma: no cover
    # The vote key ``(song, factor, offset)`` and query moment of every hit: posting p of
    # distinct hash ui[p] meets the query landmarks runs[ui[p]] .. runs[ui[p] + 1] - 1.
    n = 0
    for p in range(ui.size):
        n += runs[ui[p] + 1] - runs[ui[p]]
    keys = np.empty(n, dtype=np.int64)
    moments = np.empty(n, dtype=np.int64)
    k = 0
    for p in range(ui.size):
        base = np.int64(song[p]) * n_factors
        f = np.int64(frame[p]) + _OFFSET_BIAS
        for q in range(runs[ui[p]], runs[ui[p] + 1]):
            keys[k] = ((base + qs[q]) << _OFFSET_BITS) | (f - q_frame[q])
            moments[k] = q_frame[q] // window
            k += 1
    return keys, moments


@numba.njit(cache=True)
def _spread(keys, moments, cells, tolerance):  # pragma: no cover (numba)
    # distinct moments among the hits within +-tolerance of each cell's key
    out = np.zeros(cells.size, dtype=np.int64)
    for c in range(cells.size):
        m = np.empty(keys.size, dtype=np.int64)
        n = 0
        for i in range(keys.size):
            if abs(keys[i] - cells[c]) <= tolerance:
                m[n] = moments[i]
                n += 1
        if n:
            out[c] = np.unique(m[:n]).size
    return out


def _scrambled(ids: np.ndarray) -> np.ndarray:
    # a fixed pseudo-random key per song id (Fibonacci hashing: a bijection of uint64)
    return ids.astype(np.uint64) * _MIX


@dataclass
class _Votes:
    # per-song best cells of one search, by score: song id, score, factor index, offset
    # (frames), hits of the song at that factor, distinct query moments of the cell's votes
    song: np.ndarray
    score: np.ndarray
    factor: np.ndarray
    offset: np.ndarray
    hits: np.ndarray
    spread: np.ndarray


def _vote(
    index: Index,
    qh: np.ndarray,
    qt: np.ndarray,
    qs: np.ndarray,
    tolerance: int,
    stop_list: bool,
    n_best: int,
    window: int,
    cap: int | None = None,
) -> _Votes:
    # qh: hashes, qt: anchor times (rescaled frames), qs: factor index of each landmark;
    # cap: the stop list's bucket size (None: the index's own, ``max_postings``).
    e = np.zeros(0, dtype=np.int64)
    if qh.size == 0:
        return _Votes(e, e, e, e, e, e)
    n_factors = int(qs.max()) + 1
    q_frame = np.rint(qt).astype(np.int64)
    # A query landmark repeated with the same hash, factor and frame (the shifted analyses of
    # a query repeat most landmarks) would hit the same postings at the same offsets again:
    # it votes once, so that a chance bar is not doubled along with the true one and the
    # votes stay about as independent as the significance assumes.
    # (Sorting by hash also makes the lookups walk the index in order.)
    # (hash, frame, factor) in 32 + 23 + 9 bits: an int64 for hashes below 2^31, else a
    # uint64 (np.sort; the radix sort takes int64)
    qkey = (qh.astype(np.uint64) << np.uint64(32)) | (((q_frame + (1 << 22)) << 9) | qs).astype(
        np.uint64
    )
    if qh.max() < (1 << 31):
        qkey = radix_sort(qkey.view(np.int64)).view(np.uint64)
    else:
        qkey.sort()
    if qkey.size > 1:
        qkey = qkey[np.concatenate(([True], qkey[1:] != qkey[:-1]))]
    qh = (qkey >> np.uint64(32)).astype(np.uint32)
    low = (qkey & np.uint64(0xFFFFFFFF)).astype(np.int64)
    q_frame = ((low >> 9) & ((1 << 23) - 1)) - (1 << 22)
    qs = low & 511
    # Each distinct hash is looked up once (the factors of the wide grid repeat most of
    # them: 3 lookups in 4 at 95 factors) and its postings go to every query landmark
    # holding it (a run of the sorted qh).
    first = np.flatnonzero(np.concatenate(([True], qh[1:] != qh[:-1])))
    capped = {} if cap is None else {"cap": int(cap)}
    ui, song, frame = index.lookup(qh[first], stop_list=stop_list, **capped)
    if ui.size == 0:
        return _Votes(e, e, e, e, e, e)
    runs = np.append(first, qh.size)
    keys, moments = _hit_keys(ui, song, frame, runs, q_frame, qs, n_factors, max(1, int(window)))
    # sorted keys are all the tally needs (the spread of the few best cells is read from
    # the unsorted hits below)
    groups, score, key, hits = _tally(radix_sort(keys), int(tolerance))
    # best group per song (groups are song-major: a song's factors are adjacent)
    songs_of = groups // n_factors
    by_song = np.lexsort((-score, songs_of))
    first = np.ones(by_song.size, dtype=bool)
    first[1:] = songs_of[by_song][1:] != songs_of[by_song][:-1]
    best = by_song[first]
    # by score; songs of equal score in an order that is not the catalog's (ascending ids
    # would put the songs added first ahead of every song tied with them: at the chance
    # level of a large catalog, hundreds tie, and which of them stage 2 reads would depend
    # on when each was added)
    best = best[np.lexsort((_scrambled(songs_of[best]), -score[best]))][:n_best]
    # the spread of each best cell: distinct query windows among its votes (window 0: not
    # needed)
    spread = _spread(keys, moments, key[best], int(tolerance)) if window else hits[best] * 0
    off = (key[best] & ((1 << _OFFSET_BITS) - 1)) - _OFFSET_BIAS
    return _Votes(songs_of[best], score[best], groups[best] % n_factors, off, hits[best], spread)


def significance(
    score: np.ndarray, hits: np.ndarray, frames: np.ndarray, trials: float, tolerance: int = 1
) -> np.ndarray:
    """``-log10`` of the expected number of chance cells reaching ``score``.

    ``hits`` votes of one song spread over ``frames`` offsets put ``lam = hits * (2 *
    tolerance + 1) / frames`` votes in a cell on average; ``P(X >= score)`` for a Poisson
    ``X`` is the regularised lower incomplete gamma ``gammainc(score, lam)``; ``trials`` is
    the number of cells searched (every song's frames times the factors). The matcher
    passes the song's hits outside the cell as ``hits``: the bar's own votes are no chance.
    """
    lam = np.maximum(hits, 0) * (2 * tolerance + 1) / np.maximum(frames, 1)
    with np.errstate(divide="ignore"):
        logp = np.log10(gammainc(np.maximum(score, 1).astype(float), lam))
    return np.minimum(-(logp + np.log10(max(trials, 1.0))), 99.0)


def _wide_pairs(points, strength, profile, settings) -> np.ndarray:
    return pair_peaks(
        points, profile, strength, fan_out=settings.wide_fan_out, slack=settings.wide_slack
    )


def match_pairs(
    points: np.ndarray,
    pairs: np.ndarray,
    index: Index,
    profile: Profile,
    settings: MatchSettings | None = None,
    grid_pairs: np.ndarray | None = None,
    wide: tuple[np.ndarray, np.ndarray] | None = None,
    exact: bool = True,
) -> list[Match]:
    """Ranked matches for a query given as peaks and their pairs
    (:func:`aares.fingerprint.landmarks.pair_peaks`).

    Tries the query as it is (unless ``exact=False``), then (while no answer has
    ``accept_score`` votes, or always with ``settings.related``) the ``speeds`` grid with
    ``grid_pairs`` (``pairs`` when None), then the ``wide`` grid with ``wide = (points,
    pairs)``. The tier whose answer has
    the most votes gives the answer; with ``settings.related`` the matches of every tier
    are merged, each song at its best factor.
    """
    settings = settings or MatchSettings()
    tiers = [((points, pairs), ((1.0, 1.0),), "exact")] if exact else []
    if settings.speeds:
        gp = pairs if grid_pairs is None else grid_pairs
        tiers.append(((points, gp), tuple((s, s) for s in settings.speeds), "grid"))
    if settings.wide and wide is not None:
        tiers.append((wide, tuple(settings.wide), "wide"))
    found: list[list[Match]] = []
    for (pts, prs), factors, tier in tiers:
        n_trials = len(factors)
        if tier == "wide" and 0 < settings.wide_scan_fan_out < settings.wide_fan_out:
            factors = _scan(pts, prs, index, profile, settings, factors)
        found.append(_match_factors(pts, prs, index, profile, settings, factors, tier, n_trials))
        best = max((r[0].score for r in found if r), default=0)
        if best >= settings.accept_score and not settings.related:
            break
    return _combine(found, settings)


def _combine(found: list[list[Match]], settings: MatchSettings) -> list[Match]:
    # the tier whose answer has the most votes; with ``related``, every tier's matches
    # merged, each song at its best factor
    if not settings.related:
        return max(found, key=lambda r: r[0].score if r else -1, default=[])
    per_song: dict[int, Match] = {}
    for m in (m for r in found for m in r):
        if m.song_id not in per_song or m.score > per_song[m.song_id].score:
            per_song[m.song_id] = m
    ranked = sorted(per_song.values(), key=lambda m: -m.score)[: settings.top]
    return [replace(m, related=i > 0) for i, m in enumerate(ranked)]


def _landmarks(points, pairs, profile, factors, jitter: int = 0):
    # the query's hashes and anchor times undone by each factor; the factor index of each
    hs, ts, ss = [], [], []
    for d in range(-jitter, jitter + 1):
        h, t, k = factor_hashes(points, pairs, profile, factors, dt_shift=d)
        hs.append(h)
        ts.append(t)
        ss.append(k)
    return np.concatenate(hs), np.concatenate(ts), np.concatenate(ss)


def _scan(points, pairs, index, profile, settings, factors) -> tuple[Factor, ...]:
    # Coarse to fine: a vote over every factor with the first ``wide_scan_fan_out`` targets
    # of each anchor only (a few times fewer lookups) finds the factors where the best
    # ``wide_candidates`` songs stand out; the full vote then runs on those factors and their
    # neighbours alone. The significance still counts every factor as searched.
    rank = _rank(pairs[:, 0])
    h, t, k = _landmarks(points, pairs[rank < settings.wide_scan_fan_out], profile, factors)
    v = _vote(index, h, t, k, settings.tolerance, True, settings.wide_candidates, 0)
    # a candidate far behind the best one is not searched further (but with ``related``,
    # where every version counts)
    ratio = 0.0 if settings.related else settings.wide_candidate_ratio
    cand = v.factor[v.score > ratio * v.score.max(initial=0)]
    keep = sorted({int(j) for f in cand for j in (f - 1, f, f + 1) if 0 <= j < len(factors)})
    return tuple(factors[j] for j in keep)


def _match_factors(
    points, pairs, index, profile, settings, factors, tier, n_trials=None
) -> list[Match]:
    min_score, min_sig, min_ratio = {
        "exact": (settings.min_score, settings.min_significance, settings.min_ratio),
        "grid": (settings.grid_min_score, settings.grid_min_significance, settings.grid_min_ratio),
        "wide": (settings.wide_min_score, settings.wide_min_significance, settings.grid_min_ratio),
    }[tier]
    jitter = settings.dt_jitter if tier == "exact" else 0
    hs, all_t, ss = _landmarks(points, pairs, profile, factors, jitter)
    if all_t.size == 0:
        return []
    v = _vote(
        index, hs, all_t, ss, settings.tolerance, tier != "exact", settings.top + 1,
        settings.window,
    )  # fmt: skip
    if v.song.size == 0 or v.score[0] < min_score:
        return []
    q_frames = float(all_t.max() - all_t.min())
    frames = index.frames_of(v.song) + q_frames
    trials = index.total_frames * (n_trials or len(factors))
    # the chance level comes from the song's other hits: the bar's own votes are no chance
    background = v.hits - v.score
    sig = significance(v.score, background, frames, trials, settings.tolerance)
    passes = (v.score >= min_score) & (sig >= min_sig) & (v.spread >= settings.min_spread)
    # Songs below version_significance are what chance (or similar music) gives this query:
    # an answer must tower over the best of them. Songs above it hold the excerpt's audio
    # (another version, a copy): they are listed, not held against each other.
    chance = np.where(sig < settings.version_significance, v.score, 0)
    out = []
    for i in range(min(settings.top, v.song.size)):
        if not passes[i]:
            continue  # another song below may still be a significant version
        if v.score[i] < min_ratio * np.delete(chance, i).max(initial=0):
            # Refused by the ratio test, the list ends: a song below it still meets the
            # competitor that refused it, unless it is that competitor, which has fewer votes
            # (a held-out excerpt's shared layer, 52 votes, refused by a similar piece's 26,
            # made that piece the answer at 10,000 h).
            break
        pitch, tempo = factors[int(v.factor[i])]
        out.append(
            Match(
                song_id=int(v.song[i]),
                score=int(v.score[i]),
                offset=float(v.offset[i]) * profile.frame_seconds,
                confidence=float(1.0 - 10.0 ** (-sig[i])),
                speed=float(tempo),
                significance=float(sig[i]),
                pitch=float(pitch),
                related=bool(out),
                spread=int(v.spread[i]),
            )
        )
    return out


#: a song's stored pair postings ``(hashes, frames)`` by id (``Store.postings``)
PostingsOf = Callable[[int], tuple[np.ndarray, np.ndarray]]


def _retrieve(index, points, pairs, profile, settings, factors, n_best, gap=None):
    # Stage 1: the query's three-point keys at each factor over the whole index, voted
    keys, times, which = factor_index_keys(points, pairs, profile, factors, gap)
    # (its stop list at candidates_cap postings)
    return _vote(
        index, keys, times, which, settings.tolerance, True, n_best, settings.window,
        cap=settings.candidates_cap,
    )  # fmt: skip


@numba.njit(cache=True)
def _query_bitmap(qh):  # pragma: no cover (numba)
    # one bit per hash value up to the query's largest (2^21 bits for pairs: 256 kB, it
    # stays in the cache): turns away most of the candidates' postings at one read each
    top = np.int64(qh[qh.size - 1]) if qh.size else np.int64(-1)
    bitmap = np.zeros((top >> 6) + 1 if top >= 0 else 0, dtype=np.uint64)
    for i in range(qh.size):
        h = np.int64(qh[i])
        bitmap[h >> 6] |= np.uint64(1) << np.uint64(h & 63)
    return bitmap, top


@numba.njit(cache=True)
def _join(qh, bitmap, top, hashes, frames):  # pragma: no cover (numba)
    # Every posting of one song whose hash is a query hash: (query index, frame). ``qh``
    # is sorted; a binary search in it finds the query landmarks of a posting that passes
    # the bitmap. The song's arrays are read once, in order, as stored, and only the few
    # postings that pass are visited again (a second pass over all of them, to fill the
    # output, was half of stage 2's join: 3.7 against 2.0 ms a query at 1,000 h).
    passed = np.empty(hashes.size, dtype=np.int32)  # (pages touched only where written)
    m = 0
    for p in range(hashes.size):
        h = np.int64(hashes[p])
        if h <= top and (bitmap[h >> 6] >> np.uint64(h & 63)) & np.uint64(1):
            passed[m] = p
            m += 1
    lo = np.empty(m, dtype=np.int64)
    hi = np.empty(m, dtype=np.int64)
    total = 0
    for i in range(m):
        lo[i] = np.searchsorted(qh, hashes[passed[i]])
        hi[i] = np.searchsorted(qh, hashes[passed[i]], "right")
        total += hi[i] - lo[i]
    qi = np.empty(total, dtype=np.int64)
    fr = np.empty(total, dtype=np.int64)
    k = 0
    for i in range(m):
        for q in range(lo[i], hi[i]):
            qi[k] = q
            fr[k] = frames[passed[i]]
            k += 1
    return qi, fr


class _Remembered:
    # The whole index for the first stage of one query: the postings of the hashes of its
    # first lookup (the quick pass) are kept, so that the whole first stage, whose keys
    # hold the quick pass's, looks up only the hashes that one did not. Later lookups
    # with the same stop list only.
    def __init__(self, index) -> None:
        self._index = index
        self._kept: tuple | None = None  # (stop_list, cap, hashes, ui, song, frame)
        self._by_hash: tuple | None = None  # (bounds, song, frame) of the kept, by hash

    def _kept_by_hash(self) -> tuple:
        # (sorted by hash when a second lookup needs it: most queries end after their first)
        if self._by_hash is None:
            _, _, hashes, ui, song, frame = self._kept
            order = np.argsort(ui, kind="stable")
            bounds = np.concatenate(([0], np.cumsum(np.bincount(ui, minlength=hashes.size))))
            self._by_hash = (bounds, song[order], frame[order])
        return self._by_hash

    def lookup(self, qh: np.ndarray, stop_list: bool = False, cap: int | None = None):
        qh = np.asarray(qh, dtype=np.uint32)  # distinct and sorted (as _vote passes them)
        if self._kept is None:
            ui, song, frame = self._index.lookup(qh, stop_list=stop_list, cap=cap)
            self._kept = (stop_list, cap, qh, ui, song, frame)
            return ui, song, frame
        kept_stop, kept_cap, hashes = self._kept[:3]
        if (kept_stop, kept_cap) != (stop_list, cap):
            return self._index.lookup(qh, stop_list=stop_list, cap=cap)
        bounds, k_song, k_frame = self._kept_by_hash()
        at = np.minimum(np.searchsorted(hashes, qh), max(hashes.size - 1, 0))
        known = (hashes[at] == qh) if hashes.size else np.zeros(qh.size, dtype=bool)
        fresh = np.flatnonzero(~known)
        ui, song, frame = self._index.lookup(qh[fresh], stop_list=stop_list, cap=cap)
        # the kept postings of the known hashes, hash by hash
        which, at = np.flatnonzero(known), at[known]
        n = bounds[at + 1] - bounds[at]
        take = np.repeat(bounds[at] - np.cumsum(n) + n, n) + np.arange(int(n.sum()))
        return (
            np.concatenate((fresh[ui], np.repeat(which, n))),
            np.concatenate((song, k_song[take])),
            np.concatenate((frame, k_frame[take])),
        )


class _Candidates:
    # Stage 2's index: the candidate songs' whole stored pairs, joined with the query's
    # keys song by song (no sort, nothing built or copied per song), so that the full search
    # of match_pairs runs on a few songs whatever the catalog's size. Each song's length and
    # the catalog's frames are the whole index's: a vote's chance level and the number of
    # cells searched are what they would be there.
    def __init__(self, songs, postings: PostingsOf, index) -> None:
        self._songs = [(int(s), *postings(int(s))) for s in songs]
        self.song_ids = np.array(sorted(int(s) for s in songs), dtype=np.int64)
        self.total_frames = index.total_frames
        self.max_postings = index.max_postings
        self._index = index

    def __len__(self) -> int:
        return int(sum(len(h) for _, h, _ in self._songs))

    def frames_of(self, songs: np.ndarray) -> np.ndarray:
        return self._index.frames_of(songs)

    def lookup(self, qh: np.ndarray, stop_list: bool = False, with_postings: bool = False):
        # (no stop list: the whole index's buckets are of other keys; the cost is bounded
        # by the candidates' postings)
        qh = np.ascontiguousarray(qh, dtype=np.uint32)
        if qh.size == 0 or not self._songs:
            e = np.zeros(0, dtype=np.int64)
            return e, e, e
        bitmap, top = _query_bitmap(qh)
        qs, ss, fs = [], [], []
        for song, h, f in self._songs:
            qi, fr = _join(qh, bitmap, top, h, f)
            qs.append(qi)
            ss.append(np.full(qi.size, song, dtype=np.int64))
            fs.append(fr)
        return np.concatenate(qs), np.concatenate(ss), np.concatenate(fs)


def _two_stage_settings(settings: MatchSettings) -> MatchSettings:
    # The ratio test of stage 2 sees the candidates only, not every song a chance match
    # competes with (a crowd of songs on one steady beat): the significance alone must then
    # hold chance, hence two_stage_significance.
    floor = settings.two_stage_significance
    return replace(
        settings,
        min_significance=max(settings.min_significance, floor),
        grid_min_significance=max(settings.grid_min_significance, floor),
        wide_min_significance=max(settings.wide_min_significance, floor),
    )


@dataclass
class _QuickPass:
    # what the quick pass leaves the rest of the search: the index with its lookups kept,
    # the songs that stood out in its vote, with their pairs (None: it ran no second
    # stage), and the answer its second stage found with accept_score votes on the quick
    # analyses alone (or none)
    whole: _Remembered
    cands: _Candidates | None
    answer: list[Match]


def _quick_pass(points, quick, index, postings, profile, settings) -> _QuickPass:
    # The quick pass: the first stage on the keys of the first ``quick_shifts`` analyses,
    # each target joined to the next ``quick_gap`` ones, then the second stage on the songs
    # that stand out, with those analyses' pairs. An answer of accept_score votes ends the
    # search as the whole search's would (the same bar; every noisy or clean excerpt of
    # the 1,000 h benchmark that got there got 53-245 votes from the first analysis, 91-616
    # from both): the other analyses of the query are then never computed.
    settings = _two_stage_settings(settings)
    whole = _Remembered(index)
    vq = _retrieve(
        whole, points, quick, profile, settings, ((1.0, 1.0),), settings.candidates,
        gap=settings.quick_gap,
    )  # fmt: skip
    if not (vq.song.size and vq.score[0] >= settings.quick_ratio * vq.score[-1]):
        return _QuickPass(whole, None, [])
    cands = _Candidates([int(s) for s in vq.song[vq.score > vq.score[-1]]], postings, index)
    got = match_pairs(points, quick, cands, profile, replace(settings, speeds=(), wide=()))
    answered = bool(got) and got[0].score >= settings.accept_score
    return _QuickPass(whole, cands, got if answered else [])


def _two_stage(
    points, pairs, wide, index, postings, profile, settings, exact=True, first=None, quick=None
):
    # Stage 1 finds candidate cells over the whole index with three-point keys (selective:
    # few chance postings per lookup at any catalog size); stage 2 runs the full search of
    # match_pairs on the candidates' pairs (robust: a pair needs two surviving peaks, a
    # three-point key three). First at speed 1; the wide grid only when that finds no
    # answer of accept_score votes. ``quick``: the quick pass that ran before, on the first
    # analyses (_quick_pass), without an answer.
    settings = _two_stage_settings(settings)
    found: list[list[Match]] = [[]]
    best_exact: list[int] = []
    if exact:  # (the dereverberated second search of match_signal skips speed 1)
        one = ((1.0, 1.0),)
        as_is = replace(settings, speeds=(), wide=())
        whole = index  # (the first stage's lookups at speed 1)
        if quick is not None:
            whole = quick.whole
            if quick.cands is not None:
                # the quick pass's songs again, with every analysis' pairs
                got = match_pairs(points, pairs, quick.cands, profile, as_is)
                if got and got[0].score >= settings.accept_score:
                    return got
        first = pairs if first is None else first  # (the first stage's pairs)
        n = max(settings.candidates, settings.recheck_candidates)
        v = _retrieve(whole, points, first, profile, settings, one, n)
        best_exact = [int(s) for s in v.song[: settings.wide_candidates]]
        head = [int(s) for s in v.song[: settings.candidates]]
        if head:
            cands = _Candidates(head, postings, index)
            found = [match_pairs(points, pairs, cands, profile, as_is)]
            if found[0] and found[0][0].score >= settings.accept_score and not settings.related:
                return found[0]
            if found[0] and v.song.size > len(head):
                # a weak answer: its ratio test also against the next songs of stage 1
                # (similar music that chance left out of the first few)
                cands = _Candidates([int(s) for s in v.song], postings, index)
                found = [match_pairs(points, pairs, cands, profile, as_is)]
    if not settings.wide or wide is None:
        return found[0]
    # the wide grid: which songs and factors stand out over the whole index (the scan of
    # match_pairs, on three-point keys), then the full search of those factors and their
    # neighbours on those songs' pairs
    wp, wprs = wide
    factors = tuple(settings.wide)
    scan = wprs[_rank(wprs[:, 0]) < settings.candidates_fan_out]
    step = max(1, settings.candidates_factor_step)
    v = _retrieve(
        index, wp, scan, profile, settings, factors[::step], settings.wide_candidates,
        gap=settings.candidates_gap,
    )  # fmt: skip
    songs = sorted({int(s) for s in v.song} | set(best_exact))
    if not songs:
        return found[0]
    cands = _Candidates(songs, postings, index)
    wf = _scan(wp, wprs, cands, profile, settings, factors)
    found.append(_match_factors(wp, wprs, cands, profile, settings, wf, "wide", len(factors)))
    return _combine(found, settings)


def _rank(anchor: np.ndarray) -> np.ndarray:
    # the place of each landmark among its anchor's (anchor-major order): 0 = nearest target
    first = np.concatenate(([0], np.flatnonzero(np.diff(anchor)) + 1))
    return np.arange(anchor.size) - np.repeat(first, np.diff(np.append(first, anchor.size)))


def match_signal(
    x: np.ndarray,
    index: Index,
    profile: Profile,
    settings: MatchSettings | None = None,
    postings: PostingsOf | None = None,
) -> list[Match]:
    """Ranked matches for a mono signal at ``profile.sr``.

    The query is analysed ``profile.query_shifts`` times at sub-hop shifts
    (:func:`aares.fingerprint.landmarks.query_peaks`); every tier but the first searches
    the first analyses only (``grid_shifts``; the wide tier the first alone). With
    ``settings.dereverb`` a query with no answer is searched again dereverberated.

    With ``postings`` (a song's stored pairs by id), ``index`` holds the profile's
    three-point keys (:func:`aares.fingerprint.landmarks.index_landmarks`) and the search
    runs in two stages (candidates over the whole index, then the full search on their
    pairs); without it, ``index`` holds the pairs and is searched directly.
    """
    settings = settings or MatchSettings()
    found = _search(_Analyses(x, profile, settings), index, profile, settings, postings)
    if found or not settings.dereverb:
        return found
    sig = max(settings.dereverb_significance, settings.wide_min_significance)
    second = replace(settings, grid_min_significance=sig, wide_min_significance=sig)
    query = _Analyses(x, profile, second, dereverb=True)
    return _search(query, index, profile, second, postings, exact=False)


class _Analyses:
    # A query's analyses (query_peaks) and their pairs, computed as the search asks for
    # them: a two-stage search whose quick pass answers on the first analysis never computes
    # the second (a noisy 10 s excerpt at 1,000 h: its spectrogram, peaks and pairs, and
    # the second stage's join of their pairs, ~2 ms of its ~15).
    def __init__(self, x, profile, settings, dereverb: bool = False) -> None:
        self._x, self._profile, self._dereverb = x, profile, dereverb
        self._slack = settings.slack if settings.speeds else 1.0
        self._n = max(1, int(profile.query_shifts))
        self.blocks: list[tuple[np.ndarray, np.ndarray]] = []  # (points, strength) each
        self._pairs: list[np.ndarray] = []
        self._base = 0

    def first(self, n: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(points, pairs, shift)`` of the first ``n`` analyses (None: all of them);
        ``shift``: the analysis of each pair. Pairs index the points of all analyses
        computed so far, which come in order."""
        n = self._n if n is None else min(max(1, int(n)), self._n)
        if len(self.blocks) < n:
            new = range(len(self.blocks), n)
            for p, st in query_peaks(self._x, self._profile, self._dereverb, new):
                pr = pair_peaks(p, self._profile, st, fan_out=self._profile.query_fan_out,
                                slack=self._slack)  # fmt: skip
                self.blocks.append((p, st))
                self._pairs.append(pr + self._base)
                self._base += p.shape[0]
        points = np.concatenate([p for p, _ in self.blocks[:n]])
        pairs = np.concatenate(self._pairs[:n])
        shift = np.repeat(np.arange(n, dtype=np.int64), [len(pr) for pr in self._pairs[:n]])
        return points, pairs, shift


def _search(query: _Analyses, index, profile, settings, postings, exact=True) -> list[Match]:
    # match_signal's search on a query's analyses
    two_stage = _key_bits(index) > profile.hash_bits
    if two_stage and postings is None:
        raise ValueError(
            "this index holds three-point keys: pass postings= (a song's stored pairs "
            "by id, Store.postings) or identify through Catalog"
        )
    quick = None
    if two_stage and exact and settings.quick_shifts and not settings.related:
        # the quick pass needs the first analyses only; an answer there ends the search
        points, quick_pairs, _ = query.first(settings.quick_shifts)
        if quick_pairs.size:
            quick = _quick_pass(points, quick_pairs, index, postings, profile, settings)
            if quick.answer:
                return quick.answer
    points, pairs, shift = query.first()
    wide = None
    if settings.wide:
        wide = (query.blocks[0][0], _wide_pairs(*query.blocks[0], profile, settings))
    if two_stage:
        first = pairs[shift < settings.candidates_shifts]
        return _two_stage(
            points, pairs, wide, index, postings, profile, settings, exact, first, quick
        )
    grid_pairs = pairs[shift < settings.grid_shifts]
    return match_pairs(points, pairs, index, profile, settings, grid_pairs, wide, exact)


def _key_bits(index) -> int:
    # the width of an index's keys: pairs' hashes or three-point keys
    segments = getattr(index, "segments", None)
    if segments is not None:
        return max((int(s.key_bits) for s in segments), default=0)
    hashes = getattr(index, "hashes", None)
    return int(hashes[-1]).bit_length() if hashes is not None and hashes.size else 0
