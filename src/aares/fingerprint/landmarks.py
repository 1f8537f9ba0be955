"""Landmarks: spectrogram peaks paired into hashes, for the two profiles of the engine.

A *landmark* is a pair of spectrogram peaks, an anchor ``(f1, t1)`` and a target ``(f2, t2)``
a little later in time, hashed as ``(f1, f2 - f1, t2 - t1)`` and stored with the anchor's
frame ``t1``. A song and an excerpt of it share many landmarks at one constant offset
``t1_song - t1_excerpt``; the matcher votes on that offset (:mod:`aares.fingerprint.match`).

Two profiles go through the same code:

``course``
    The handout's parameters: 3 kHz, ``n_fft=2048``, ``win_length=1024``, ``hop=512``; peaks
    by the course helper's picker (:func:`aares.fingerprint.peaks.course_maxima`, the
    corrected unshifted variant); target zone ``t1 < t2 <= t1 + 300`` frames and
    ``|f2 - f1| <= 10`` bins, the 10 strongest peaks of the zone. The handout's hash
    ``f1 * 1e6 + f2 * 1e3 + dt`` is packed bijectively into 31 bits (11 + 11 + 9).

``default`` (the tuned design; reasons in brackets)
    * 8 kHz mono (the phone band 300-3400 Hz and the strong partials of music lie below
      4 kHz; fewer samples make decoding, resampling and the FFT cheap);
    * ``n_fft=512`` (64 ms window, 15.6 Hz bins: fine enough in frequency to discriminate,
      short enough in time to keep onsets sharp), ``hop=256`` (32 ms frames: one frame of
      vote tolerance is well under the 1 s offset accuracy asked for);
    * peaks: maxima of an 11 bins x 11 frames (172 Hz x 0.35 s) neighbourhood, above a floor
      that drops digital silence, at most 30 per second in a song (density cap per 32-frame
      block: it bounds the index size in loud passages) and 90 per second in a query (a
      query may afford more: only the peaks it shares with the song vote, and the extra ones
      replace those that noise has moved or buried); their frequency is refined to a
      fraction of a bin by a parabola through the log power (so that the rescaled peaks of
      a sped-up query round to the right bin);
    * pairs: the 7 nearest peaks in time with ``1 <= dt <= 63`` frames (2 s) and
      ``|df| <= 63`` bins (1 kHz) for a song, the 16 nearest for a query (nearby targets
      survive noise and cuts more often than far ones; the query's wider fan-out still holds
      the song's 7 when noise peaks come in between); about 200 landmarks per second of
      audio, under 3 MB per hour of index;
    * hash: 21 bits, ``f1`` (8 bits, bins 0-255), ``df + 63`` (7 bits), ``dt`` (6 bits):
      2 million values; the store keeps these pairs;
    * query index keys of a catalog of 50 h or more: 32 bits, a pair's hash and its
      anchor's next target (its frequency from the anchor's in steps of 2 bins, 6 bits; its
      frames after the pair's target, 5 bits), derived from the stored pairs
      (:func:`index_landmarks`). A 21-bit bucket holds about 300 postings at 1,000 h and
      3,000 at 10,000 h, so that looking up every pair of a query costs millions of
      postings; a three-point key meets about 100 times fewer chance postings, and the
      matcher verifies the few songs it finds on their pairs (:mod:`aares.fingerprint.match`).
      A query joins each target with the next ``query_gap`` ones (it has about three times
      a song's peaks);
    * queries are analysed twice, the second time half a hop later
      (:func:`analyse_query`): an excerpt does not start on the song's frame grid, and in
      noise a peak seen through a frame half a hop off is often moved or lost (top-1 on
      5 s excerpts under white noise at 0 dB: 85 % with one analysis, 93 % with two).

Speed changes (tempo and pitch together, as when audio is resampled by a factor ``s``) scale
every frequency by ``s`` and every time by ``1 / s``. The matcher undoes a grid of candidate
factors on the query's *peaks* (not its audio) with :func:`landmark_hashes` ``(speed=s)``,
which is cheap: pairs are found once, only the hash arithmetic is redone per factor.

Example
-------
>>> import numpy as np
>>> prof = PROFILES["default"]
>>> peaks = np.array([[10.0, 0], [20.0, 3], [15.0, 5]])
>>> pairs = pair_peaks(peaks, prof)
>>> pairs.tolist()
[[0, 1], [0, 2], [1, 2]]
>>> h, t = landmark_hashes(peaks, pairs, prof)
>>> [unpack_hash(int(v), prof) for v in h]
[(10, 10, 3), (10, 5, 5), (20, -5, 2)]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numba
import numpy as np

from aares.fingerprint.peaks import course_maxima, find_peaks
from aares.fingerprint.spectrogram import power_spectrogram, suppress_late_reverb

__all__ = [
    "Profile",
    "PROFILES",
    "get_profile",
    "spectrogram",
    "pick_peaks",
    "analyse",
    "analyse_query",
    "query_peaks",
    "pair_peaks",
    "landmark_hashes",
    "factor_hashes",
    "unpack_hash",
    "index_landmarks",
    "query_index_keys",
    "factor_index_keys",
    "peak_landmarks",
    "fingerprint",
]


@dataclass(frozen=True)
class Profile:
    """Every parameter of the analysis (audio -> peaks -> pairs -> hashes) in one place.

    A catalog stores the name of its profile; songs and queries go through the same one.
    """

    name: str
    sr: int
    n_fft: int
    hop_length: int
    win_length: int | None
    picker: str  # "course" (course helper, unshifted) or "local" (find_peaks + density cap)
    peak_size: tuple[int, int] = (15, 13)
    peak_floor_db: float = -60.0  # power floor relative to a full-scale sine (drops silence)
    max_per_second: float | None = None
    query_max_per_second: float | None = None  # denser peaks in queries (None: the same)
    dt_min: int = 1
    dt_max: int = 63
    df_max: int = 63
    fan_out: int = 6
    query_fan_out: int = 6
    strongest: bool = False  # targets: the strongest of the zone (course) or the nearest
    f_bits: int = 8
    df_bits: int = 7
    dt_bits: int = 6
    absolute_f2: bool = False  # course: the hash holds f2 itself, not f2 - f1
    resample_quality: str = "MQ"
    query_shifts: int = 1  # analyses of a query at sub-hop time shifts (see analyse_query)
    dereverb_rt60: float = 2.0  # reverberation assumed by query_peaks(dereverb=True), seconds
    dereverb_wet: float = 1.0  # ... and its reverberant-to-direct amplitude ratio
    # Keys of the query index (see index_landmarks): a pair's hash and, from the anchor's
    # next target, its frequency (in steps of 2 bins: 6 bits) and frames after the pair's
    # target (5 bits). 0 bits: the index holds the pairs themselves (course profile).
    index_df3_bits: int = 0
    index_dt3_bits: int = 0
    query_gap: int = 2  # a query's triplets join target k with targets k + 1 .. k + gap

    @property
    def frame_seconds(self) -> float:
        """Duration of one frame (hop) in seconds."""
        return self.hop_length / self.sr

    @property
    def hash_bits(self) -> int:
        """Width of a stored pair's hash."""
        return self.f_bits + self.df_bits + self.dt_bits

    @property
    def index_bits(self) -> int:
        """Width of the query index's keys (three-point keys when wider than a pair's)."""
        return self.hash_bits + self.index_df3_bits + self.index_dt3_bits

    @property
    def triplets(self) -> bool:
        """The query index is keyed by three peaks (:func:`index_landmarks`)."""
        return self.index_bits > self.hash_bits

    def to_dict(self) -> dict:
        return asdict(self)


PROFILES: dict[str, Profile] = {
    "course": Profile(
        name="course",
        sr=3000,
        n_fft=2048,
        hop_length=512,
        win_length=1024,
        picker="course",
        dt_min=1,
        dt_max=300,
        df_max=10,
        fan_out=10,
        query_fan_out=10,
        strongest=True,
        f_bits=11,
        df_bits=11,
        dt_bits=9,
        absolute_f2=True,
        resample_quality="HQ",
    ),
    "default": Profile(
        name="default",
        sr=8000,
        n_fft=512,
        hop_length=256,
        win_length=None,
        picker="local",
        peak_size=(11, 11),
        max_per_second=30.0,
        query_max_per_second=90.0,
        dt_min=1,
        dt_max=63,
        df_max=63,
        fan_out=7,
        query_fan_out=16,
        f_bits=8,
        df_bits=7,
        dt_bits=6,
        query_shifts=2,
        index_df3_bits=6,
        index_dt3_bits=5,
    ),
}


def get_profile(profile: str | Profile) -> Profile:
    """The :class:`Profile` named ``profile`` (``"course"`` or ``"default"``)."""
    if isinstance(profile, Profile):
        return profile
    try:
        return PROFILES[profile]
    except KeyError:
        raise ValueError(
            f"unknown fingerprint profile {profile!r}; choose from {sorted(PROFILES)}"
        ) from None


def spectrogram(x: np.ndarray, profile: Profile) -> np.ndarray:
    """The profile's power spectrogram of ``x`` (already at ``profile.sr``)."""
    if x.size < profile.n_fft // 2 + 1:  # too short for one centred frame: no peaks
        return np.zeros((profile.n_fft // 2 + 1, 0), dtype=np.float32)
    return power_spectrogram(
        x, n_fft=profile.n_fft, hop_length=profile.hop_length, win_length=profile.win_length
    )


def pick_peaks(
    S: np.ndarray, profile: Profile, query: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Peaks of the spectrogram ``S``: ``(points, strength)``.

    ``query=True`` applies the profile's query density (``query_max_per_second``): a query
    may afford more peaks than a stored song, since only the ones it shares with the song
    vote, and extra peaks make up for those that noise has moved or buried.

    Returns
    -------
    points : ndarray of float64, shape (K, 2)
        Rows ``(frequency bin, frame)`` sorted by frame then bin; the frequency is refined
        to a fraction of a bin (parabola through the log power of the bin and its two
        neighbours) for the ``local`` picker, integer for the ``course`` picker.
    strength : ndarray of float32, shape (K,)
        The power at each peak (used to pick the strongest targets).
    """
    if S.shape[1] == 0:
        return np.zeros((0, 2)), np.zeros(0, dtype=np.float32)
    # a full-scale sine has power (sum of window)^2 / 4 in its bin; the floor is relative to it
    win = profile.win_length or profile.n_fft
    floor = (win / 2) ** 2 / 4 * 10.0 ** (profile.peak_floor_db / 10.0)
    if profile.picker == "course":
        pk = course_maxima(S, shifted=False)
        pk = pk[S[pk[:, 0], pk[:, 1]] > floor]
        order = np.lexsort((pk[:, 0], pk[:, 1]))  # time order
        pk = pk[order]
        return pk.astype(np.float64), S[pk[:, 0], pk[:, 1]].astype(np.float32)
    per_window = None
    window = 32
    density = profile.max_per_second
    if query and profile.query_max_per_second:
        density = profile.query_max_per_second
    if density:
        per_window = max(1, int(round(density * window * profile.frame_seconds)))
    pk = find_peaks(
        S, size=profile.peak_size, threshold=floor, max_per_window=per_window, window=window
    )
    if pk.shape[0] == 0:
        return np.zeros((0, 2)), np.zeros(0, dtype=np.float32)
    f, t = pk[:, 0], pk[:, 1]
    strength = S[f, t]
    frac = _parabolic_offset(S, f, t)
    points = np.empty((pk.shape[0], 2))
    points[:, 0] = f + frac
    points[:, 1] = t
    return points, strength.astype(np.float32)


def _parabolic_offset(S: np.ndarray, f: np.ndarray, t: np.ndarray) -> np.ndarray:
    # vertex of the parabola through log S at f-1, f, f+1 (0 at the spectrum's edges)
    n_bins = S.shape[0]
    inner = (f > 0) & (f < n_bins - 1)
    fi, ti = f[inner], t[inner]
    tiny = np.float32(1e-30)
    a = np.log(S[fi - 1, ti] + tiny)
    b = np.log(S[fi, ti] + tiny)
    c = np.log(S[fi + 1, ti] + tiny)
    den = a - 2 * b + c
    off = np.zeros(f.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        o = np.where(den < 0, 0.5 * (a - c) / den, 0.0)
    off[inner] = np.clip(o, -0.5, 0.5)
    return off


@numba.njit(cache=True)
def _pairs(f, t, strength, dt_min, dt_max, df_max, fan_out, strongest):  # pragma: no cover
    # Peaks are in time order. For each anchor scan forward while inside the zone's time
    # span; keep the first ``fan_out`` candidates (nearest) or the strongest ``fan_out``.
    n = f.shape[0]
    out_i = np.empty(n * fan_out, dtype=np.int64)
    out_j = np.empty(n * fan_out, dtype=np.int64)
    cand = np.empty(4096, dtype=np.int64)
    m = 0
    for i in range(n):
        k = 0
        j = i + 1
        while j < n and t[j] - t[i] <= dt_max:
            d = t[j] - t[i]
            if d >= dt_min and abs(f[j] - f[i]) <= df_max:
                if not strongest:
                    out_i[m] = i
                    out_j[m] = j
                    m += 1
                    k += 1
                    if k == fan_out:
                        break
                elif k < cand.shape[0]:
                    cand[k] = j
                    k += 1
            j += 1
        if strongest and k > 0:
            c = cand[:k]
            # strongest first; ties by time order (stable)
            order = np.argsort(-strength[c], kind="mergesort")
            kk = min(k, fan_out)
            for q in range(kk):
                out_i[m] = i
                out_j[m] = c[order[q]]
                m += 1
    return out_i[:m], out_j[:m]


def pair_peaks(
    points: np.ndarray,
    profile: Profile,
    strength: np.ndarray | None = None,
    fan_out: int | None = None,
    slack: float = 1.0,
) -> np.ndarray:
    """Anchor/target pairs: an int64 array of shape (P, 2) of indices into ``points``.

    ``points`` are ``(bin, frame)`` rows in time order. The target zone of anchor ``a`` is
    ``dt_min <= t - t_a <= dt_max`` frames and ``|f - f_a| <= df_max`` bins; it holds the
    ``fan_out`` nearest peaks in time (or the strongest, for the course profile).
    ``slack > 1`` widens the zone (queries searched at other speeds: a pair inside the
    song's zone may fall just outside it in the sped-up excerpt).
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if points.shape[0] < 2:
        return np.zeros((0, 2), dtype=np.int64)
    if strength is None:
        strength = np.ones(points.shape[0], dtype=np.float32)
    i, j = _pairs(
        np.ascontiguousarray(points[:, 0]),
        np.ascontiguousarray(points[:, 1]),
        np.asarray(strength, dtype=np.float32),
        float(profile.dt_min) / slack,
        float(profile.dt_max) * slack,
        float(profile.df_max) * slack,
        int(fan_out or profile.fan_out),
        bool(profile.strongest),
    )
    return np.stack([i, j], axis=1)


def landmark_hashes(
    points: np.ndarray,
    pairs: np.ndarray,
    profile: Profile,
    speed: float = 1.0,
    dt_shift: int = 0,
    pitch: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of the pairs, and their anchor times, after undoing a speed factor.

    Parameters
    ----------
    points, pairs :
        From :func:`pick_peaks` and :func:`pair_peaks`.
    speed : float
        The factor the audio is assumed to be sped up by (``1.05``: 5 % fast). Frequencies
        are divided by it and times multiplied by it before quantisation, which maps the
        peaks of a sped-up excerpt back onto those of the original song.
    dt_shift : int
        Added to every ``dt`` (frames): a query may also look up its pairs one frame
        shorter or longer, since noise moves a peak by a frame now and then.
    pitch : float or None
        The factor the frequencies are assumed to be scaled by, when it differs from the
        tempo factor ``speed``: ``pitch=1`` undoes a time-stretch (tempo changed, pitch
        kept), ``speed=1`` a pitch shift (pitch changed, tempo kept). ``None``: ``speed``
        (resampling scales both).

    Returns
    -------
    hashes : ndarray of uint32
        Packed ``(f1, df, dt)`` (or ``(f1, f2, dt)`` for the course profile); pairs whose
        fields fall outside the bit layout are dropped.
    times : ndarray of float64
        Anchor time in (rescaled) frames, for the offset vote.
    """
    if pairs.shape[0] == 0:
        return np.zeros(0, dtype=np.uint32), np.zeros(0)
    h, _, _, t1, ok = _pair_fields(points, pairs, profile, speed, dt_shift, pitch)
    return h[ok].astype(np.uint32), t1[ok]


def factor_hashes(
    points: np.ndarray,
    pairs: np.ndarray,
    profile: Profile,
    factors,
    dt_shift: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`landmark_hashes` at every ``(pitch, tempo)`` of ``factors`` in one pass.

    Returns ``(hashes, times, which)``: the hashes and anchor times of every factor in
    turn (each as :func:`landmark_hashes` ``(speed=tempo, pitch=pitch)`` gives them), and
    the index in ``factors`` of each. One array operation over factors x pairs instead of
    a call per factor: the wide search undoes about 95 factors per query.

    >>> prof = PROFILES["default"]
    >>> peaks = np.array([[100.0, 0], [110.0, 10]])
    >>> h, t, k = factor_hashes(peaks, pair_peaks(peaks, prof), prof, [(1.0, 1.0), (1.1, 1.1)])
    >>> [unpack_hash(int(v), prof) for v in h], t.tolist(), k.tolist()
    ([(100, 10, 10), (91, 9, 11)], [0.0, 0.0], [0, 1])
    """
    f = np.asarray(factors, dtype=np.float64).reshape(-1, 2)
    if pairs.shape[0] == 0 or f.shape[0] == 0:
        return np.zeros(0, dtype=np.uint32), np.zeros(0), np.zeros(0, dtype=np.int64)
    a, b = pairs[:, 0], pairs[:, 1]
    return _factor_fields(
        points[a, 0], points[b, 0], points[a, 1], points[b, 1],
        np.ascontiguousarray(f[:, 0]), np.ascontiguousarray(f[:, 1]), int(dt_shift),
        (profile.f_bits, profile.df_bits, profile.dt_bits),
        (profile.dt_min, profile.dt_max, profile.df_max), bool(profile.absolute_f2),
    )  # fmt: skip


@numba.njit(cache=True)
def _factor_fields(
    fa, fb, ta, tb, pitch, tempo, dt_shift, bits, zone, absolute_f2
):  # pragma: no cover
    f_bits, df_bits, dt_bits = bits
    dt_min, dt_max, df_max = zone
    # _pair_fields' arithmetic, element by element (the same roundings), for every factor:
    # the hashes that fit, their anchor times and factor index, factor-major
    n_pairs, n_factors = fa.size, pitch.size
    hs = np.empty(n_pairs * n_factors, dtype=np.uint32)
    ts = np.empty(n_pairs * n_factors, dtype=np.float64)
    ks = np.empty(n_pairs * n_factors, dtype=np.int64)
    n = 0
    for k in range(n_factors):
        p, s = pitch[k], tempo[k]
        for i in range(n_pairs):
            f1 = fa[i] / p
            f2 = fb[i] / p
            dt = np.int64(np.rint((tb[i] - ta[i]) * s)) + dt_shift
            qf1 = np.int64(np.rint(f1))
            if absolute_f2:
                second = np.int64(np.rint(f2))
            else:
                second = np.int64(np.rint(f2 - f1)) + df_max
                if second > 2 * df_max:
                    continue
            if qf1 < 0 or qf1 >= (1 << f_bits) or second < 0 or second >= (1 << df_bits):
                continue
            if dt < dt_min or dt > dt_max or dt >= (1 << dt_bits):
                continue
            hs[n] = (qf1 << (df_bits + dt_bits)) | (second << dt_bits) | dt
            ts[n] = ta[i] * s
            ks[n] = k
            n += 1
    return hs[:n], ts[:n], ks[:n]


def _pair_fields(points, pairs, profile, speed, dt_shift, pitch):
    # the quantised (f1, second, dt) of each pair after undoing the factors; which fit
    pitch = speed if pitch is None else pitch
    f1 = points[pairs[:, 0], 0] / pitch
    f2 = points[pairs[:, 1], 0] / pitch
    t1 = points[pairs[:, 0], 1] * speed
    dt = np.rint((points[pairs[:, 1], 1] - points[pairs[:, 0], 1]) * speed).astype(np.int64)
    dt += dt_shift
    qf1 = np.rint(f1).astype(np.int64)
    if profile.absolute_f2:
        second = np.rint(f2).astype(np.int64)
    else:
        # the difference of the unrounded frequencies, rounded once
        second = np.rint(f2 - f1).astype(np.int64) + profile.df_max
    ok = (
        (qf1 >= 0)
        & (qf1 < (1 << profile.f_bits))
        & (second >= 0)
        & (second < (1 << profile.df_bits))
        & (dt >= profile.dt_min)
        & (dt <= profile.dt_max)
        & (dt < (1 << profile.dt_bits))
    )
    if not profile.absolute_f2:
        ok &= second <= 2 * profile.df_max
    h = (qf1 << (profile.df_bits + profile.dt_bits)) | (second << profile.dt_bits) | dt
    return h, second, dt, t1, ok


def _third(h, second, dt, r, q, profile):
    # the key of pair r extended by pair q's target (same anchor, later or equal in time):
    # its frequency from the anchor's in steps of 2 bins and its frames after r's target
    d3 = dt[q] - dt[r]
    keep = (d3 >= 0) & (d3 < (1 << profile.index_dt3_bits))
    r, q, d3 = r[keep], q[keep], d3[keep]
    f3 = second[q] >> (profile.df_bits - profile.index_df3_bits)
    key = (((h[r] << profile.index_df3_bits) | f3) << profile.index_dt3_bits) | d3
    return key, r


@numba.njit(cache=True, nogil=True)
def _stored_triplets(h, fr, dt_bits, df_bits, df3_bits, dt3_bits):  # pragma: no cover (numba)
    # index_landmarks in one pass for postings already in its order, (frame, f1, dt, second)
    # non-decreasing, as a song's analysis stores them (anchors in time then bin order, each
    # anchor's targets in time then bin order): the sort is then the identity. Returns
    # (False, ...) at the first posting out of that order (the caller sorts).
    n = h.size
    keys = np.empty(max(n - 1, 0), dtype=np.uint32)
    frames = np.empty(max(n - 1, 0), dtype=np.uint32)
    dt_mask = (1 << dt_bits) - 1
    df_mask = (1 << df_bits) - 1
    m = 0
    for i in range(1, n):
        a, b = np.int64(h[i - 1]), np.int64(h[i])
        fa, fb = np.int64(fr[i - 1]), np.int64(fr[i])
        f1a, f1b = a >> (df_bits + dt_bits), b >> (df_bits + dt_bits)
        dta, dtb = a & dt_mask, b & dt_mask
        sa, sb = (a >> dt_bits) & df_mask, (b >> dt_bits) & df_mask
        if fb != fa or f1b != f1a:
            if fb < fa or (fb == fa and f1b < f1a):
                return False, keys[:0], frames[:0]
            continue
        if dtb < dta or (dtb == dta and sb < sa):
            return False, keys[:0], frames[:0]
        d3 = dtb - dta
        if d3 < (1 << dt3_bits):
            f3 = sb >> (df_bits - df3_bits)
            keys[m] = np.uint32((((a << df3_bits) | f3) << dt3_bits) | d3)
            frames[m] = np.uint32(fa)
            m += 1
    return True, keys[:m], frames[:m]


def index_landmarks(
    hashes: np.ndarray, frames: np.ndarray, profile: Profile
) -> tuple[np.ndarray, np.ndarray]:
    """The query index's postings of a song, from its stored pair postings.

    For a profile of three-point keys (:attr:`Profile.triplets`), each pair ``(anchor,
    target k)`` is extended by the anchor's next target ``k + 1``: a key of
    :attr:`Profile.index_bits` bits that meets about 100 times fewer chance postings per
    lookup than a pair's 21-bit hash, so that a lookup stays cheap however large the
    catalog. The pairs are what the store keeps (the matcher verifies candidates
    on them, :mod:`aares.fingerprint.match`); the triplets are derived from them exactly
    (an anchor's pairs share its frame and ``f1``; its targets are in time order). Other
    profiles: the pairs themselves.
    """
    hashes = np.asarray(hashes, dtype=np.uint32)
    frames = np.asarray(frames, dtype=np.uint32)
    if not profile.triplets or hashes.size < 2:
        if profile.triplets:
            return np.zeros(0, np.uint32), np.zeros(0, np.uint32)
        return hashes, frames
    ok, key, fr = _stored_triplets(
        hashes, frames, profile.dt_bits, profile.df_bits,
        profile.index_df3_bits, profile.index_dt3_bits,
    )  # fmt: skip
    if ok:
        return key, fr
    h = hashes.astype(np.int64)
    dt = h & ((1 << profile.dt_bits) - 1)
    second = (h >> profile.dt_bits) & ((1 << profile.df_bits) - 1)
    f1 = h >> (profile.df_bits + profile.dt_bits)
    fr = frames.astype(np.int64)
    # by anchor (frame, f1), then its targets in time order (dt, then frequency)
    order = np.lexsort((second, dt, f1, fr))
    h, dt, second, f1, fr = h[order], dt[order], second[order], f1[order], fr[order]
    r = np.flatnonzero((fr[1:] == fr[:-1]) & (f1[1:] == f1[:-1]))
    key, r = _third(h, second, dt, r, r + 1, profile)
    back = np.argsort(fr[r], kind="stable")
    return key[back].astype(np.uint32), fr[r][back].astype(np.uint32)


def query_index_keys(
    points: np.ndarray,
    pairs: np.ndarray,
    profile: Profile,
    speed: float = 1.0,
    pitch: float | None = None,
    gap: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A query's keys of the query index (and anchor times), after undoing the factors.

    For three-point keys, target ``k`` of an anchor is joined with its targets ``k + 1``
    to ``k + gap`` (``profile.query_gap``): a query holds about three times a song's peaks
    and noise adds its own, so the song's next target is often not the query's next one.
    Otherwise the pairs' hashes (:func:`landmark_hashes`).
    """
    pitch = speed if pitch is None else pitch
    return factor_index_keys(points, pairs, profile, [(pitch, speed)], gap)[:2]


def factor_index_keys(
    points: np.ndarray,
    pairs: np.ndarray,
    profile: Profile,
    factors,
    gap: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`query_index_keys` at every ``(pitch, tempo)`` of ``factors`` in one pass:
    ``(keys, times, which)``, ``which`` the index in ``factors`` of each key (one array
    operation over factors x pairs instead of a call per factor: the first stage of the
    wide grid looks up about 95 factors).

    >>> prof = PROFILES["default"]
    >>> peaks = np.array([[100.0, 0], [110.0, 10], [120.0, 12]])
    >>> k, t, w = factor_index_keys(peaks, pair_peaks(peaks, prof), prof, [(1, 1), (1.1, 1.1)])
    >>> [query_index_keys(peaks, pair_peaks(peaks, prof), prof, s)[0][0] for s in (1, 1.1)] == (
    ...     k.tolist())
    True
    >>> w.tolist()
    [0, 1]
    """
    f = np.asarray(factors, dtype=np.float64).reshape(-1, 2)
    if not profile.triplets:
        return factor_hashes(points, pairs, profile, f)
    if pairs.shape[0] == 0 or f.shape[0] == 0:
        return np.zeros(0, dtype=np.uint32), np.zeros(0), np.zeros(0, dtype=np.int64)
    # _pair_fields on a factors x pairs grid (the same roundings, element by element)
    fields = _pair_fields(points, pairs, profile, f[:, 1:], 0, f[:, :1])
    h, second, dt, t1, ok = (np.ravel(x) for x in np.broadcast_arrays(*fields))
    n = pairs.shape[0]
    a = pairs[:, 0]
    keys, times, which = [], [], []
    for g in range(1, int(profile.query_gap if gap is None else gap) + 1):
        same = np.zeros(n, dtype=bool)
        same[:-g] = a[g:] == a[:-g]
        r = np.flatnonzero(np.tile(same, f.shape[0]) & ok & np.roll(ok, -g))
        key, r = _third(h, second, dt, r, r + g, profile)
        keys.append(key)
        times.append(t1[r])
        which.append(r // n)
    order = np.argsort(np.concatenate(which), kind="stable")  # factor by factor
    return (
        np.concatenate(keys).astype(np.uint32)[order],
        np.concatenate(times)[order],
        np.concatenate(which)[order].astype(np.int64),
    )


def unpack_hash(h: int, profile: Profile) -> tuple[int, int, int]:
    """``(f1, df, dt)`` of a packed hash (``(f1, f2, dt)`` for the course profile)."""
    dt = h & ((1 << profile.dt_bits) - 1)
    second = (h >> profile.dt_bits) & ((1 << profile.df_bits) - 1)
    f1 = h >> (profile.df_bits + profile.dt_bits)
    if not profile.absolute_f2:
        second -= profile.df_max
    return int(f1), int(second), int(dt)


def analyse(x: np.ndarray, profile: Profile, query: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Peaks of a signal at ``profile.sr``: ``(points, strength)`` (see :func:`pick_peaks`)."""
    return pick_peaks(spectrogram(np.asarray(x, dtype=np.float32), profile), profile, query)


def query_peaks(
    x: np.ndarray, profile: Profile, dereverb: bool = False, analyses: range | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(points, strength)`` of each of the ``profile.query_shifts`` analyses of a query
    (or of those in ``analyses``: the matcher computes the later ones only when the first
    ones leave the query unanswered).

    Analysis ``k`` starts ``k * hop / query_shifts`` samples in; its frames are given in the
    unshifted analysis' frames (fractional), so that every analysis votes for one offset.
    ``dereverb=True`` picks the peaks after taking the late reverberation out of the
    spectrogram (:func:`aares.fingerprint.spectrogram.suppress_late_reverb` with the
    profile's ``dereverb_rt60`` and ``dereverb_wet``): for a reverberant query (a "slowed +
    reverb" edit) whose plain analysis finds nothing. Songs are always analysed dry.
    """
    x = np.asarray(x, dtype=np.float32)
    n = max(1, int(profile.query_shifts))
    out = []
    for k in range(n) if analyses is None else analyses:
        shift = int(round(k * profile.hop_length / n))
        S = spectrogram(x[shift:], profile)
        if dereverb and S.shape[1]:
            S = suppress_late_reverb(
                S, profile.frame_seconds, profile.dereverb_rt60, profile.dereverb_wet
            )
        p, st = pick_peaks(S, profile, query=True)
        if shift:
            p = p.copy()
            p[:, 1] += shift / profile.hop_length
        out.append((p, st))
    return out


def analyse_query(
    x: np.ndarray, profile: Profile, slack: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A query's peaks and pairs, from ``profile.query_shifts`` analyses at sub-hop shifts.

    An excerpt starts anywhere, not on a frame of the song: its frames straddle the song's
    by up to half a hop, which moves or hides about half of the peaks in noise. Analysing
    the excerpt again with its start moved by ``hop / n`` samples puts one of the ``n``
    frame grids within ``hop / (2 n)`` of the song's (audfprint's ``--shifts`` does the
    same). Each analysis is paired on its own; its times are in song frames (shift added as
    a fraction of a frame), so every shift votes for the same offset. The matcher counts a
    song's posting once whichever shift hits it, so the vote statistics stay those of a
    single query.

    Returns
    -------
    points : ndarray of float64, shape (K, 2)
        ``(frequency bin, frame)`` rows of every shift (frames fractional).
    strength : ndarray of float32, shape (K,)
    pairs : ndarray of int64, shape (P, 2)
        Indices into ``points``; both ends of a pair come from the same shift.
    shift : ndarray of int64, shape (P,)
        Which analysis (0 for the unshifted one) each pair comes from.
    """
    pts, sts, prs, shifts, base = [], [], [], [], 0
    for k, (p, st) in enumerate(query_peaks(x, profile)):
        pr = pair_peaks(p, profile, st, fan_out=profile.query_fan_out, slack=slack)
        pts.append(p)
        sts.append(st)
        prs.append(pr + base)
        shifts.append(np.full(pr.shape[0], k, dtype=np.int64))
        base += p.shape[0]
    return np.concatenate(pts), np.concatenate(sts), np.concatenate(prs), np.concatenate(shifts)


def peak_landmarks(
    points: np.ndarray, strength: np.ndarray, profile: Profile
) -> tuple[np.ndarray, np.ndarray]:
    """A song's landmarks from its peaks: ``(hashes uint32, anchor frames uint32)``.

    ``points``/``strength`` as from :func:`pick_peaks` (time order). The one place where a
    stored song's peaks become postings (:func:`fingerprint`; the scale benchmark builds its
    synthetic songs with it).
    """
    pairs = pair_peaks(points, profile, strength)
    h, t = landmark_hashes(points, pairs, profile)
    return h, np.rint(t).astype(np.uint32)


def fingerprint(x: np.ndarray, profile: Profile) -> tuple[np.ndarray, np.ndarray]:
    """The landmarks of a whole song: ``(hashes uint32, anchor frames uint32)``, time order.

    ``x`` is mono at ``profile.sr``. This is what the store keeps for each song.
    """
    return peak_landmarks(*analyse(x, profile), profile)
