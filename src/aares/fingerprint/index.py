"""The query index: postings sorted by hash, with the song id and anchor frame of each.

The matcher (:mod:`aares.fingerprint.match`) asks an index only for ``ranges(qh)``,
``lookup(qh, stop_list=, with_postings=)``, ``frames_of(songs)``, ``total_frames``,
``max_postings``, ``song_ids``, ``len()`` and ``nbytes``; keys are ``uint32`` hashes.

Example
-------
>>> import numpy as np
>>> idx = Index.from_arrays([np.array([1, 2, 3], np.uint32)], [np.array([10, 11, 12])], [7])
>>> songs, frames = idx.lookup(np.array([2, 9], np.uint32))[1:]
>>> songs.tolist(), frames.tolist()
([7], [11])
"""

from __future__ import annotations

import numba
import numpy as np

from aares.fingerprint.store import Store

__all__ = ["Index"]


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
        # Hash spaces up to 2^24 get a direct table of where each hash's postings start
        # (64 MB at most): a lookup is then two reads instead of a binary search, which
        # misses the cache at every step once the catalog is large.
        self.starts = None
        top = int(self.hashes[-1]) + 1 if self.hashes.size else 0
        if top <= self.DIRECT_MAX:
            self.starts = np.searchsorted(self.hashes, np.arange(top + 1, dtype=np.uint32))
            self.starts = self.starts.astype(np.int64)
        # each song's length in frames (its last anchor), for the chance level of a vote
        self.song_ids, inverse = np.unique(self.songs, return_inverse=True)
        self.song_frames = np.zeros(self.song_ids.size, dtype=np.int64)
        np.maximum.at(self.song_frames, inverse, self.frames.astype(np.int64))
        self.song_frames += 1
        self.total_frames = int(self.song_frames.sum())
        # Stop list for the speed search: a hash with far more postings than the typical one
        # (a steady tone, a drum pattern repeated all over the catalog) says little about
        # which song it is and costs most of a vote over 13 speeds, so the grid skips it (as
        # audfprint caps its buckets). The exact-speed vote keeps every bucket: noisy
        # excerpts owe many of their votes to such robust, common hashes.
        n_distinct = int(np.count_nonzero(np.diff(self.hashes))) + 1 if self.hashes.size else 1
        self.max_postings = max(64, int(8 * self.hashes.size / n_distinct))

    def frames_of(self, songs: np.ndarray) -> np.ndarray:
        """Length in frames of each of ``songs`` (ids)."""
        return self.song_frames[np.searchsorted(self.song_ids, songs)]

    DIRECT_MAX = 1 << 24

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
        table = self.starts.nbytes if self.starts is not None else 0
        return int(self.hashes.nbytes + self.songs.nbytes + self.frames.nbytes + table)

    def ranges(self, qh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(lo, hi)``: where each query hash's postings start and end in the index."""
        qh = np.asarray(qh, dtype=np.uint32)
        if self.starts is not None:
            q = np.minimum(qh.astype(np.int64), self.starts.size - 1)
            return self.starts[q], self.starts[np.minimum(q + 1, self.starts.size - 1)]
        lo = np.searchsorted(self.hashes, qh, side="left")
        return lo, np.searchsorted(self.hashes, qh, side="right")

    def lookup(
        self, qh: np.ndarray, stop_list: bool = False, with_postings: bool = False
    ) -> tuple[np.ndarray, ...]:
        """Every posting of every query hash: ``(query index, song, frame)`` arrays.

        ``stop_list=True`` skips hashes with more than ``max_postings`` postings;
        ``with_postings=True`` adds a fourth array, the position of each posting in the
        index (which identifies it).
        """
        lo, hi = self.ranges(qh)
        cap = self.max_postings if stop_list else np.iinfo(np.int64).max
        out = _gather(lo, hi, self.songs, self.frames, cap)
        return out if with_postings else out[:3]


@numba.njit(cache=True)
def _gather(lo, hi, songs, frames, cap):  # pragma: no cover (numba)
    n = 0
    for i in range(lo.size):
        if hi[i] - lo[i] <= cap:
            n += hi[i] - lo[i]
    qi = np.empty(n, dtype=np.int64)
    so = np.empty(n, dtype=np.int64)
    fr = np.empty(n, dtype=np.int64)
    po = np.empty(n, dtype=np.int64)
    k = 0
    for i in range(lo.size):
        if hi[i] - lo[i] > cap:
            continue
        for p in range(lo[i], hi[i]):
            qi[k] = i
            so[k] = songs[p]
            fr[k] = frames[p]
            po[k] = p
            k += 1
    return qi, so, fr, po
