"""The query index: postings sorted by hash, with the song id and anchor frame of each.

The matcher (:mod:`aares.fingerprint.match`) asks an index only for ``ranges(qh)``,
``lookup(qh, stop_list=, with_postings=, cap=)``, ``frames_of(songs)``, ``total_frames``,
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

import contextlib
import fcntl
import functools
import hashlib
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numba
import numpy as np

from aares.fingerprint.segment import (
    VERSION,
    Segment,
    SegmentError,
    checksum_digest,
    large_pages_fit,
    machine_memory_bytes,
    merge_segments,
    unscramble,
    write_segment,
)
from aares.fingerprint.store import Store
from aares.io import fsync_dir

__all__ = [
    "Index",
    "DiskIndex",
    "open_index",
    "compact",
    "index_folder_for",
    "index_key_bits",
    "IndexFolderError",
]


class Index:
    """In-memory inverted index: postings sorted by hash, with song id and anchor frame.

    Built once from a store (:meth:`from_store`); a query then costs one binary search per
    landmark plus the hits, whatever the number of songs.
    """

    def __init__(
        self, hashes: np.ndarray, songs: np.ndarray, frames: np.ndarray, direct: bool = True
    ) -> None:
        order = np.argsort(hashes, kind="stable")
        self.hashes = np.ascontiguousarray(hashes[order], dtype=np.uint32)
        self.songs = np.ascontiguousarray(songs[order], dtype=np.int32)
        self.frames = np.ascontiguousarray(frames[order], dtype=np.int32)
        # Hash spaces up to 2^24 get a direct table of where each hash's postings start
        # (64 MB at most): a lookup is then two reads instead of a binary search, which
        # misses the cache at every step once the catalog is large.
        self.starts = None
        top = int(self.hashes[-1]) + 1 if self.hashes.size else 0
        if direct and top <= self.DIRECT_MAX:  # (a small index built per query: no table)
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
    def from_arrays(cls, hashes_list, frames_list, song_ids, direct: bool = True) -> Index:
        """Index from per-song arrays of hashes and frames."""
        if len(hashes_list) == 0:
            z = np.zeros(0, dtype=np.uint32)
            return cls(z, z.astype(np.int32), z.astype(np.int32), direct)
        hashes = np.concatenate([np.asarray(h, dtype=np.uint32) for h in hashes_list])
        frames = np.concatenate([np.asarray(f, dtype=np.int64) for f in frames_list])
        songs = np.repeat(
            np.asarray(song_ids, dtype=np.int32), [len(h) for h in hashes_list]
        ).astype(np.int32)
        return cls(hashes, songs, frames.astype(np.int32), direct)

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
        self,
        qh: np.ndarray,
        stop_list: bool = False,
        with_postings: bool = False,
        cap: int | None = None,
    ) -> tuple[np.ndarray, ...]:
        """Every posting of every query hash: ``(query index, song, frame)`` arrays.

        ``stop_list=True`` skips hashes with more than ``cap`` postings (``max_postings``
        when None); ``with_postings=True`` adds a fourth array, the position of each posting
        in the index (which identifies it).
        """
        lo, hi = self.ranges(qh)
        cap = (self.max_postings if cap is None else cap) if stop_list else np.iinfo(np.int64).max
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


# -- on disk --------------------------------------------------------------------------------


#: bytes of mapped index pages a serving process keeps between lookups
#: (``AARES_INDEX_RESIDENT_MB``; 0: no bound): each segment keeps its share, and lookups let
#: go of the pages they walk through past it (:meth:`aares.fingerprint.segment.Segment.keep`);
#: the pages stay in the page cache, so the next lookups map them again without reading the
#: disk (BENCHMARKS.md, "Serving a 1,000 h catalog")
RESIDENT_BUDGET = int(float(os.environ.get("AARES_INDEX_RESIDENT_MB", "512")) * (1 << 20))


class DiskIndex:
    """The same index read in place from immutable segment files (:mod:`.segment`).

    ``dead[i]`` are the song ids of ``segments[i]`` removed from the store since the
    segment was written: their postings are skipped at query time until a merge drops them.
    ``resident_budget`` (bytes; 0: none) bounds the mapped pages a process keeps between
    lookups, split over the segments by size (:meth:`Segment.keep`); a lookup maps at most
    ``segment.WINDOW`` more of each at a time.
    Answers exactly as an :class:`Index` built from the same songs (``n_distinct``, the
    number of distinct hashes, sets the stop list as there; it is exact as long as no song
    was removed since the last full merge and no segment of over ``UNION_EXACT_MAX``
    distinct hashes was added since: then an upper bound, see :func:`_union_distinct`).
    """

    def __init__(
        self,
        segments: list,
        dead: list[set[int]] | None = None,
        n_distinct=None,
        resident_budget: int | None = None,
    ):
        self.segments = list(segments)
        # large pages when the whole index fits them (each segment alone decided at opening)
        large = large_pages_fit(sum(s.nbytes for s in self.segments))
        for s in self.segments:
            if s.large_pages != large:
                s.advise(large)
        self._released = 0
        self.resident_budget = RESIDENT_BUDGET if resident_budget is None else resident_budget
        self.dead = [set(d) for d in (dead or [set() for _ in self.segments])]
        self.alive = [
            ~np.isin(s.songs.ids, np.fromiter(d, dtype=np.int64, count=len(d)))
            for s, d in zip(self.segments, self.dead, strict=True)
        ]
        ids = [s.songs.ids[a] for s, a in zip(self.segments, self.alive, strict=True)]
        frames = [s.songs.lengths[a] for s, a in zip(self.segments, self.alive, strict=True)]
        counts = [s.songs.counts[a] for s, a in zip(self.segments, self.alive, strict=True)]
        ids = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        order = np.argsort(ids, kind="stable")
        self.song_ids = ids[order]
        self.song_frames = (np.concatenate(frames) if frames else ids)[order].astype(np.int64)
        self.total_frames = int(self.song_frames.sum())
        self._n = int(sum(int(c.sum()) for c in counts))
        if n_distinct is None:
            n_distinct = sum(s.n_distinct for s in self.segments)
        self.n_distinct = max(int(n_distinct), 1)
        self.max_postings = max(64, int(8 * self._n / self.n_distinct))

    def __len__(self) -> int:
        return self._n

    @property
    def stored_max(self) -> int:
        """Postings a key may have in every segment before it is stored as a stop posting
        (the smallest of the segments'; 0: some segment stores every posting)."""
        return min((s.stored_max for s in self.segments), default=0)

    @property
    def resident_budget(self) -> int:
        return self._budget

    @resident_budget.setter
    def resident_budget(self, nbytes: int) -> None:
        # (a budget set on an open index holds from the next lookup)
        self._budget = int(nbytes)
        total = max(sum(s.nbytes for s in self.segments), 1)
        for s in self.segments:
            s.keep(self._budget * s.nbytes // total if self._budget else None)

    @property
    def releases(self) -> int:
        """How many times pages were let go (windows of lookups, :meth:`release` calls)."""
        return self._released + sum(s.releases for s in self.segments)

    @property
    def nbytes(self) -> int:
        """Bytes of the segment files (the page cache holds what queries touch)."""
        return int(sum(s.nbytes for s in self.segments))

    def frames_of(self, songs: np.ndarray) -> np.ndarray:
        """Length in frames of each of ``songs`` (ids)."""
        return self.song_frames[np.searchsorted(self.song_ids, songs)]

    def _postings(self, qh: np.ndarray, skip: np.ndarray | None = None):
        qs, ss, fs, ps = [], [], [], []
        for k, (seg, alive) in enumerate(zip(self.segments, self.alive, strict=True)):
            qi, row, frame, pos = seg.lookup(qh, skip)
            if not alive.all():
                keep = alive[row]
                qi, row, frame, pos = qi[keep], row[keep], frame[keep], pos[keep]
            qs.append(qi)
            ss.append(seg.songs.ids[row])
            fs.append(frame)
            ps.append(pos + (k << 44))
        if not qs:
            e = np.zeros(0, np.int64)
            return e, e, e, e
        if len(qs) == 1:
            return qs[0], ss[0], fs[0], ps[0]
        return np.concatenate(qs), np.concatenate(ss), np.concatenate(fs), np.concatenate(ps)

    def stats(self) -> dict:
        """Postings, distinct hashes, bytes, segments and bucket occupancy (postings per
        distinct hash: mean, median, 99th percentile, largest, and the mean size of the
        bucket a posting sits in, which is what a query's lookup meets on average; a hash
        held by several segments counts once per segment until they are merged), the
        index's bytes in the page cache before the histogram reads them (None where the
        system cannot tell) and the machine's memory."""
        # (before the histogram, which reads every block)
        cached = [s.cached_bytes() for s in self.segments]
        hist = np.zeros(1, dtype=np.int64)
        for s in self.segments:
            h = s.bucket_histogram()
            hist = np.pad(hist, (0, max(0, h.size - hist.size)))
            hist[: h.size] += h
        occupancy = {}
        if hist[1:].sum():
            k = np.arange(hist.size, dtype=float)
            n, cum = hist.sum(), np.cumsum(hist)
            occupancy = {
                "mean": float((k * hist).sum() / n),
                "median": float(np.searchsorted(cum, 0.5 * n)),
                "p99": float(np.searchsorted(cum, 0.99 * n)),
                "max": int(np.flatnonzero(hist)[-1]),
                "seen_by_a_posting": float((k * k * hist).sum() / (k * hist).sum()),
            }
        return {
            "postings": len(self),
            "distinct_hashes": self.n_distinct,
            "bytes": self.nbytes,
            "segments": len(self.segments),
            "dead_songs": int(sum(len(d) for d in self.dead)),
            # (segments of format 1 have no key filters: `aares fp compact` rewrites them)
            "segment_versions": sorted({s.version for s in self.segments}),
            "key_filter_bytes": int(
                sum(s.present.nbytes + s.selective.nbytes for s in self.segments)
            ),
            "selective_filter_bytes": int(sum(s.selective.nbytes for s in self.segments)),
            # keys of more postings are stored as one stop posting (0: all are stored);
            # the occupancy counts them at stored_max + 1
            "stored_max": self.stored_max,
            "bucket_occupancy": occupancy,
            # (None where the system cannot tell)
            "page_cache_bytes": None if None in cached else int(sum(cached)),
            "memory_bytes": machine_memory_bytes() or None,
        }

    def counts(self, qh: np.ndarray) -> np.ndarray:
        """Live postings of each query hash (read from block headers where they say it)."""
        qh = np.asarray(qh, dtype=np.uint32)
        total = np.zeros(qh.size, dtype=np.int64)
        for seg, alive in zip(self.segments, self.alive, strict=True):
            if alive.all():
                total += seg.counts(qh)
            else:  # dead songs' postings must not count: decode
                qi, row = seg.lookup(qh)[:2]
                total += np.bincount(qi[alive[row]], minlength=qh.size)
        return total

    def ranges(self, qh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(lo, hi)`` with ``hi - lo`` the number of postings of each query hash."""
        counts = self.counts(qh)
        hi = np.cumsum(counts)
        return hi - counts, hi

    def lookup(
        self,
        qh: np.ndarray,
        stop_list: bool = False,
        with_postings: bool = False,
        cap: int | None = None,
    ) -> tuple[np.ndarray, ...]:
        """Every posting of every query hash: ``(query index, song, frame)`` (as
        :meth:`Index.lookup`, but in the files' order rather than the query's: the matcher
        sorts the hits anyway; the fourth array of ``with_postings`` identifies a posting
        by segment and place)."""
        qh = np.asarray(qh, dtype=np.uint32)
        cap = self.max_postings if cap is None else int(cap)
        if stop_list and all(alive.all() for alive in self.alive):
            # one pass a segment: a bucket over the cap is dropped as it is read (or skipped
            # from its block's header); with several segments, a hash over the cap in one or
            # in their sum is then dropped from all
            out = self._capped(qh, cap, with_postings)
        else:
            # buckets counted over every segment first, overfull ones skipped
            skip = self.counts(qh) > cap if stop_list else None
            out = self._postings(qh, skip)
        return out if with_postings else out[:3]

    def _capped(self, qh: np.ndarray, cap: int, with_pos: bool) -> tuple[np.ndarray, ...]:
        # (a key over the cap in one segment is dropped from all: marked. One segment needs
        # no mark, and its lookup may then skip the keys outside its selective filter)
        over = np.zeros(qh.size, dtype=np.bool_) if len(self.segments) > 1 else None
        parts = []
        for k, seg in enumerate(self.segments):
            qi, row, frame, pos = seg.lookup(qh, cap=cap, with_pos=with_pos, over=over)
            parts.append((qi, seg.songs.ids[row], frame, pos + (k << 44) if with_pos else pos))
        if len(parts) == 1:
            return parts[0]
        if not parts:
            e = np.zeros(0, np.int64)
            return e, e, e, e
        qi = np.concatenate([p[0] for p in parts])
        drop = over | (np.bincount(qi, minlength=qh.size) > cap)
        keep = ~drop[qi]
        out = [np.concatenate([p[j] for p in parts])[keep] for j in range(3)]
        pos = np.concatenate([p[3] for p in parts])
        return (*out, pos[keep] if with_pos else pos)

    def release(self) -> None:
        """Unmap the pages lookups have read from every segment (they stay in the page
        cache; the arrays returned by lookups are copies and stay valid)."""
        for seg in self.segments:
            seg.release()
        self._released += 1


# -- the folder a catalog keeps its index in ---------------------------------------------------

MANIFEST = "manifest.json"
FOLDER_FORMAT = 1
#: a progress callback ``(what, done, total)`` of the long index work (``total`` None: unknown)
OnProgress = Callable[[str, int, int | None], None]
#: merge the newest segments while the one before is under this multiple of their size
MERGE_RATIO = 4
#: segments a writer merges in passing; bigger merges wait for :func:`compact`
MERGE_LIMIT = 16_000_000
#: postings of new songs written per segment when indexing (bounds the memory of a sync)
BATCH = 1 << 25


class IndexFolderError(ValueError):
    """An index folder that cannot be used (foreign or damaged manifest or segment)."""


def index_folder_for(store: Store) -> Path:
    """Where the index of ``store`` lives: ``<catalog>.index/`` beside a catalog file, else a
    per-catalog folder in the user's cache (``$XDG_CACHE_HOME/aares/index/<catalog id>``)."""
    path = getattr(store, "path", None)
    if path is not None:
        return Path(str(path) + ".index")
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    name = store.catalog_id()
    if not name:  # a backend without ids: its (password-free) location names the folder
        where = str(getattr(store, "location", type(store).__name__)).encode()
        name = hashlib.blake2b(where, digest_size=12).hexdigest()
    return base / "aares" / "index" / name


def _load_manifest(folder: Path) -> dict | None:
    # the manifest as written, whatever its version (None: there is none)
    path = folder / MANIFEST
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise IndexFolderError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        man = json.loads(text)
        ok = man.get("format") == "aares-fp-index" and isinstance(man.get("segments"), list)
    except (ValueError, AttributeError):
        ok = False
    if not ok:
        raise IndexFolderError(
            f"{path}: not an aares index manifest (delete the folder to rebuild)"
        )
    return man


def _read_manifest(folder: Path) -> dict | None:
    man = _load_manifest(folder)
    if man is not None and man.get("version") != FOLDER_FORMAT:
        raise IndexFolderError(
            f"{folder / MANIFEST}: index format {man.get('version')}, this aares reads "
            f"{FOLDER_FORMAT} (delete the folder to rebuild it from the catalog)"
        )
    return man


def index_key_bits(folder: str | os.PathLike) -> int | None:
    """The key width of the index in ``folder`` as its manifest says, whatever the folder's
    format version (an older aares's too); None when there is no index or its manifest
    cannot be read (opening the index then says why)."""
    try:
        man = _load_manifest(Path(folder))
    except IndexFolderError:
        return None
    bits = man.get("key_bits") if man is not None else None
    return bits if isinstance(bits, int) and bits > 0 else None


def _write_manifest(folder: Path, man: dict) -> None:
    tmp = folder / (MANIFEST + ".tmp")
    with open(tmp, "w") as fh:
        json.dump(man, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, folder / MANIFEST)
    fsync_dir(folder)


def _empty_manifest(catalog_id: str) -> dict:
    return {
        "format": "aares-fp-index",
        "version": FOLDER_FORMAT,
        "catalog": catalog_id,
        "generation": -1,
        "segments": [],  # [{"file", "dead": [song ids]}], oldest first
        "empty": [],  # [song id, checksum digest] of songs without postings
        "n_distinct": 0,
        "next": 1,
    }


def _open_segments(folder: Path, man: dict) -> list[Segment]:
    return [Segment(folder / s["file"]) for s in man["segments"]]


def _disk_index(folder: Path, man: dict) -> DiskIndex:
    segs = _open_segments(folder, man)
    dead = [set(s["dead"]) for s in man["segments"]]
    n_distinct = man["n_distinct"]
    if len(segs) == 1 and not dead[0]:
        n_distinct = segs[0].n_distinct
    return DiskIndex(segs, dead, _distinct_bound(n_distinct, segs))


def _distinct_bound(n_distinct: int, segs: list[Segment]) -> int:
    # the union of the segments' hashes holds no more than the sum of theirs: a bound that
    # a merge of some of them tightens (a 10,000 h index of 29 million distinct hashes,
    # compacted into 2 segments, had kept the sum of its build's segments' counts, 2.0
    # billion: the stop list's cap was at its floor of 64 instead of about 1,500)
    if not segs:
        return n_distinct
    return min(int(n_distinct), sum(s.n_distinct for s in segs))


class _Lock:
    # one writer at a time per index folder (readers never lock: they see whole manifests)
    def __init__(self, folder: Path) -> None:
        self.path = folder / "lock"

    def __enter__(self):
        self.fh = open(self.path, "a")
        fcntl.flock(self.fh, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


def open_index(
    store: Store,
    folder: str | os.PathLike | None = None,
    update: bool = True,
    key_bits: int | None = None,
    rebuild: bool = False,
    stored_max: int = 0,
    on_progress: OnProgress | None = None,
):
    """The query index of ``store``, read in place from its index folder.

    O(1) when the folder is in step with the store (same catalog, same generation);
    otherwise the songs added since are indexed into a new segment and removed ones marked
    dead (``update=True``), under a lock so that two processes do not both do it. A
    folder that cannot be written (read-only media) gives the in-memory :class:`Index`.
    ``key_bits`` is the width of the profile's hashes (an index of another width is
    rebuilt); ``rebuild=True`` rebuilds it from the store's postings whatever its state.
    ``stored_max > 0``: segments written from now on store a key of more postings as one
    stop posting (:func:`aares.fingerprint.segment.write_segment`; for an index that is
    only looked up with a stop list of at most that many postings). ``on_progress``: as
    for :func:`sync` (called only when songs are to be indexed).
    Raises :class:`IndexFolderError` or :class:`aares.fingerprint.segment.SegmentError`,
    naming the file, for a damaged index (the catalog then rebuilds it).
    """
    folder = Path(folder) if folder is not None else index_folder_for(store)
    gen = store.generation()
    cid = store.catalog_id()
    for attempt in (0, 1):
        if rebuild:
            break
        man = _read_manifest(folder) if folder.is_dir() else None
        if not _in_step(man, gen, cid, key_bits):
            break
        try:
            index = _disk_index(folder, man)
            _tidy(folder, man)
            return index
        except SegmentError:
            if attempt:  # not a writer replacing a segment meanwhile: damaged
                raise
    if not update:
        raise IndexFolderError(f"{folder}: index lags the catalog (open with update=True)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = _Lock(folder)
        lock.__enter__()
    except OSError:
        return Index.from_store(store)  # read-only media: rebuild in memory as before
    try:
        return sync(
            store, folder, key_bits, rebuild=rebuild, stored_max=stored_max,
            on_progress=on_progress,
        )  # fmt: skip
    finally:
        lock.__exit__()


def _in_step(man: dict | None, gen: int, cid: str, key_bits: int | None) -> bool:
    return (
        man is not None
        and man["generation"] == gen
        and man.get("catalog") == cid
        and (key_bits is None or man.get("key_bits") == key_bits)
    )


def sync(
    store: Store,
    folder: Path,
    key_bits: int | None = None,
    rebuild: bool = False,
    stored_max: int = 0,
    on_progress: OnProgress | None = None,
) -> DiskIndex:
    """Bring the index folder in step with ``store`` (call under the folder's lock);
    ``rebuild=True`` starts again from the store's postings (a damaged index); new
    segments stop keys of over ``stored_max`` postings (see :func:`open_index`).
    ``on_progress("indexing songs", done, total)`` follows the songs being indexed, then
    ``("writing the index", 0, None)`` the write of the last segment."""
    cid = store.catalog_id()
    try:
        man = None if rebuild else _read_manifest(folder)
    except IndexFolderError:
        man = None  # a damaged manifest: the index is derived, rebuild it
    if (
        man is None
        or man.get("catalog") != cid
        or (key_bits is not None and man.get("key_bits") != key_bits)
    ):
        man = _empty_manifest(cid)
        man["key_bits"] = key_bits
    _remove_orphans(folder, man)
    man["stored_max"] = int(stored_max)  # (for the segments written from now on)
    gen = store.generation()  # read before the ids: a change after this is seen next time
    if man["generation"] == gen:
        return _disk_index(folder, man)
    live = np.asarray(store.song_ids(), dtype=np.int64)
    try:
        segs = _open_segments(folder, man)
    except SegmentError:  # a damaged segment: rebuild from the store
        man = _empty_manifest(cid)
        man["key_bits"] = key_bits
        man["stored_max"] = int(stored_max)
        segs = []
    held: dict[int, tuple[int, int]] = {}  # song id -> (segment, checksum digest)
    for k, (seg, entry) in enumerate(zip(segs, man["segments"], strict=True)):
        dead = set(entry["dead"])
        for sid, digest in zip(seg.songs.ids.tolist(), seg.songs.sums.tolist(), strict=True):
            if sid not in dead:
                held[sid] = (k, digest)
    empty = {int(i): int(d) for i, d in man["empty"]}  # song id -> checksum digest
    live_set = set(live.tolist())
    # a song id the store gave again after removing its song (SQLite reuses the largest id)
    # is a new song: from the largest id down, the first whose checksum digest matches the
    # one indexed ends the check (an id can only be reused once every larger one is gone)
    for sid in sorted(live_set & (set(held) | set(empty)), reverse=True):
        info = store.song(sid)
        if info is None:
            continue
        digest = checksum_digest(info.checksum)
        known = held[sid][1] if sid in held else empty[sid]
        if known == digest:
            break
        if sid in held:
            man["segments"][held.pop(sid)[0]]["dead"].append(sid)
        empty.pop(sid, None)
    for sid in set(held) - live_set:
        man["segments"][held.pop(sid)[0]]["dead"].append(sid)
    empty = {i: d for i, d in empty.items() if i in live_set}
    new = sorted(live_set - set(held) - set(empty))
    # a segment whose songs were all removed (a song added, then taken out again) holds
    # nothing: it leaves the manifest now instead of waiting for a merge, and its file goes
    # with the orphans (a lone remaining segment then gives the exact distinct count again)
    full = [
        k
        for k, (seg, e) in enumerate(zip(segs, man["segments"], strict=True))
        if seg.n_songs > len(set(e["dead"]))
    ]
    segs = [segs[k] for k in full]
    man["segments"] = [man["segments"][k] for k in full]
    if not segs:
        man["n_distinct"] = 0
    old_index = DiskIndex(segs, [set(e["dead"]) for e in man["segments"]], man["n_distinct"])
    # new songs go into segments of at most BATCH postings (bounded memory), merged below;
    # a batch's segment is written on a second thread while the next batch is read (the
    # sort, the encoder and zlib release the GIL), then joins the manifest
    batch: list = []
    pending: list = []  # [(future of write_segment, file name)], at most one
    pool = ThreadPoolExecutor(1)

    def flush() -> None:
        finish()
        if not batch:
            return
        name = f"seg-{man['next']:08d}.aix"
        man["next"] += 1
        ids, hs, fs, sums = (list(c) for c in zip(*batch, strict=True))
        job = pool.submit(
            write_segment, folder / name, ids, hs, fs, sums, key_bits=man["key_bits"],
            stored_max=man["stored_max"],
        )  # fmt: skip
        pending.append((job, name))
        batch.clear()
        if man["key_bits"] is None:  # the first segment sets the width of the next ones
            finish()

    def finish() -> None:
        nonlocal old_index
        if not pending:
            return
        job, name = pending.pop()
        job.result()
        seg = Segment(folder / name)
        man["key_bits"] = seg.key_bits
        man["n_distinct"] = _union_distinct(old_index, seg)
        man["segments"].append({"file": name, "dead": []})
        _write_manifest(folder, man)  # a killed build resumes after this segment
        _merge_tail(folder, man, limit=MERGE_LIMIT)
        old_index = _disk_index(folder, man)

    held_postings = 0
    try:
        for done, sid in enumerate(new, 1):
            if on_progress is not None:
                on_progress("indexing songs", done, len(new))
            info = store.song(sid)
            try:
                h, f = store.postings(sid)
            except KeyError:
                continue  # removed meanwhile: seen at the next generation
            if h.size == 0:
                empty[sid] = checksum_digest(info.checksum) if info is not None else 0
                continue
            batch.append((sid, h, f, info.checksum if info is not None else ""))
            held_postings += h.size
            if held_postings >= BATCH:
                flush()
                held_postings = 0
        if on_progress is not None and new:
            on_progress("writing the index", 0, None)  # (its last segment: no count to give)
        flush()
        finish()
    finally:
        pool.shutdown(wait=True)  # an error: the segment being written ends as an orphan
    man["empty"] = sorted([i, d] for i, d in empty.items())
    man["generation"] = gen
    _merge_tail(folder, man, limit=MERGE_LIMIT)
    _write_manifest(folder, man)
    _remove_orphans(folder, man)
    return _disk_index(folder, man)


#: a new segment with more distinct hashes than this gets an upper bound of the union's
#: count instead of a lookup of each of them in the older segments (a bulk build of wide
#: keys: 30 million lookups per segment over every older one, quadratic in the catalog)
UNION_EXACT_MAX = 1 << 21


def _union_distinct(old: DiskIndex, seg: Segment) -> int:
    # distinct hashes of old + seg: old's count plus seg's hashes that old does not hold
    # (exact), or the sum of the two counts when seg holds many (an upper bound: it only
    # lowers the stop list's cap, never under 64, and a full merge makes it exact again)
    if len(old) == 0:
        return seg.n_distinct
    if seg.n_distinct > UNION_EXACT_MAX:
        bound = _distinct_bound(old.n_distinct + seg.n_distinct, [*old.segments, seg])
        return min(bound, 1 << seg.key_bits)
    keys, _ = seg.chunk(0, 0)
    keys = unscramble(np.unique(keys), seg.key_bits).astype(np.uint32)
    return old.n_distinct + int(np.count_nonzero(old.counts(keys) == 0))


def _merge_tail(folder: Path, man: dict, limit: int | None) -> None:
    # LSM-style: merge the newest segments while the one before them is less than
    # MERGE_RATIO times their size (a posting is rewritten O(log n) times), up to ``limit``
    # postings per merge in passing; the new segment replaces them in the manifest.
    while len(man["segments"]) > 1:
        segs = _open_segments(folder, man)
        live = [
            int(s.songs.counts[~np.isin(s.songs.ids, list(e["dead"]))].sum())
            for s, e in zip(segs, man["segments"], strict=True)
        ]
        k = len(segs) - 1
        tail = live[k]
        while k > 0 and live[k - 1] < MERGE_RATIO * tail:
            k -= 1
            tail += live[k]
        if k == len(segs) - 1 or (limit is not None and tail > limit):
            return
        _merge_into(folder, man, k, segs)


def _merge_into(
    folder: Path,
    man: dict,
    k: int,
    segs: list[Segment],
    end: int | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
) -> None:
    # merge segments k .. end - 1 (k.. by default) into one file, which takes their place
    # in the manifest; the manifest is replaced here. A merge leaves the union's distinct
    # count as it was (exact, or an upper bound) unless it is a full one: exact again.
    end = len(segs) if end is None else end
    name = f"seg-{man['next']:08d}.aix"
    man["next"] += 1
    dead = [set(e["dead"]) for e in man["segments"][k:end]]
    merge_segments(
        folder / name, segs[k:end], dead, stored_max=man.get("stored_max", 0), on_chunk=on_chunk
    )
    whole = k == 0 and end == len(segs)
    man["segments"] = man["segments"][:k] + [{"file": name, "dead": []}] + man["segments"][end:]
    if whole:
        man["n_distinct"] = Segment(folder / name).n_distinct  # exact again
    else:
        man["n_distinct"] = _distinct_bound(man["n_distinct"], _open_segments(folder, man))
    _write_manifest(folder, man)


def compact(
    store: Store,
    folder: str | os.PathLike | None = None,
    key_bits: int | None = None,
    parts: int = 1,
    stored_max: int = 0,
    on_progress: OnProgress | None = None,
) -> DiskIndex:
    """Merge every segment into one (dropping removed songs): the smallest, fastest index;
    a lone segment of an older format, that stores keys ``stored_max`` would stop, or with
    more blocks than its postings need, is written again.

    ``parts > 1``: into that many segments of consecutive songs and about equal postings
    instead. A merge writes its output beside its inputs, so a full one needs as much free
    disk as the whole index (24 GB at 10,000 h); in parts, one part's.
    ``on_progress(what, done, total)`` follows each merge chunk by chunk (``what`` names
    the merge: "merging", or "merging part 2 of 3")."""
    folder = Path(folder) if folder is not None else index_folder_for(store)
    folder.mkdir(parents=True, exist_ok=True)
    with _Lock(folder):
        sync(store, folder, key_bits, stored_max=stored_max, on_progress=on_progress)
        man = _read_manifest(folder)
        man["stored_max"] = int(stored_max)
        segs = _open_segments(folder, man)
        live = [
            int(s.songs.counts[~np.isin(s.songs.ids, list(e["dead"]))].sum())
            for s, e in zip(segs, man["segments"], strict=True)
        ]
        # part k ends at the first segment where the running count reaches k / parts
        ends = np.searchsorted(np.cumsum(live), np.arange(1, parts) * sum(live) / parts)
        cuts = sorted({0, len(segs), *(int(e) + 1 for e in ends if e + 1 < len(segs))})
        spans = list(zip(cuts[:-1], cuts[1:], strict=True))
        for n, (a, b) in enumerate(reversed(spans)):  # (from the end: a stays put)
            # (a segment of an older format, or laid out for more postings than it holds, is
            # written again)
            old = any(
                s.version < VERSION or (stored_max and not s.stored_max) or not s.layout_is_tight()
                for s in segs[a:b]
            )
            if b - a > 1 or old or any(e["dead"] for e in man["segments"][a:b]):
                what = "merging" if len(spans) == 1 else f"merging part {n + 1} of {len(spans)}"
                step = None if on_progress is None else functools.partial(on_progress, what)
                _merge_into(folder, man, a, _open_segments(folder, man), end=b, on_chunk=step)
                _remove_orphans(folder, man)  # the inputs' disk is free for the next part
        _remove_orphans(folder, man)
        return _disk_index(folder, man)


def _tidy(folder: Path, man: dict) -> None:
    # files left by a writer killed after its last manifest: removed when no writer is busy
    keep = {s["file"] for s in man["segments"]} | {MANIFEST, "lock"}
    if all(f.name in keep for f in folder.iterdir()):
        return
    try:
        with open(folder / "lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            _remove_orphans(folder, _read_manifest(folder) or man)
    except OSError:
        pass  # a writer holds the lock (it tidies itself), or read-only media


def _remove_orphans(folder: Path, man: dict) -> None:
    # files a killed writer left (temporary files, segments no manifest names); under lock
    keep = {s["file"] for s in man["segments"]} | {MANIFEST, "lock"}
    for f in folder.iterdir():
        if f.name not in keep and (f.suffix in (".aix", ".tmp") or f.name.endswith(".tmp")):
            with contextlib.suppress(OSError):
                f.unlink()
