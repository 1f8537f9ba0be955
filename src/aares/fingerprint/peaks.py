"""Spectrogram peaks ("constellation points"): the course's exact picker and a fast general one.

Two pickers share this module:

- :func:`course_maxima` reproduces the course helper ``get_maxima`` exactly, quirk included
  (see its docstring), with ``shifted=False`` for the corrected variant;
- :func:`find_peaks` is the general picker for the engine: a local maximum over a rectangular
  neighbourhood, above a threshold, with an optional cap on the number of peaks per time
  window (peak density control).

Both return an ``int64`` array of shape ``(K, 2)`` whose rows are ``(frequency bin, frame)``.
Nothing loops over peaks in Python: candidates come from a running-maximum filter (numba,
equal to ``scipy.ndimage.maximum_filter``), the greedy suppression runs in numba over an
occupancy grid.

Example
-------
>>> import numpy as np
>>> S = np.zeros((30, 30), dtype=np.float32)
>>> S[5, 5], S[20, 22] = 1.0, 2.0
>>> find_peaks(S, size=(3, 3), threshold=0.5)
array([[ 5,  5],
       [20, 22]])
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["course_maxima", "find_peaks", "local_maxima_mask", "maximum_filter", "suppress_close"]


def local_maxima_mask(S: np.ndarray, size: tuple[int, int] = (3, 3)) -> np.ndarray:
    """Cells ``>=`` every other cell of their ``size`` neighbourhood (``-inf`` outside ``S``).

    With ``size=(3, 3)`` this is the course's test: a cell is kept when it is ``>=`` its
    8 neighbours in the array padded with one cell of ``-inf`` (borders included). Plateaus
    keep every cell of the plateau, as the course's ``>=`` does.
    """
    S = np.asarray(S)
    if S.ndim != 2:
        raise ValueError(f"expected a 2-D spectrogram (bins, frames), got shape {S.shape}")
    return S >= maximum_filter(S, size)


def maximum_filter(S: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The maximum over each cell's ``size`` neighbourhood, ``-inf`` outside ``S``.

    The same array as ``scipy.ndimage.maximum_filter(S, size, mode="constant",
    cval=-inf)`` (origin 0), 3x faster: two running-maximum passes (van Herk / Gil-Werman,
    three comparisons per cell whatever the size), each along contiguous memory.
    """
    S = np.asarray(S)
    if S.dtype not in (np.float32, np.float64):
        S = S.astype(np.float64)
    if S.size == 0:
        return S.copy()
    n_f, n_t = int(size[0]), int(size[1])
    if n_f < 1 or n_t < 1:
        raise ValueError(f"neighbourhood size must be positive, got {size}")
    along_time = _running_max_rows(np.ascontiguousarray(S), n_t)
    along_freq = _running_max_rows(np.ascontiguousarray(along_time.T), n_f)
    return along_freq.T


@numba.njit(cache=True)
def _running_max_rows(A, w):  # pragma: no cover (numba)
    # out[i, j] = max(A[i, j - w//2 : j - w//2 + w]) with -inf outside, for every row i.
    # Van Herk / Gil-Werman: split the padded row into blocks of w; prefix maxima g and
    # suffix maxima h of each block give any window's maximum as max(h[j], g[j + w - 1]).
    n0, n1 = A.shape
    half = w // 2
    n_blocks = (n1 + 2 * w - 2) // w
    length = n_blocks * w
    out = np.empty_like(A)
    p = np.full(length, -np.inf, dtype=A.dtype)
    g = np.empty(length, dtype=A.dtype)
    h = np.empty(length, dtype=A.dtype)
    for i in range(n0):
        p[half : half + n1] = A[i]
        for s in range(0, length, w):
            m = p[s]
            g[s] = m
            for j in range(s + 1, s + w):
                if p[j] > m:
                    m = p[j]
                g[j] = m
            m = p[s + w - 1]
            h[s + w - 1] = m
            for j in range(s + w - 2, s - 1, -1):
                if p[j] > m:
                    m = p[j]
                h[j] = m
        for j in range(n1):
            a = h[j]
            b = g[j + w - 1]
            out[i, j] = a if a > b else b
    return out


@numba.njit(cache=True)
def _suppress(rows, cols, order, shape0, shape1, offs_r, offs_c):  # pragma: no cover (numba)
    # Greedy non-maximum suppression: visit candidates in ``order``; a candidate is kept
    # unless a kept one lies within the disk given by the offsets (distance > 0 and < radius).
    # The grid of kept points makes each test O(disk area) instead of O(K).
    grid = np.zeros((shape0, shape1), dtype=np.bool_)
    keep = np.zeros(rows.size, dtype=np.bool_)
    for i in order:
        r = rows[i]
        c = cols[i]
        ok = True
        for k in range(offs_r.size):
            rr = r + offs_r[k]
            cc = c + offs_c[k]
            if 0 <= rr < shape0 and 0 <= cc < shape1 and grid[rr, cc]:
                ok = False
                break
        if ok:
            keep[i] = True
            grid[r, c] = True
    return keep


def _disk_offsets(radius: float) -> tuple[np.ndarray, np.ndarray]:
    # integer offsets (dr, dc) with 0 < dr^2 + dc^2 < radius^2
    R = int(np.ceil(radius))
    dr, dc = np.mgrid[-R : R + 1, -R : R + 1]
    d2 = dr**2 + dc**2
    inside = (d2 > 0) & (d2 < radius * radius)
    return dr[inside].astype(np.int64), dc[inside].astype(np.int64)


def suppress_close(
    points: np.ndarray, values: np.ndarray, shape: tuple[int, int], radius: float = 10.0
) -> np.ndarray:
    """Greedy suppression: a boolean mask of the points kept.

    Points are visited from the highest value to the lowest (ties in the order they are
    given: the sort is stable); a point is dropped when a point already kept lies at a
    Euclidean distance ``> 0`` and ``< radius`` from it. Points must be distinct cells of a
    grid of ``shape``.
    """
    points = np.asarray(points, dtype=np.int64).reshape(-1, 2)
    if points.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    order = np.argsort(-np.asarray(values, dtype=np.float64), kind="stable")
    offs_r, offs_c = _disk_offsets(radius)
    return _suppress(
        np.ascontiguousarray(points[:, 0]),
        np.ascontiguousarray(points[:, 1]),
        order.astype(np.int64),
        int(shape[0]),
        int(shape[1]),
        offs_r,
        offs_c,
    )


def course_maxima(
    S: np.ndarray, quantile: float = 0.9, radius: float = 10.0, shifted: bool = True
) -> np.ndarray:
    """The course helper ``get_maxima``, exactly: local maxima, threshold, greedy suppression.

    1. Pad ``S`` with one cell of ``-inf`` on each side; a cell ``(f, t)`` of ``S`` is a
       candidate when it is ``>=`` all 8 neighbours in the padded array (borders included).
    2. ``threshold = np.quantile(padded, quantile)``, the ``-inf`` border cells included.
       A candidate is kept when ``padded[f, t] > threshold``. **The quirk**: the helper reads
       the padded array at unpadded coordinates, so the value tested is ``S[f-1, t-1]``, the
       diagonal neighbour, and ``-inf`` (never kept) on the first bin and the first frame.
       ``shifted=False`` tests ``S[f, t]`` instead (the evident intent).
    3. Visiting the kept candidates from the highest tested value to the lowest (ties in
       row-major order), drop every later candidate at a Euclidean distance ``> 0`` and
       ``< radius`` of a candidate still kept. The sort key is the same (shifted) value.

    Parameters
    ----------
    S : ndarray, shape (bins, frames)
        A (power) spectrogram.
    quantile : float
        Threshold quantile (0.9 in the course).
    radius : float
        Suppression radius in cells (10 in the course); strict ``<``.
    shifted : bool
        Reproduce the course's shifted-value quirk (default, so that students get the same
        peaks); ``False`` gives the corrected picker.

    Returns
    -------
    maxima : ndarray of int64, shape (K, 2)
        Rows ``(frequency bin, frame)``, sorted by bin then frame.

    Examples
    --------
    >>> S = np.zeros((12, 12))
    >>> S[3, 3] = 5.0          # a clear peak ...
    >>> S[2, 2] = 1.0          # ... passes the threshold only through its diagonal neighbour
    >>> course_maxima(S).tolist(), course_maxima(S, shifted=False).tolist()
    ([[3, 3]], [[3, 3]])
    >>> S[2, 2] = 0.0          # now the value tested for (3, 3) is 0, not above the threshold
    >>> course_maxima(S).tolist(), course_maxima(S, shifted=False).tolist()
    ([], [[3, 3]])
    """
    S = np.asarray(S)
    if S.ndim != 2:
        raise ValueError(f"expected a 2-D spectrogram (bins, frames), got shape {S.shape}")
    padded = np.pad(S, 1, mode="constant", constant_values=-np.inf)
    threshold = np.quantile(padded, quantile)
    cand = local_maxima_mask(S, (3, 3))
    if shifted:
        tested = padded[: S.shape[0], : S.shape[1]]  # padded[f, t] == S[f-1, t-1]
    else:
        tested = S
    cand &= tested > threshold
    points = np.argwhere(cand)  # row-major: by bin, then frame
    if points.shape[0] == 0:
        return np.zeros((0, 2), dtype=np.int64)
    values = tested[points[:, 0], points[:, 1]]
    keep = suppress_close(points, values, S.shape, radius)
    return points[keep].astype(np.int64)


def find_peaks(
    S: np.ndarray,
    size: tuple[int, int] = (21, 11),
    threshold: float | None = None,
    quantile: float | None = None,
    max_per_window: int | None = None,
    window: int = 32,
) -> np.ndarray:
    """Local maxima of ``S`` over a ``size`` neighbourhood (bins, frames), fast and unshifted.

    A cell is a peak when it equals the maximum of its ``size`` neighbourhood (cells outside
    ``S`` count as ``-inf``), is above ``threshold`` (absolute) and above the ``quantile`` of
    ``S`` (when given). On plateaus of equal values, a peak suppresses the later ones (in time
    order) inside its neighbourhood, so that flat regions do not yield a peak per cell. With
    ``max_per_window``, only the ``max_per_window`` strongest peaks of each block of
    ``window`` frames are kept, which bounds the peak density (and the index size) in loud
    passages.

    Parameters
    ----------
    S : ndarray, shape (bins, frames)
        A spectrogram (power, magnitude or dB: only the order of values matters, and the
        threshold is in the same unit).
    size : (int, int)
        Neighbourhood in bins and frames.
    threshold : float or None
        Absolute floor; peaks must be ``> threshold``.
    quantile : float or None
        Peaks must also be ``>`` this quantile of ``S``.
    max_per_window : int or None
        Density cap per block of ``window`` frames.
    window : int
        Block length in frames for ``max_per_window``.

    Returns
    -------
    peaks : ndarray of int64, shape (K, 2)
        Rows ``(frequency bin, frame)``, sorted by frame then bin (time order).

    Examples
    --------
    >>> S = np.zeros((40, 40)); S[10, 5] = 3; S[30, 5] = 2; S[12, 7] = 1
    >>> find_peaks(S, size=(5, 5), threshold=0).tolist()
    [[10, 5], [30, 5]]
    """
    S = np.asarray(S)
    if S.ndim != 2:
        raise ValueError(f"expected a 2-D spectrogram (bins, frames), got shape {S.shape}")
    if S.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    floors = [] if threshold is None else [threshold]  # a peak is above each floor
    if quantile is not None:
        floors.append(np.quantile(S, quantile))
    if S.dtype in (np.float32, np.float64) and min(size) >= 1 and np.isfinite(S).all():
        # local_maxima_mask and argwhere in one numba pass, without bins x frames masks (a
        # third of the analysis' time); cells at or below a floor are skipped there with a
        # bound a little under it, and the floors are applied exactly (numpy's comparison)
        # to the few maxima that come out
        low = max([np.nextafter(min(float(t), float(np.float32(t))), -np.inf) for t in floors],
                  default=-np.inf)  # fmt: skip
        peaks = _maxima_in_time_order(np.ascontiguousarray(S), int(size[0]), int(size[1]), low)
        if floors and peaks.shape[0]:
            values = S[peaks[:, 0], peaks[:, 1]]
            peaks = peaks[np.logical_and.reduce([values > t for t in floors])]
    else:
        mask = local_maxima_mask(S, size)
        for t in floors:
            mask &= S > t
        # time order: argwhere on the transpose gives (frame, bin) sorted by frame then bin
        peaks = np.argwhere(mask.T)[:, ::-1].astype(np.int64)
    if peaks.shape[0] == 0:
        return np.zeros((0, 2), dtype=np.int64)
    peaks = _drop_plateau_duplicates(peaks, size)
    if max_per_window is not None and peaks.shape[0]:
        values = S[peaks[:, 0], peaks[:, 1]]
        block = peaks[:, 1] // int(window)
        # rank within each block by value (descending), keep the first max_per_window
        order = np.lexsort((-values, block))
        starts = np.searchsorted(block[order], block[order], side="left")
        rank = np.arange(order.size) - starts
        keep = np.zeros(peaks.shape[0], dtype=bool)
        keep[order[rank < max_per_window]] = True
        peaks = peaks[keep]
    return peaks


@numba.njit(cache=True)
def _maxima_in_time_order(S, n_f, n_t, low):  # pragma: no cover (numba)
    # (bin, frame) of the cells >= every cell of their n_f x n_t neighbourhood and >= low,
    # sorted by frame then bin. Maxima are exact: the passes' order keeps the same cells.
    n_bins, n_frames = S.shape
    along_time = _running_max_rows(S, n_t)
    half = n_f // 2
    peak = np.zeros((n_frames, n_bins), dtype=np.bool_)  # by frame: read in time order
    m = np.empty(n_frames, dtype=S.dtype)
    count = 0
    for k in range(n_bins):
        lo, hi = max(k - half, 0), min(k - half + n_f, n_bins)
        m[:] = along_time[lo]
        for r in range(lo + 1, hi):
            row = along_time[r]
            for j in range(n_frames):
                if row[j] > m[j]:
                    m[j] = row[j]
        for j in range(n_frames):
            v = S[k, j]
            if v >= m[j] and v >= low:
                peak[j, k] = True
                count += 1
    out = np.empty((count, 2), dtype=np.int64)
    i = 0
    for j in range(n_frames):
        for k in range(n_bins):
            if peak[j, k]:
                out[i, 0] = k
                out[i, 1] = j
                i += 1
    return out


def _drop_plateau_duplicates(peaks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    # Equal neighbouring maxima (plateaus): keep one per neighbourhood, greedily in the
    # given order, using the same occupancy-grid suppression with a rectangular footprint.
    if peaks.shape[0] < 2:
        return peaks
    hf, ht = size[0] // 2, size[1] // 2
    # quick exit: no two peaks share a neighbourhood (the common case)
    key = peaks[:, 1] * (1 << 20) + peaks[:, 0]
    close = np.diff(np.sort(key)) <= (ht << 20) + hf
    if not close.any():
        return peaks
    dr, dc = np.mgrid[-hf : hf + 1, -ht : ht + 1]
    nz = (dr != 0) | (dc != 0)
    shape = (int(peaks[:, 0].max()) + 1, int(peaks[:, 1].max()) + 1)
    keep = _suppress(
        np.ascontiguousarray(peaks[:, 0]),
        np.ascontiguousarray(peaks[:, 1]),
        np.arange(peaks.shape[0], dtype=np.int64),
        shape[0],
        shape[1],
        dr[nz].astype(np.int64),
        dc[nz].astype(np.int64),
    )
    return peaks[keep]
