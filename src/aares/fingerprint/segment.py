"""Immutable index segments: postings sorted by hash, Rice-coded, read in place (mmap).

A segment holds the postings ``hash -> (song, frame)`` of a set of songs. Its songs are laid
end to end on one time line, so a posting is a pair ``(hash, g)`` with ``g = start[song] +
frame`` (the song is found back by a binary search in ``start``). Hashes are scrambled (times an
odd constant modulo ``2^key_bits``, a bijection: a layout's common hashes then spread over
the blocks); the postings are sorted by ``(hash, g)`` and cut into ``2^top_bits`` *blocks*
by the top bits of the scrambled hash; a block is its
posting count (varint) then, for each posting, the gap to the previous value ``(hash_low <<
gbits) | g`` in a Rice code whose parameter follows from the count (no parameter stored). A
directory of byte offsets gives each block's place, so a lookup reads one directory entry
and decodes one block of about 16 postings (64 in a segment whose stream passes 4 GB, where
an offset takes 8 bytes), whatever the catalog's size.

Why this layout (measured in BENCHMARKS.md, "Fingerprint catalog at scale"): a posting costs
about ``log2(hash space * frames / postings) + 1.5`` bits, near the entropy of a random set
of that density (2.2-2.8 bytes, against 8 in memory and 4-5 in the store's zlib blobs); the
file is read in place, so opening a catalog maps it (O(1)) and a process's memory holds only
the pages its queries touch.

Most keys a query looks up are not worth a block's read: at 10,000 h, 83 % of the distinct
three-point keys of noisy queries are in no song and 13 % are held by more postings than the
first stage's stop list keeps (BENCHMARKS.md, "The index's key filters, on and off").
Two *key filters* (blocked Bloom filters, :func:`filter_contains`) after the stream say
which keys a segment holds at all and which it holds at most ``selective_max`` times; a
lookup asks them first, so such keys cost a probe of one cache line of a filter of ~1.5
bytes a distinct key instead of a directory entry and a block in pages scattered over the
whole file. A filter never says no to a key it holds, so answers
are the same with or without it.

*Stop postings* (version 3): the first stage looks a key up under a stop list of 64
postings, so the postings of a key held more often are never used; a segment written with
``stored_max`` keeps one posting for such a key instead (``g = 2^gbits - 1``, past the time
line), which a lookup reads as "over any cap" (a key over the cap in one segment is dropped
from every segment, as before). At 1,000 h these keys held 41 % of the postings and at
10,000 h 94 %: the index shrank from 2.25 to 1.43 GB and from 20.1 to 1.66 GB, with the
same answers (BENCHMARKS.md, "Stop postings"). A lookup with a larger stop list, or none,
does not get those keys back: an index of pairs, searched so, stores every posting.

File layout (little-endian)::

    header   96 bytes: magic b"AARESIX1", version, key_bits, top_bits, gbits, off_bytes,
             n_songs, n_postings (in the stream), n_distinct, stream_bytes, then (version 2)
             the blocks of the two key filters and selective_max, (version 3) stored_max,
             header CRC-32
    songs    int64[n_songs] x 5: song id, start on the time line, length (frames), postings,
             digest of the song's content checksum
    dir      uint32 or uint64 [2^top_bits + 1]: byte offset of each block in the stream
    stream   the blocks, then 8 zero bytes (so that the decoder may read a word past the end)
    filters  (version 2; from the next multiple of 64 bytes) uint64[8 * blocks] of the filter
             of every key held, then of the keys held by at most selective_max postings

Version 1 files (no filters) and version 2 files (no stop postings) are read as before, only
slower and larger; ``aares fp compact`` rewrites them as version 3.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import mmap
import os
import struct
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from aares.fingerprint.sorting import argsort_keys
from aares.io import fsync_dir

__all__ = [
    "Segment",
    "SegmentError",
    "write_segment",
    "merge_segments",
    "checksum_digest",
    "cache_in_large_pages",
    "machine_memory_bytes",
    "large_pages_fit",
]

MAGIC = b"AARESIX1"
VERSION = 3
_HEADER_V1 = struct.Struct("<8s5I4Q")  # magic, version, key, top, gbits, off_bytes, 4 counts
# ... then the blocks of the two key filters and the selective filter's bucket bound
_HEADER_V2 = struct.Struct("<8s5I4Q2QI")
# ... then (version 3) stored_max: keys of more postings are stored as one stop posting
_HEADER = struct.Struct("<8s5I4Q2QII")
_HEADER_SIZE = 96
#: the selective filter holds the keys of at most this many postings in the segment: the
#: first stage's stop list (``MatchSettings.candidates_cap``) drops keys of more, so its
#: lookups skip the keys outside the filter
SELECTIVE_MAX = 64
#: bits of a key filter per key it holds: one false positive in ~300 absent keys
FILTER_BITS_PER_KEY = 12
#: the selective filter is written when at least this share of the distinct keys is over
#: ``SELECTIVE_MAX`` (54 % at 10,000 h, 13 % of a noisy query's keys); below it, it
#: would nearly copy the other filter to spare a few reads (6 % at 1,000 h: 36 MB for 4 %
#: of the lookups)
SELECTIVE_MIN_OVER = 0.125
# postings per block on average: a lookup decodes about half of one, and the directory costs
# 4 bytes a block. 16: a lookup decodes ~8 Rice codes (tens of ns) and the directory costs
# 0.25-0.5 byte a posting, whatever the key width (with 2, 32-bit keys made the directory
# 2 bytes a posting, over half of the 2.5 MB/h budget); narrow keys in a large catalog give
# blocks of one key anyway (the lookup then reads the count from the block's header)
_TARGET_BLOCK = 16
# ... but 64 when the stream passes 4 GB and the directory's offsets take 8 bytes: 0.13-0.25
# byte a posting, and a lookup decodes 16-32 Rice codes instead of 4-8 (tens of ns more per
# key, against the tens of ms a query costs at that size). At 16 the directory of the
# 10,000 h catalog was 4.3 of its 22.6 GB; at 64 (40 on average there) it is 1.07 GB and
# the index 20.8 GB, 2.08 MB/h instead of 2.26 (the Rice codes of larger blocks cost 2 bits
# more a posting: 29.2 against 27.1)
_TARGET_BLOCK_WIDE = 64
_OFFSET4_LIMIT = 1 << 32  # stream bytes that 4-byte offsets address
_CHUNK = 1 << 23  # postings sorted and encoded at a time when writing (bounded memory)
_MIX = 0x9E3779B97F4A7C15  # odd: multiplying by it modulo 2^k is a bijection
#: bytes of a segment a lookup walks through before it lets their pages go, past the part
#: the segment keeps mapped (:meth:`Segment.keep`)
WINDOW = 64 << 20
#: an index (and a segment) up to this fraction of the machine's memory is held in the page
#: cache in large pages (:func:`cache_in_large_pages`, :meth:`Segment.advise`): the cache then
#: keeps it whole, beside the processes and the store's hot pages. A larger one is read a
#: page at a time (MADV_RANDOM), since a fault on a large page that the cache let go would
#: read 2 MB from the disk for one key. (Until 2026-12-02 a quarter, per segment: the
#: segments of an index that fits were read page by page when each passed a quarter.)
LARGE_PAGES_MAX_FRACTION = 0.8


@functools.cache
def _mincore():
    # the C library's mincore(addr, length, vec), typed once (None where there is none)
    try:
        fn = ctypes.CDLL(None, use_errno=True).mincore
    except (OSError, AttributeError):  # pragma: no cover (no C library, or no mincore)
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    fn.restype = ctypes.c_int
    return fn


def machine_memory_bytes() -> int:
    """The machine's physical memory in bytes (0 where the system does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # (not POSIX)
        return 0


def large_pages_fit(nbytes: int) -> bool:
    """Whether an index (or segment) of ``nbytes`` is held in large pages
    (:data:`LARGE_PAGES_MAX_FRACTION` of the machine's memory)."""
    return nbytes <= machine_memory_bytes() * LARGE_PAGES_MAX_FRACTION


def cache_in_large_pages(path: str | os.PathLike, chunk: int = 8 << 20) -> bool:
    """Put a segment file in the page cache afresh, read in order, so that the cache holds
    it in large folios (2 MB on Linux 6.x) instead of the writer's mix of sizes; False when
    the file is too large for it (:data:`LARGE_PAGES_MAX_FRACTION`) or the system cannot.

    Why: a process maps a 2 MB folio with one page-table entry, so mapping (and letting go
    of) the pages of a query costs a few microseconds per 2 MB instead of one entry per
    4 kB page: on the 1,000 h catalog, mapping all 2.2 GB of its segment in 64 MB windows
    took 2.2 ms of CPU instead of 31 ms as the writer left it (77 % of it in 2 MB folios),
    and a query under the resident budget (:meth:`Segment.keep`) 20 ms instead of 58 (15
    with no bound; BENCHMARKS.md, "The resident budget in 2 MB pages"). Costs a read of the
    file from the disk (its clean pages are dropped first), once per write."""
    path = Path(path)
    if not hasattr(os, "posix_fadvise") or not large_pages_fit(path.stat().st_size):
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # (synced: the pages are clean)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        buf = bytearray(chunk)
        while os.readv(fd, [buf]) > 0:
            pass
    finally:
        os.close(fd)
    return True


class SegmentError(ValueError):
    """A segment file that cannot be read (truncated, foreign, another version)."""


@dataclass(frozen=True)
class SongTable:
    """The songs of a segment, sorted by id, laid end to end on the segment's time line."""

    ids: np.ndarray  # int64
    starts: np.ndarray  # int64, start of each song on the time line
    lengths: np.ndarray  # int64, frames (last anchor + 1)
    counts: np.ndarray  # int64, postings
    sums: np.ndarray  # int64, digest of the store's content checksum (detects a reused id)

    @property
    def total(self) -> int:
        return int(self.lengths.sum())


def _bitlen(n: int) -> int:
    return max(1, int(n).bit_length())


def choose_top_bits(n_postings: int, key_bits: int, gbits: int, target: int = _TARGET_BLOCK) -> int:
    """Blocks of about ``target`` postings; the rest of the key and ``g`` fit 56 bits."""
    t = max(0, min(key_bits, int(max(n_postings, 1) // target).bit_length()))
    return max(t, key_bits + gbits - 56, 0)


def choose_layout(n_postings: int, key_bits: int, gbits: int, c: int = 0) -> tuple[int, int]:
    """``(top_bits, offset bytes)`` of a segment: blocks of about ``_TARGET_BLOCK`` postings
    with 4-byte offsets, or of ``_TARGET_BLOCK_WIDE`` when the stream may pass 4 GB (8-byte
    offsets); at least ``c`` top bits (the writer's chunks).

    The directory precedes the stream, so its width is chosen before the stream is written,
    from a bound on the stream's size: a block of ``cnt`` gaps summing to under ``2^u_bits``
    takes at most ``cnt * (k + 1) + 2^u_bits >> k <= cnt * (u_bits + 3)`` bits (``k =
    u_bits - bitlen(cnt)``) plus its count (a varint) and a byte of padding.
    """
    for target in (_TARGET_BLOCK, _TARGET_BLOCK_WIDE):
        top = max(choose_top_bits(n_postings, key_bits, gbits, target), c)
        if _stream_bound(n_postings, key_bits - top + gbits, 1 << top) < _OFFSET4_LIMIT:
            return top, 4
    return top, 8


def _stream_bound(n_postings: int, u_bits: int, n_blocks: int) -> int:
    # bytes the stream cannot exceed (see choose_layout)
    return n_postings * (u_bits + 3) // 8 + n_blocks * 11 + 8


# -- codec (numba) ----------------------------------------------------------------------------


@numba.njit(cache=True)
def _rice_k(u_bits, n):  # pragma: no cover (numba)
    # Rice parameter of n gaps spread over 2^u_bits values: about log2(mean gap) - 0.5
    b = 0
    m = n
    while m > 0:
        b += 1
        m >>= 1
    k = u_bits - b
    return k if k > 0 else 0


@numba.njit(cache=True)
def _varint_len(n):  # pragma: no cover (numba)
    size = 1
    while n >= 128:
        n >>= 7
        size += 1
    return size


def _runs(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # start and end of each run of equal block numbers (block sorted)
    if block.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    cut = np.flatnonzero(np.diff(block)) + 1
    return np.concatenate(([0], cut)), np.concatenate((cut, [block.size]))


@numba.njit(cache=True, nogil=True)
def _block_sizes(block, starts, ends, values, n_blocks, u_bits):  # pragma: no cover (numba)
    # bytes of each block (values sorted within a block; runs of blocks from _runs)
    sizes = np.zeros(n_blocks, dtype=np.int64)
    for r in range(starts.size):
        i, j = starts[r], ends[r]
        k = _rice_k(u_bits, j - i)
        bits = 0
        prev = np.uint64(0)
        for p in range(i, j):
            bits += np.int64((values[p] - prev) >> np.uint64(k)) + 1 + k
            prev = values[p]
        sizes[block[i]] = _varint_len(j - i) + (bits + 7) // 8
    return sizes


@numba.njit(cache=True, inline="always")
def _load64(buf, byte):  # pragma: no cover (numba)
    w = np.uint64(0)
    for t in range(8):
        w = (w << np.uint64(8)) | np.uint64(buf[byte + t])
    return w


@numba.njit(cache=True, inline="always")
def _put(out, bitpos, value, nbits):  # pragma: no cover (numba)
    # OR the low ``nbits`` (<= 56) bits of value into out at bitpos, MSB first
    if nbits == 0:
        return
    byte = bitpos >> 3
    w = value << np.uint64(64 - nbits - (bitpos & 7))
    for t in range(8):
        out[byte + t] |= np.uint8((w >> np.uint64(56 - 8 * t)) & np.uint64(255))


@numba.njit(cache=True, nogil=True)
def _encode(block, starts, ends, values, offsets, first_block, u_bits, out):  # pragma: no cover
    # offsets: byte offset of each block (relative to out), indexed by block - first_block
    for r in range(starts.size):
        i, j = starts[r], ends[r]
        cnt = j - i
        pos = offsets[block[i] - first_block]
        m = cnt
        while m >= 128:
            out[pos] = (m & 127) | 128
            m >>= 7
            pos += 1
        out[pos] = m
        pos += 1
        k = _rice_k(u_bits, cnt)
        kmask = (np.uint64(1) << np.uint64(k)) - np.uint64(1)
        bitpos = np.int64(pos) * 8
        prev = np.uint64(0)
        for p in range(i, j):
            d = values[p] - prev
            prev = values[p]
            bitpos += np.int64(d >> np.uint64(k))  # that many zero bits (out is zeroed)
            _put(out, bitpos, np.uint64(1), 1)
            bitpos += 1
            _put(out, bitpos, d & kmask, k)
            bitpos += k


@numba.njit(cache=True, inline="always")
def _varint(buf, pos):  # pragma: no cover (numba)
    cnt = 0
    shift = 0
    while True:
        c = np.int64(buf[pos])
        pos += 1
        cnt |= (c & 127) << shift
        shift += 7
        if c < 128:
            return cnt, pos


@numba.njit(cache=True, inline="always")
def _next(buf, bitpos, k):  # pragma: no cover (numba)
    # one Rice code at bitpos: (gap, next bit position). A 64-bit window holds the code
    # (57 valid bits) unless its zero run is long (a sparse block): then bit by bit.
    w = _load64(buf, bitpos >> 3) << np.uint64(bitpos & 7)
    q = 0
    while q < 57 and w < np.uint64(1 << 63):
        w <<= np.uint64(1)
        q += 1
    if q + 1 + k <= 57:
        w <<= np.uint64(1)
        r = (w >> np.uint64(64 - k)) if k > 0 else np.uint64(0)
        return (np.uint64(q) << np.uint64(k)) | r, bitpos + q + 1 + k
    q = 0
    while (buf[bitpos >> 3] >> (7 - (bitpos & 7))) & 1 == 0:
        q += 1
        bitpos += 1
    bitpos += 1
    w = _load64(buf, bitpos >> 3) << np.uint64(bitpos & 7)
    r = (w >> np.uint64(64 - k)) if k > 0 else np.uint64(0)
    return (np.uint64(q) << np.uint64(k)) | r, bitpos + k


@numba.njit(cache=True)
def _decode_block(buf, start, u_bits, vals):  # pragma: no cover (numba)
    # every value of the block at byte ``start`` into vals; returns the count
    cnt, pos = _varint(buf, start)
    k = _rice_k(u_bits, cnt)
    bitpos = np.int64(pos) * 8
    v = np.uint64(0)
    for i in range(cnt):
        d, bitpos = _next(buf, bitpos, k)
        v += d
        vals[i] = v
    return cnt


# -- key filters (numba) ----------------------------------------------------------------------
# A blocked Bloom filter: a key sets one bit in each of the 8 words of one 64-byte block (one
# cache line), chosen by a 64-bit mix of the key. With 12 bits a key, about 43 keys share a
# block, half of each word's bits are set and an absent key passes with probability
# ~0.5^8 (0.3-0.5 % with the blocks' uneven loads).


@numba.njit(cache=True, inline="always")
def _filter_mix(key):  # pragma: no cover (numba)
    # (splitmix64's finaliser: every bit of the key moves every bit of the result)
    x = np.uint64(key) + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@numba.njit(cache=True, inline="always")
def _filter_place(key, n_blocks):  # pragma: no cover (numba)
    # (first word of the key's block, 48 bits: the bit in each of the block's 8 words)
    x = _filter_mix(key)
    block = np.int64(((x >> np.uint64(32)) * np.uint64(n_blocks)) >> np.uint64(32))
    bits = (x & np.uint64(0xFFFFFFFF)) * np.uint64(0x9FB21C651E98DF25)
    return block * 8, bits


@numba.njit(cache=True, nogil=True)
def _filter_add(words, keys):  # pragma: no cover (numba)
    n_blocks = words.size // 8
    for i in range(keys.size):
        w, bits = _filter_place(keys[i], n_blocks)
        for j in range(8):
            words[w + j] |= np.uint64(1) << ((bits >> np.uint64(16 + 6 * j)) & np.uint64(63))


@numba.njit(cache=True, inline="always")
def _filter_has(words, key):  # pragma: no cover (numba)
    # whether key may be held (an empty filter: no filter, every key may be)
    if words.size == 0:
        return True
    w, bits = _filter_place(key, words.size // 8)
    for j in range(8):
        if not (words[w + j] >> ((bits >> np.uint64(16 + 6 * j)) & np.uint64(63))) & np.uint64(1):
            return False
    return True


@numba.njit(cache=True)
def _filter_pass(present, selective, top, low, low_bits):  # pragma: no cover (numba)
    # which keys (top << low_bits | low) both filters let through
    out = np.empty(top.size, dtype=np.bool_)
    shift = np.uint64(low_bits)
    for i in range(top.size):
        key = (np.uint64(top[i]) << shift) | np.uint64(low[i])
        out[i] = _filter_has(present, key) and _filter_has(selective, key)
    return out


_NO_FILTER = np.zeros(0, dtype=np.uint64)  # (an empty filter lets every key through)


def filter_blocks(n_keys: int) -> int:
    """Blocks (of 64 bytes) of a key filter of ``n_keys`` keys (:data:`FILTER_BITS_PER_KEY`
    bits a key; none for no key)."""
    return -(-int(n_keys) * FILTER_BITS_PER_KEY // 512) if n_keys else 0


def build_filter(keys: np.ndarray) -> np.ndarray:
    """The key filter (``uint64[8 * blocks]``) of the scrambled keys ``keys``."""
    keys = np.asarray(keys)
    if keys.dtype not in (np.uint32, np.uint64):
        keys = keys.astype(np.uint64)
    words = np.zeros(8 * filter_blocks(keys.size), np.uint64)
    if words.size:
        _filter_add(words, keys)
    return words


def filter_contains(words: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Whether each of the scrambled ``keys`` may be in the filter ``words``: True for every
    key it was built from, False for all but a few in a thousand of the others (an empty
    filter is none: True for all)."""
    keys = np.asarray(keys, dtype=np.uint64)
    return _filter_pass(words, _NO_FILTER, keys, np.zeros(keys.size, np.uint64), 0)


@numba.njit(cache=True, inline="always")
def _is_stop(buf, start, u_bits, gbits, stop_g):  # pragma: no cover (numba)
    # whether the block at ``start``, of one posting, is a stop posting
    if stop_g < 0:
        return False
    cnt, pos = _varint(buf, start)
    if cnt != 1:
        return False
    d = _next(buf, np.int64(pos) * 8, _rice_k(u_bits, 1))[0]
    return np.int64(d & ((np.uint64(1) << np.uint64(gbits)) - np.uint64(1))) == stop_g


@numba.njit(cache=True)
def _key_counts(buf, offsets, qtop, qlow, u_bits, gbits, stop_g, stop_count):  # pragma: no cover
    # postings of each query key (``stop_count`` for a key stored as a stop posting); a
    # block of one key (low_bits 0) says it in its header
    out = np.zeros(qtop.size, dtype=np.int64)
    gmask = (np.uint64(1) << np.uint64(gbits)) - np.uint64(1)
    for i in range(qtop.size):
        b = qtop[i]
        start = np.int64(offsets[b])
        if start == np.int64(offsets[b + 1]):
            continue
        cnt, pos = _varint(buf, start)
        if u_bits == gbits:
            out[i] = stop_count if _is_stop(buf, start, u_bits, gbits, stop_g) else cnt
            continue
        k = _rice_k(u_bits, cnt)
        bitpos = np.int64(pos) * 8
        v = np.uint64(0)
        want = np.uint64(qlow[i])
        for _ in range(cnt):
            d, bitpos = _next(buf, bitpos, k)
            v += d
            low = v >> np.uint64(gbits)
            if low > want:
                break
            if low == want:
                if np.int64(v & gmask) == stop_g:
                    out[i] = stop_count
                    break
                out[i] += 1
    return out


@numba.njit(cache=True)
def _lookup(
    buf,
    offsets,
    qidx,
    qtop,
    qlow,
    u_bits,
    gbits,
    skip,
    cap,
    starts,
    row_of,
    row_shift,
    with_pos,
    over,
    stop_g,
):  # pragma: no cover (numba)
    # postings of each query key (top, low) but those with skip[i] or more than cap postings:
    # (query index qidx[i], song row, frame, bit position or nothing unless with_pos); a key
    # dropped for the cap, or stored as a stop posting (g == stop_g), is marked in
    # over[qidx[i]] (when over is not empty).
    # A first pass reads the blocks' counts: the output is allocated once, at the size they
    # bound (a growing output cost as much as the decoding: copies, and the page faults of
    # the new arrays), and the blocks are in the cache when the second pass decodes them.
    m = qtop.size
    head = np.empty(m, dtype=np.int64)
    one_key = u_bits == gbits  # blocks of one key: the count is the bucket's size
    bound = 0
    for i in range(m):
        b = qtop[i]
        start = np.int64(offsets[b])
        head[i] = -1
        if skip[i] or start == np.int64(offsets[b + 1]):
            continue
        cnt = _varint(buf, start)[0]
        if one_key and cnt > cap:
            if over.size:
                over[qidx[i]] = True
            continue
        head[i] = start
        bound += min(cnt, cap)
    qi = np.empty(bound, dtype=np.int64)
    rows = np.empty(bound, dtype=np.int64)
    frames = np.empty(bound, dtype=np.int64)
    ps = np.empty(bound if with_pos else 0, dtype=np.int64)
    gmask = (np.uint64(1) << np.uint64(gbits)) - np.uint64(1)
    last = starts.size - 1
    n = 0
    for i in range(m):
        if head[i] < 0:
            continue
        cnt, pos = _varint(buf, head[i])
        k = _rice_k(u_bits, cnt)
        bitpos = np.int64(pos) * 8
        v = np.uint64(0)
        want = np.uint64(qlow[i])
        n0 = n
        for _ in range(cnt):
            at = bitpos
            d, bitpos = _next(buf, bitpos, k)
            v += d
            low = v >> np.uint64(gbits)
            if low < want:
                continue
            if low > want:
                break
            g = np.int64(v & gmask)
            if n - n0 == cap or g == stop_g:
                # over the cap: dropped, and the rest of it not decoded (a stop posting is
                # a key's only one)
                n = n0
                if over.size:
                    over[qidx[i]] = True
                break
            # the song holding g: the table's guess, then forwards past shorter songs
            r = row_of[g >> row_shift]
            while r < last and starts[r + 1] <= g:
                r += 1
            qi[n] = qidx[i]
            rows[n] = r
            frames[n] = g - starts[r]
            if with_pos:
                ps[n] = at
            n += 1
    return qi[:n], rows[:n], frames[:n], ps[: n if with_pos else 0]


@numba.njit(cache=True, nogil=True)
def _decode_range(buf, offsets, b0, b1, u_bits, low_bits, gbits):  # pragma: no cover (numba)
    # every posting of blocks b0 .. b1-1 as (scrambled key, g)
    n = 0
    for b in range(b0, b1):
        if offsets[b] != offsets[b + 1]:
            n += _varint(buf, np.int64(offsets[b]))[0]
    keys = np.empty(n, dtype=np.uint64)
    gs = np.empty(n, dtype=np.int64)
    vals = np.empty(max(n, 1), dtype=np.uint64)
    gmask = (np.uint64(1) << np.uint64(gbits)) - np.uint64(1)
    k = 0
    for b in range(b0, b1):
        if offsets[b] == offsets[b + 1]:
            continue
        cnt = _decode_block(buf, np.int64(offsets[b]), u_bits, vals)
        for i in range(cnt):
            keys[k] = (np.uint64(b) << np.uint64(low_bits)) | (vals[i] >> np.uint64(gbits))
            gs[k] = np.int64(vals[i] & gmask)
            k += 1
    return keys, gs


def scramble(keys: np.ndarray, key_bits: int) -> np.ndarray:
    """Keys multiplied by an odd constant modulo ``2^key_bits`` (a bijection): blocks cut by
    the top bits then hold about as many keys each, whatever the hash layout's skew."""
    mask = np.uint64((1 << key_bits) - 1)
    return (np.asarray(keys, dtype=np.uint64) * np.uint64(_MIX & int(mask))) & mask


def unscramble(keys: np.ndarray, key_bits: int) -> np.ndarray:
    """Inverse of :func:`scramble`."""
    mask = (1 << key_bits) - 1
    inv = pow(_MIX & mask, -1, 1 << key_bits)
    return (np.asarray(keys, dtype=np.uint64) * np.uint64(inv)) & np.uint64(mask)


# -- reading --------------------------------------------------------------------------------


def _filters_at(end_of_stream: int) -> int:
    # the key filters start at a multiple of 64 bytes (a filter's block is one cache line)
    return -(-end_of_stream // 64) * 64


class Segment:
    """One segment file, memory-mapped (nothing is read until a lookup touches it).

    Raises :class:`SegmentError` naming the file when it is not a segment, of another
    version, or truncated.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        try:
            size = self.path.stat().st_size
            with open(self.path, "rb") as fh:
                head = fh.read(_HEADER_SIZE)
        except OSError as exc:
            raise SegmentError(f"{self.path}: cannot read index segment ({exc.strerror})") from None
        if len(head) < _HEADER_SIZE or head[:8] != MAGIC:
            raise SegmentError(f"{self.path}: not an aares index segment (bad magic)")
        (version,) = struct.unpack("<I", head[8:12])
        if not 1 <= version <= VERSION:
            raise SegmentError(
                f"{self.path}: index segment version {version}, this aares reads 1 to {VERSION}"
            )
        layout = {1: _HEADER_V1, 2: _HEADER_V2}.get(version, _HEADER)
        fields = layout.unpack(head[: layout.size])
        (crc,) = struct.unpack("<I", head[layout.size : layout.size + 4])
        if zlib.crc32(head[: layout.size]) != crc:
            raise SegmentError(f"{self.path}: index segment header is corrupt (CRC mismatch)")
        self.version = version
        self.key_bits, self.top_bits, self.gbits, off_bytes = fields[2:6]
        self.n_songs, self.n_postings, self.n_distinct, self.stream_bytes = fields[6:10]
        present_blocks, selective_blocks, self.selective_max = fields[10:13] or (0, 0, 0)
        #: keys held more than this many times are stored as one stop posting (0: every
        #: posting is stored)
        self.stored_max = fields[13] if version > 2 else 0
        #: the ``g`` of a stop posting (-1: none in this file)
        self.stop_g = _stop_g(self.gbits, self.stored_max)
        n_dir = (1 << self.top_bits) + 1
        songs_at = _HEADER_SIZE
        dir_at = songs_at + 40 * self.n_songs
        stream_at = dir_at + off_bytes * n_dir
        filters_at = _filters_at(stream_at + self.stream_bytes + 8)
        expected = (
            stream_at + self.stream_bytes + 8
            if version == 1
            else filters_at + 64 * (present_blocks + selective_blocks)
        )
        if size != expected:
            raise SegmentError(
                f"{self.path}: index segment is {size} bytes, its header says {expected} "
                "(truncated or overwritten)"
            )
        self.nbytes = size
        with open(self.path, "rb") as fh:
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        self.advise(large_pages_fit(self.nbytes))
        mm = np.frombuffer(self._map, dtype=np.uint8)
        self._mapped = mm
        table = np.frombuffer(mm, dtype="<i8", count=5 * self.n_songs, offset=songs_at)
        table = table.reshape(5, self.n_songs)
        self.songs = SongTable(*table)
        dtype = "<u4" if off_bytes == 4 else "<u8"
        self.offsets = np.frombuffer(mm, dtype=dtype, count=n_dir, offset=dir_at)
        self.stream = mm[stream_at:]
        words = np.frombuffer(
            mm, dtype="<u8", count=8 * (present_blocks + selective_blocks),
            offset=filters_at if version > 1 else 0,
        )  # fmt: skip
        #: the key filters (empty in a version 1 file: every key is read)
        self.present, self.selective = words[: 8 * present_blocks], words[8 * present_blocks :]
        #: False: lookups ignore the key filters (same answers; for measurements)
        self.use_filters = True
        self._dir_at, self._stream_at, self._off_bytes = dir_at, stream_at, off_bytes
        self.low_bits = max(self.key_bits - self.top_bits, 0)
        self.u_bits = self.low_bits + self.gbits
        self._row_of: tuple[np.ndarray, int] | None = None
        self.keep_blocks = n_dir - 1  # blocks whose pages stay mapped (all: no bound)
        self.releases = 0  # windows let go by lookups (for the benchmarks)

    def layout_is_tight(self) -> bool:
        """Whether the blocks are as many as this segment's postings call for (a merge of
        segments with stop postings lays its output out from a bound on its postings)."""
        c = min(max(0, int(self.n_postings // _CHUNK).bit_length()), self.key_bits)
        layout = choose_layout(self.n_postings, self.key_bits, self.gbits, c)
        return layout == (self.top_bits, self._off_bytes)

    def advise(self, large_pages: bool) -> None:
        """How to read pages not yet in the page cache: in 2 MB folios (one page-table entry
        each, see :func:`cache_in_large_pages`) when the index fits the large-page share of
        the machine's memory (a segment alone decides at opening; :class:`DiskIndex` for
        all of its segments), else a page at a time (an index the page cache cannot hold:
        read-around would fetch 128 kB for each of a query's scattered keys)."""
        self.large_pages = bool(large_pages)
        advice = "MADV_HUGEPAGE" if self.large_pages else "MADV_RANDOM"
        if hasattr(mmap, advice):
            try:
                self._map.madvise(getattr(mmap, advice))
            except OSError:  # (transparent huge pages not built in)
                pass

    def cached_bytes(self) -> int | None:
        """Bytes of this file in the page cache now (``mincore``), None where the system
        cannot tell. A query reads what is not from the disk: a catalog whose index the
        machine's memory cannot hold serves at the disk's pace."""
        mincore = _mincore()
        if mincore is None or self.nbytes == 0:
            return None
        page = mmap.PAGESIZE
        vec = np.zeros(-(-self.nbytes // page), dtype=np.uint8)
        if mincore(self._mapped.ctypes.data, self.nbytes, vec.ctypes.data) != 0:
            return None
        return min(int(np.count_nonzero(vec & 1)) * page, self.nbytes)

    def keep(self, nbytes: int | None) -> None:
        """Keep about ``nbytes`` of this file mapped between lookups (None: all of it).

        Lookups walk the file forwards; past its first ``nbytes`` (as many of its blocks),
        each ``WINDOW`` they walked through is let go before the next. Why: the page cache
        holds a file in folios of up to 2 MB, which a read fault maps whole (kernel 6.18,
        whatever ``madvise`` says), so the ~30,000 keys of a query map the whole of a 2.2 GB
        segment. Mapping it again costs each lookup about 3 ms of CPU there when the cache
        holds it in 2 MB folios (:func:`cache_in_large_pages`), ~30 ms in the writer's mix
        of folio sizes (BENCHMARKS.md, "Serving a 1,000 h catalog"), the kept part less.
        The key filters, which every lookup reads, are part of the ``nbytes``."""
        n_blocks = self.offsets.size - 1
        # (the key filters stay mapped, every lookup probes them: they count in the budget)
        filters = self.present.nbytes + self.selective.nbytes
        if nbytes is None or nbytes >= self.nbytes:
            self.keep_blocks = n_blocks
        else:
            share = max(int(nbytes) - filters, 0) / max(self.nbytes - filters, 1)
            self.keep_blocks = int(n_blocks * share)

    def _walk(self, fn, top: np.ndarray, *args) -> list:
        # fn(top[a:b], *(x[a:b] for x in args)) over the sorted keys, a window at a time past
        # the kept blocks, each window's pages let go after it: [(a, result), ...]
        n_blocks = self.offsets.size - 1
        if self.keep_blocks >= n_blocks or top.size == 0:
            return [(0, fn(top, *args))]
        step = max(1, int(n_blocks * WINDOW / max(self.nbytes, 1)))
        edges = np.searchsorted(top, np.arange(self.keep_blocks, n_blocks, step))
        bounds = np.unique(np.concatenate(([0], edges, [top.size])))
        out = []
        for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            # (each key faults its pages in: mapping a window in one call first,
            # MADV_POPULATE_READ, cost more than that at 10,000 h and saved nothing at
            # 1,000 h, BENCHMARKS.md "One segment at 10,000 h")
            behind = top[b - 1] >= self.keep_blocks
            b0, b1 = max(int(top[a]), self.keep_blocks), int(top[b - 1]) + 1
            out.append((a, fn(top[a:b], *(x[a:b] for x in args))))
            if behind:
                self.release_blocks(b0, b1)
                self.releases += 1
        return out

    def _ranges(self, b0: int, b1: int) -> list[tuple[int, int]]:
        # the page-aligned byte ranges of blocks b0 .. b1 - 1: directory entries, stream
        lo_dir = self._dir_at + self._off_bytes * b0
        hi_dir = self._dir_at + self._off_bytes * (b1 + 1)
        lo_str = self._stream_at + int(self.offsets[b0])
        hi_str = self._stream_at + int(self.offsets[b1])
        page = mmap.PAGESIZE
        return [
            (lo // page * page, hi) for lo, hi in ((lo_dir, hi_dir), (lo_str, hi_str)) if hi > lo
        ]

    def release(self) -> None:
        """Drop this process's mapping of the pages lookups have read (they stay in the page
        cache, and the next lookup that needs one maps it again, without a disk read): the
        resident set then holds what the queries since touched, not the whole file."""
        if hasattr(mmap, "MADV_DONTNEED"):  # (Linux, macOS; elsewhere a no-op)
            self._map.madvise(mmap.MADV_DONTNEED, 0, len(self._map))

    def release_blocks(self, b0: int, b1: int) -> None:
        """Drop this process's mapping of the pages of blocks ``b0 .. b1 - 1`` (their
        directory entries and stream bytes; a page they share with a neighbour goes too and
        is mapped again when read): a merge reads each segment once, in key order, and
        keeps only the chunk at hand mapped, not every input file (24 GB at 10,000 h)."""
        if not hasattr(mmap, "MADV_DONTNEED"):
            return
        for lo, hi in self._ranges(b0, b1):
            self._map.madvise(mmap.MADV_DONTNEED, lo, hi - lo)

    def _keys(self, qh: np.ndarray):
        # the query keys that fit, in the file's order (scrambled): a lookup then walks the
        # directory and the stream forwards instead of jumping, 3-4x faster per key once
        # they no longer fit the CPU's caches (and it reads each page once)
        qh = np.asarray(qh, dtype=np.uint64)
        idx = np.flatnonzero(qh < (np.uint64(1) << np.uint64(self.key_bits)))
        q = scramble(qh[idx], self.key_bits)
        if q.size > 1:
            order = argsort_keys(q, self.key_bits)
            idx, q = idx[order], q[order]
        top = (q >> np.uint64(self.low_bits)).astype(np.int64)
        return idx, top, (q & np.uint64((1 << self.low_bits) - 1)).astype(np.int64)

    def _held(self, top: np.ndarray, low: np.ndarray, few: bool) -> np.ndarray:
        # which keys the key filters let through: those this segment may hold (``few``: at
        # most selective_max times); every key where there are no filters
        if not self.use_filters or self.present.size == 0 or top.size == 0:
            return np.ones(top.size, dtype=np.bool_)
        selective = self.selective if few else _NO_FILTER
        return _filter_pass(self.present, selective, top, low, self.low_bits)

    def counts(self, qh: np.ndarray) -> np.ndarray:
        """Postings of each of ``qh`` in this segment (dead songs included)."""
        out = np.zeros(len(qh), dtype=np.int64)
        idx, top, low = self._keys(qh)

        held = self._held(top, low, few=False)
        if not held.all():
            idx, top, low = idx[held], top[held], low[held]

        def count(top, low):
            return _key_counts(
                self.stream, self.offsets, top, low, self.u_bits, self.gbits, self.stop_g,
                self.stored_max + 1,
            )  # fmt: skip

        for a, n in self._walk(count, top, low):
            out[idx[a : a + n.size]] = n
        return out

    def lookup(
        self,
        qh: np.ndarray,
        skip: np.ndarray | None = None,
        cap: int | None = None,
        with_pos: bool = True,
        over: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(query index, song row, frame, bit position)`` of every posting of ``qh``
        but those of the query hashes where ``skip`` is true or that have more than
        ``cap`` postings here, in the file's order (not the query's); ``with_pos=False``
        leaves the bit positions out (an empty fourth array). ``over`` (booleans, one per
        query hash) is set where a hash was left out for the cap; without ``over``, a cap
        of at most :attr:`selective_max` skips the hashes outside the selective filter
        unread (they are over it, or absent)."""
        idx, top, low = self._keys(qh)
        sk = np.zeros(idx.size, dtype=np.bool_) if skip is None else np.asarray(skip)[idx]
        cap = np.iinfo(np.int64).max if cap is None else int(cap)
        row_of, shift = self._rows()
        # the keys the filters rule out are dropped before the walk: their blocks are not
        # read, and a window of the file that no key is left in is not mapped at all
        held = self._held(top, low, few=over is None and cap <= self.selective_max)
        if not held.all():
            idx, top, low, sk = idx[held], top[held], low[held], sk[held]
        over = np.zeros(0, np.bool_) if over is None else over

        def find(top, idx, low, sk):
            return _lookup(
                self.stream, self.offsets, idx, top, low, self.u_bits, self.gbits, sk, cap,
                self.songs.starts, row_of, shift, bool(with_pos), over, self.stop_g,
            )  # fmt: skip

        parts = [r for _, r in self._walk(find, top, idx, low, sk)]
        if len(parts) == 1:
            return parts[0]
        return tuple(np.concatenate(a) for a in zip(*parts, strict=True))

    def _rows(self) -> tuple[np.ndarray, int]:
        # the song row at every 2^shift-th point of the time line (about two a song), so
        # that a posting's song is found in a step or two instead of a binary search over
        # every song (a tenth of the cost of a lookup's output at 1,000 h)
        if self._row_of is None:
            starts = self.songs.starts
            total = int(starts[-1] + self.songs.lengths[-1]) if starts.size else 0
            mean = max(1, total // max(1, starts.size))
            shift = max(0, mean.bit_length() - 2)
            points = np.arange((total >> shift) + 1, dtype=np.int64) << shift
            row_of = np.searchsorted(starts, points, side="right") - 1
            self._row_of = (np.maximum(row_of, 0).astype(np.int64), shift)
        return self._row_of

    def chunk(self, c: int, j: int, release: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Postings whose scrambled key has top ``c`` bits ``j``: ``(scrambled key, g)``;
        ``release=True`` then lets their pages go (:meth:`release_blocks`)."""
        key_bits = self.key_bits
        lo_key, hi_key = j << (key_bits - c), (j + 1) << (key_bits - c)
        b0 = lo_key >> self.low_bits
        b1 = ((hi_key - 1) >> self.low_bits) + 1
        keys, g = _decode_range(
            self.stream, self.offsets, b0, b1, self.u_bits, self.low_bits, self.gbits
        )
        if release:
            self.release_blocks(b0, b1)
        keep = (keys >= lo_key) & (keys < hi_key)
        if not keep.all():
            keys, g = keys[keep], g[keep]
        return keys, g

    def bucket_histogram(self) -> np.ndarray:
        """``out[k]``: how many distinct hashes have ``k`` postings here (read from the block
        headers when a block is one hash, else decoded a chunk of the key space at a time,
        so memory stays one chunk's whatever the segment's size); the keys stored as a stop
        posting count at ``stored_max + 1``."""
        stop_count = self.stored_max + 1
        if self.u_bits == self.gbits:
            out = np.bincount(
                _header_counts(
                    self.stream, self.offsets, self.u_bits, self.gbits, self.stop_g, stop_count
                )
            )
            out[0] = 0  # empty blocks
            return out
        c = min(self.top_bits, max(0, int(self.n_postings // _CHUNK).bit_length()))
        out = np.zeros(1, dtype=np.int64)
        for j in range(1 << c):
            keys, g = self.chunk(c, j, release=True)
            if keys.size == 0:
                continue
            starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
            n = np.diff(np.append(starts, keys.size))
            n[g[starts] == self.stop_g] = stop_count
            h = np.bincount(n)
            out = np.pad(out, (0, max(0, h.size - out.size)))
            out[: h.size] += h
        return out


@numba.njit(cache=True)
def _header_counts(buf, offsets, u_bits, gbits, stop_g, stop_count):  # pragma: no cover (numba)
    out = np.zeros(offsets.size - 1, dtype=np.int64)
    for b in range(offsets.size - 1):
        if offsets[b] != offsets[b + 1]:
            start = np.int64(offsets[b])
            stop = _is_stop(buf, start, u_bits, gbits, stop_g)
            out[b] = stop_count if stop else _varint(buf, start)[0]
    return out


# -- writing --------------------------------------------------------------------------------


def _gbits(songs: SongTable, stored_max: int) -> int:
    # bits of g: the time line, and one value more for the stop posting (g = 2^gbits - 1)
    return _bitlen(songs.total if stored_max else max(songs.total - 1, 0))


def _stop_g(gbits: int, stored_max: int) -> int:
    # the g of a stop posting, one past the time line (-1: a segment without them)
    return (1 << gbits) - 1 if stored_max else -1


def _stop_keys(
    keys: np.ndarray, g: np.ndarray, stored_max: int, stop_g: int
) -> tuple[np.ndarray, np.ndarray]:
    """Postings sorted by ``(key, g)`` with every key of more than ``stored_max`` of them, or
    with a stop posting already (``g == stop_g``, a merged segment's), cut to one stop
    posting (``stored_max`` 0: as they are)."""
    if not stored_max or keys.size == 0:
        return keys, g
    first = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    last = np.append(first[1:], keys.size) - 1
    over = (last - first + 1 > stored_max) | (g[last] == stop_g)
    if not over.any():
        return keys, g
    keep = np.ones(keys.size, dtype=np.bool_)
    drop = np.repeat(over, last - first + 1)
    keep[drop] = False
    keep[first[over]] = True
    g = g.copy()
    g[first[over]] = stop_g
    return keys[keep], g[keep]


def _write(
    path: Path,
    songs: SongTable,
    key_bits: int,
    n_postings: int,
    chunks: Iterator[tuple[int, np.ndarray, np.ndarray]],
    c: int,
    stored_max: int = 0,
) -> None:
    # chunks yield (j, keys sorted with g, g) for j = 0 .. 2^c - 1 in order, keys over
    # stored_max already cut to their stop posting; n_postings bounds their count. The
    # file is written under a temporary name, synced, then renamed into place (atomic).
    gbits = _gbits(songs, stored_max)
    stop_g = _stop_g(gbits, stored_max)
    # (the stream goes straight after the reserved directory: no second copy on disk)
    top, off_bytes = choose_layout(n_postings, key_bits, gbits, c)
    low_bits = key_bits - top
    u_bits = low_bits + gbits
    n_blocks = 1 << top
    bound = _stream_bound(n_postings, u_bits, n_blocks)
    tmp = path.with_name(path.name + ".tmp")
    n_distinct = 0
    n_stored = 0
    written = 0
    dir_at = _HEADER_SIZE + 40 * songs.ids.size
    dtype = "<u4" if off_bytes == 4 else "<u8"
    done = 0  # directory entries written so far (entry b: where block b starts)
    # the distinct keys of each chunk, and those of at most SELECTIVE_MAX postings, for the
    # key filters (4 bytes a key at most 32 bits wide: 120 MB at 10,000 h)
    held: list[np.ndarray] = []
    few: list[np.ndarray] = []
    key_dtype = np.uint32 if key_bits <= 32 else np.uint64

    def directory(fd: int, upto: int, values=None) -> None:
        # entries done .. upto - 1 are ``written`` (empty blocks), then ``values`` follow;
        # written into the reserved place a chunk at a time (pwrite: the stream's position
        # stays), so memory holds one chunk's entries, not the whole directory (4.3 GB at
        # 10,000 h), and a chunk costs its own blocks only
        nonlocal done
        while done < upto:
            n = min(upto - done, 1 << 20)
            os.pwrite(fd, np.full(n, written, dtype=dtype).tobytes(), dir_at + off_bytes * done)
            done += n
        if values is not None and values.size:
            os.pwrite(fd, values.astype(dtype).tobytes(), dir_at + off_bytes * done)
            done += values.size

    with open(tmp, "wb") as fh:
        fh.write(b"\0" * _HEADER_SIZE)
        fh.write(
            np.concatenate([songs.ids, songs.starts, songs.lengths, songs.counts, songs.sums])
            .astype("<i8")
            .tobytes()
        )
        fh.seek(dir_at + off_bytes * (n_blocks + 1))
        for j, keys, g in chunks:
            if keys.size == 0:
                continue
            first = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
            n_distinct += first.size
            n_stored += keys.size
            held.append(keys[first].astype(key_dtype))
            n = np.diff(np.append(first, keys.size))
            few.append(held[-1][(n <= SELECTIVE_MAX) & (g[first] != stop_g)])
            block = (keys >> np.uint64(low_bits)).astype(np.int64)
            vals = ((keys & np.uint64((1 << low_bits) - 1)) << np.uint64(gbits)) | g.astype(
                np.uint64
            )
            b0 = j << (top - c)
            b1 = (j + 1) << (top - c)
            starts, ends = _runs(block)
            sizes = _block_sizes(block - b0, starts, ends, vals, b1 - b0, u_bits)
            rel = np.concatenate(([0], np.cumsum(sizes)))
            buf = np.zeros(int(rel[-1]) + 8, dtype=np.uint8)
            _encode(block, starts, ends, vals, rel.astype(np.int64), b0, u_bits, buf)
            directory(fh.fileno(), b0 + 1, written + rel[1:].astype(np.uint64))
            fh.write(memoryview(buf)[: int(rel[-1])])
            written += int(rel[-1])
        directory(fh.fileno(), n_blocks + 1)
        fh.write(b"\0" * 8)
        if written > bound:  # pragma: no cover (the bound above is a proof, this its check)
            raise AssertionError(f"{path}: stream of {written} bytes over its bound {bound}")
        end = dir_at + off_bytes * (n_blocks + 1) + written + 8
        fh.write(b"\0" * (_filters_at(end) - end))
        if sum(k.size for k in few) > (1 - SELECTIVE_MIN_OVER) * n_distinct:
            few.clear()  # (no selective filter: lookups read the common keys' blocks)
        blocks = []
        for keys in (held, few):
            words = build_filter(np.concatenate(keys) if keys else np.zeros(0, np.uint64))
            keys.clear()  # (the keys' memory goes before the next filter's)
            fh.write(words.astype("<u8").tobytes())
            blocks.append(words.size // 8)
        head = _HEADER.pack(
            MAGIC, VERSION, key_bits, top, gbits, off_bytes, songs.ids.size, n_stored,
            n_distinct, written, *blocks, SELECTIVE_MAX, stored_max,
        )  # fmt: skip
        fh.seek(0)
        fh.write(head + struct.pack("<I", zlib.crc32(head)))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
    cache_in_large_pages(path)


def checksum_digest(checksum: str) -> int:
    """64-bit digest of a store checksum, kept per song in a segment."""
    return int.from_bytes(
        hashlib.blake2b(checksum.encode(), digest_size=8).digest(), "little", signed=True
    )


def _sort_postings(
    keys: np.ndarray, g: np.ndarray, gbits: int, runs: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    # postings sorted by (key, g): one sort of ``key << gbits | g`` when that fits 64 bits
    # (several times faster than a two-key lexsort), else the lexsort. ``runs``: the input
    # is a few sorted runs end to end (a merge's chunk), which timsort merges in O(n log
    # runs): 4x faster than quicksort there (8 million postings in 17 runs, 0.15 s vs 0.58)
    if keys.size and int(keys.max()).bit_length() + gbits <= 64:
        combined = (keys.astype(np.uint64) << np.uint64(gbits)) | g.astype(np.uint64)
        combined.sort(kind="stable" if runs else None)
        keys = combined >> np.uint64(gbits)
        combined &= np.uint64((1 << gbits) - 1)
        return keys, combined.view(np.int64)
    o = np.lexsort((g, keys))
    return keys[o], g[o]


def write_segment(
    path: str | os.PathLike,
    song_ids,
    hashes_list,
    frames_list,
    checksums=None,
    key_bits: int | None = None,
    stored_max: int = 0,
) -> Path:
    """Write the postings of songs (ids and per-song arrays) as a segment file.

    ``checksums`` are the songs' content checksums in the store (their digests let a
    reader tell a song from a later one that got the same id); ``key_bits`` is the width
    of the hashes (the profile's; the widest hash's when None). ``stored_max > 0``: a key
    of more postings is stored as one *stop posting* instead of them (a lookup with a
    stop list of at most ``stored_max`` postings drops it anyway, as it would drop the
    postings; lookups with a larger one or none lose it).
    """
    path = Path(path)
    ids = np.asarray(song_ids, dtype=np.int64)
    sums = np.array(
        [checksum_digest(c) for c in checksums] if checksums is not None else np.zeros(ids.size),
        dtype=np.int64,
    )
    order = np.argsort(ids, kind="stable")
    counts = np.array([len(hashes_list[i]) for i in order], dtype=np.int64)
    lengths = np.array(
        [int(np.max(frames_list[i])) + 1 if len(frames_list[i]) else 0 for i in order],
        dtype=np.int64,
    )
    keep = counts > 0
    order, counts, lengths = order[keep], counts[keep], lengths[keep]
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    songs = SongTable(ids[order], starts, lengths, counts, sums[order])
    n = int(counts.sum())
    if n:
        h = np.concatenate([np.asarray(hashes_list[i], dtype=np.uint64) for i in order])
        g = np.concatenate(
            [
                np.asarray(frames_list[i], dtype=np.int64) + s
                for i, s in zip(order, starts, strict=True)
            ]
        )
    else:
        h, g = np.zeros(0, np.uint64), np.zeros(0, np.int64)
    top_key = int(h.max()) if n else 0
    if key_bits is None:
        key_bits = _bitlen(top_key)
    if top_key >> key_bits:
        raise SegmentError(f"{path}: hash {top_key} does not fit {key_bits} bits")
    gbits = _gbits(songs, stored_max)
    h, g = _sort_postings(scramble(h, key_bits), g, gbits)
    h, g = _stop_keys(h, g, stored_max, _stop_g(gbits, stored_max))
    n = h.size
    c = min(max(0, int(n // _CHUNK).bit_length()), key_bits)

    def chunks():
        bounds = np.searchsorted(
            h, np.arange((1 << c) + 1, dtype=np.uint64) << np.uint64(key_bits - c)
        )
        for j in range(1 << c):
            yield j, h[bounds[j] : bounds[j + 1]], g[bounds[j] : bounds[j + 1]]

    _write(path, songs, key_bits, n, chunks(), c, stored_max)
    return path


def merge_segments(
    path: str | os.PathLike,
    segments: list[Segment],
    removed: list[set[int]] | None = None,
    stored_max: int = 0,
    on_chunk: Callable[[int, int], None] | None = None,
) -> Path:
    """Merge ``segments`` into one new segment file, dropping the song ids ``removed[i]``
    of ``segments[i]``; keys of over ``stored_max`` postings become stop postings (as in
    :func:`write_segment`; the smallest nonzero ``stored_max`` of the call's and the
    inputs' holds: a stop posting cannot be turned back into postings).

    Streams over the key space in chunks, so memory holds one chunk of postings at a time;
    ``on_chunk(done, total)`` is called as each chunk is merged (a progress bar: a merge of
    a 10,000 h index takes minutes).
    A removed song's postings under a stop posting cannot be told apart: the key stays
    stopped (rebuild the index from the store to count them out).
    """
    path = Path(path)
    widths = {s.key_bits for s in segments}
    if len(widths) > 1:
        raise SegmentError(f"{path}: cannot merge segments of {sorted(widths)}-bit hashes")
    key_bits = widths.pop() if widths else 1
    rows = []  # (segment, row) of every live song
    removed = removed or [set() for _ in segments]
    for si, s in enumerate(segments):
        for r, sid in enumerate(s.songs.ids.tolist()):
            if sid not in removed[si]:
                rows.append((sid, si, r))
    rows.sort()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    lengths = np.array([segments[si].songs.lengths[r] for _, si, r in rows], dtype=np.int64)
    counts = np.array([segments[si].songs.counts[r] for _, si, r in rows], dtype=np.int64)
    sums = np.array([segments[si].songs.sums[r] for _, si, r in rows], dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    songs = SongTable(ids, starts, lengths, counts, sums)
    n = int(counts.sum())
    stored_max = min((m for m in (stored_max, *(s.stored_max for s in segments)) if m), default=0)
    # per input segment: new start of each of its rows (-1: dropped)
    remap = [np.full(s.n_songs, -1, dtype=np.int64) for s in segments]
    for k, (_, si, r) in enumerate(rows):
        remap[si][r] = starts[k]
    gbits = _gbits(songs, stored_max)
    stop_g = _stop_g(gbits, stored_max)
    if stored_max:  # (the stream's postings: a bound from the inputs' stored ones)
        n = sum(_stored_bound(s, stored_max, removed[i]) for i, s in enumerate(segments))
    c = min(
        min((s.top_bits for s in segments), default=0),
        max(0, int(n // _CHUNK).bit_length()),
        key_bits,
    )

    # a segment whose songs all stay, laid end to end in the same order (the segments of a
    # bulk build, songs added in id order): its time line moves by one constant
    shift = []
    for s, ns in zip(segments, remap, strict=True):
        d = ns - s.songs.starts
        same = s.n_songs > 0 and (ns >= 0).all() and (d == d[0]).all()
        shift.append(int(d[0]) if same else None)

    def chunk(j):
        ks, gs = [], []
        for s, new_start, d in zip(segments, remap, shift, strict=True):
            keys, g = s.chunk(c, j, release=True)
            if keys.size == 0:
                continue
            stop = g == s.stop_g  # (none where s has no stop postings: stop_g -1)
            if d is not None:
                ks.append(keys)
                gs.append(np.where(stop, stop_g, g + d))
                continue
            row = np.searchsorted(s.songs.starts, g, side="right") - 1
            ns = new_start[row]
            live = (ns >= 0) | stop
            ks.append(keys[live])
            gs.append(np.where(stop, stop_g, g - s.songs.starts[row] + ns)[live])
        if not ks:
            return j, np.zeros(0, np.uint64), np.zeros(0, np.int64)
        # each segment's part is sorted by (key, new g): the songs keep their order (a stop
        # posting, the largest g, stays last)
        keys, g = _sort_postings(np.concatenate(ks), np.concatenate(gs), gbits, runs=True)
        return j, *_stop_keys(keys, g, stored_max, stop_g)

    def counted(chunks: Iterator) -> Iterator:
        for j, part in enumerate(chunks):
            yield part
            if on_chunk is not None:
                on_chunk(j + 1, 1 << c)

    _write(path, songs, key_bits, n, counted(_ahead(chunk, range(1 << c))), c, stored_max)
    out = Segment(path) if stored_max else None
    if out is not None and not out.layout_is_tight():
        # The bound on the stored postings was loose (a key under the stop list in each of
        # many segments can be over it in their sum: 9 billion bound, 335 million stored,
        # merging a 10,000 h build): the output is written again in the layout its own
        # postings call for, one pass over it (the directory was 2.6x too wide).
        tight = path.with_name(path.stem + "-tight.aix")
        merge_segments(tight, [out], stored_max=stored_max)
        os.replace(tight, path)
        fsync_dir(path.parent)
    return path


def _stored_bound(seg: Segment, stored_max: int, removed: set[int]) -> int:
    # postings a merge with stop postings over stored_max can take from seg: at most its
    # live ones and one stop a key (a stop may stand for removed songs' postings only),
    # and at most its stored ones when it stops keys at stored_max or fewer already, else
    # its histogram's count with each key over stored_max as one posting (a decoding pass)
    live = int(seg.songs.counts[~np.isin(seg.songs.ids, list(removed))].sum())
    if seg.stored_max:
        live += int(seg.n_distinct)
    if seg.stored_max and seg.stored_max <= stored_max:
        return min(int(seg.n_postings), live)
    h = seg.bucket_histogram()
    k = np.arange(h.size)
    m = stored_max + 1
    return min(live, int((k[:m] * h[:m]).sum() + h[m:].sum()))


def _ahead(fn, items) -> Iterator:
    """``fn(item)`` for each item in order, the next one computed on a second thread while
    the caller uses the current one (decoding and sorting release the GIL; the writer
    encodes meanwhile). At most two results are held."""
    items = list(items)
    if len(items) < 2:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(1) as pool:
        nxt = pool.submit(fn, items[0])
        for item in items[1:]:
            cur, nxt = nxt.result(), pool.submit(fn, item)
            yield cur
        yield nxt.result()
