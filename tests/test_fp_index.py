"""The query index on disk: same answers as in memory, kept in step with the store, crash-safe."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from aares.fingerprint.catalog import Catalog
from aares.fingerprint.index import (
    DiskIndex,
    Index,
    IndexFolderError,
    _read_manifest,
    index_key_bits,
    open_index,
)
from aares.fingerprint.match import match_signal
from aares.fingerprint.segment import (
    VERSION,
    Segment,
    SegmentError,
    merge_segments,
    write_segment,
)
from aares.fingerprint.store import SongInfo, SQLiteStore
from test_fp_engine import synth_song

SR = 8000


def _postings(index, qh):
    out = index.lookup(np.asarray(qh, dtype=np.uint32))
    return sorted(zip(*(a.tolist() for a in out), strict=True))


def _random_songs(n, seed=0, bits=22):
    rng = np.random.default_rng(seed)
    hs, fs = [], []
    for _ in range(n):
        m = int(rng.integers(0, 4000))
        # skewed like real hashes: a few common values, most rare
        common = rng.integers(0, 50, m) * 977
        h = np.where(rng.random(m) < 0.2, common, rng.integers(0, 1 << bits, m))
        hs.append(h.astype(np.uint32))
        fs.append(np.sort(rng.integers(0, 9000, m)))
    return hs, fs


def test_segment_lookup_equals_memory_and_merge_drops_removed(tmp_path):
    hs, fs = _random_songs(40)
    ids = [3 * i + 1 for i in range(40)]
    write_segment(tmp_path / "a.aix", ids[:25], hs[:25], fs[:25], key_bits=22)
    write_segment(tmp_path / "b.aix", ids[25:], hs[25:], fs[25:], key_bits=22)
    a, b = Segment(tmp_path / "a.aix"), Segment(tmp_path / "b.aix")
    disk = DiskIndex([a, b])
    mem = Index.from_arrays(hs, fs, ids)
    rng = np.random.default_rng(1)
    q = np.concatenate([hs[3][:300], hs[30][:300], rng.integers(0, 1 << 22, 300)])
    assert _postings(disk, q) == _postings(mem, q) and len(_postings(mem, q)) > 600
    assert np.array_equal(disk.song_ids, mem.song_ids) and disk.total_frames == mem.total_frames
    assert len(disk) == len(mem)
    for stop in (False, True):  # the stop list counts a bucket over all segments
        got = disk.lookup(q, stop_list=stop)[0].size
        assert got == mem.lookup(q, stop_list=stop)[0].size
    # hash 7: 6 postings in one segment and 1 in the other; hash 9: 3 and 3
    h1, f1 = np.array([7] * 6 + [9] * 3, np.uint32), np.arange(9)
    h2, f2 = np.array([7, 9, 9, 9, 11], np.uint32), np.arange(5)
    write_segment(tmp_path / "c.aix", [1], [h1], [f1], key_bits=22)
    write_segment(tmp_path / "d.aix", [2], [h2], [f2], key_bits=22)
    two = DiskIndex([Segment(tmp_path / "c.aix"), Segment(tmp_path / "d.aix")])
    small = Index.from_arrays([h1, h2], [f1, f2], [1, 2])
    for cap in (1, 5, 6, 7):
        assert disk_stop(two, [7, 9, 11], cap) == disk_stop(small, [7, 9, 11], cap)
    for cap in (2, 5, 40):  # over the cap in one segment, or in their sum only
        assert disk_stop(disk, q, cap) == disk_stop(mem, q, cap)
        assert disk_stop(DiskIndex([a, b], [{ids[3]}, set()]), q, cap) == disk_stop(
            Index.from_arrays(hs[:3] + hs[4:], fs[:3] + fs[4:], ids[:3] + ids[4:]), q, cap
        )
    # a removed song is skipped at once and dropped by a merge
    gone = ids[4]
    keep = [i for i in range(40) if ids[i] != gone]
    mem2 = Index.from_arrays([hs[i] for i in keep], [fs[i] for i in keep], [ids[i] for i in keep])
    assert _postings(DiskIndex([a, b], [{gone}, set()]), q) == _postings(mem2, q)
    merge_segments(tmp_path / "m.aix", [a, b], [{gone}, set()])
    m = Segment(tmp_path / "m.aix")
    assert _postings(DiskIndex([m]), q) == _postings(mem2, q)
    assert m.n_distinct == len(np.unique(np.concatenate([hs[i] for i in keep])))
    # compressed: the postings take under 4 bytes each for uniform random ones (12 in
    # memory); the directory (4 bytes a block) is on top
    assert m.stream_bytes / len(mem2) < 4.0


def test_a_posting_goes_to_its_song_whatever_the_songs_lengths(tmp_path):
    # a lookup finds a posting's song from a table of the time line (about two points a
    # song) and steps forwards: runs of one-frame songs between long ones must not fool it
    rng = np.random.default_rng(4)
    lengths = [1, 1, 1, 30_000, 2, 1, 7, 1, 12_000, 1, 1, 3, 1, 1, 20_000, 1]
    hs, fs = [], []
    for n in lengths:
        m = max(1, n // 40)
        hs.append(rng.integers(0, 1 << 32, m, dtype=np.uint64).astype(np.uint32))
        fs.append(np.sort(np.append(rng.integers(0, n, m - 1), n - 1)))
    ids = [10 + 7 * i for i in range(len(lengths))]
    write_segment(tmp_path / "a.aix", ids, hs, fs, key_bits=32)
    disk, mem = DiskIndex([Segment(tmp_path / "a.aix")]), Index.from_arrays(hs, fs, ids)
    q = np.concatenate(hs)
    assert _postings(disk, q) == _postings(mem, q) and len(_postings(mem, q)) >= q.size
    assert disk_stop(disk, q, 3) == disk_stop(mem, q, 3)


def test_a_stream_past_4_gb_gets_8_byte_offsets_and_larger_blocks():
    from aares.fingerprint.segment import choose_layout

    # 1,000 h (one segment of 540 million postings, 32-bit keys, 2^29 frames): 4-byte
    # offsets, ~16 postings a block
    top, off = choose_layout(540_000_000, 32, 29)
    assert off == 4 and 8 <= 540_000_000 / 2**top <= 16
    # a segment of 10,000 h / 2 (2.7 billion postings): its stream passes 4 GB; blocks of
    # 32-64 postings keep the 8-byte directory at a quarter of a byte a posting or less
    top, off = choose_layout(2_700_000_000, 32, 30)
    assert off == 8 and 32 <= 2_700_000_000 / 2**top <= 64
    assert off * 2**top / 2_700_000_000 <= 0.25


def test_the_wide_layout_gives_the_same_postings(tmp_path, monkeypatch):
    from aares.fingerprint import segment as segment_mod

    hs, fs = _random_songs(30, seed=5, bits=32)
    ids = list(range(1, 31))
    q = np.concatenate([h[:300] for h in hs[::2]])
    want = _postings(Index.from_arrays(hs, fs, ids), q)
    monkeypatch.setattr(segment_mod, "_OFFSET4_LIMIT", 1 << 10)  # (as if past 4 GB)
    a = Segment(write_segment(tmp_path / "a.aix", ids[:12], hs[:12], fs[:12], key_bits=32))
    b = Segment(write_segment(tmp_path / "b.aix", ids[12:], hs[12:], fs[12:], key_bits=32))
    merged = Segment(merge_segments(tmp_path / "m.aix", [a, b]))
    for seg in (a, b, merged):
        assert seg.offsets.dtype == np.dtype("<u8")
        assert seg.n_postings / 2**seg.top_bits > 16  # larger blocks than the default's
    assert _postings(DiskIndex([a, b]), q) == want
    assert _postings(DiskIndex([merged]), q) == want
    assert _postings(DiskIndex([merged], resident_budget=1), q) == want
    assert disk_stop(DiskIndex([merged]), q, 5) == disk_stop(DiskIndex([a, b]), q, 5)


@pytest.mark.parametrize("window, large", [(None, True), (4096, True), (4096, False)])
def test_released_pages_and_a_resident_budget_give_the_same_postings(
    tmp_path, monkeypatch, window, large
):
    from aares.fingerprint import segment as segment_mod

    if window is not None:  # lookups let go of many windows each
        monkeypatch.setattr(segment_mod, "WINDOW", window)
    if not large:  # segments too large for large pages: read a page at a time
        monkeypatch.setattr(segment_mod, "LARGE_PAGES_MAX_FRACTION", 0.0)
    hs, fs = _random_songs(30, seed=2, bits=32)
    ids = list(range(1, 31))
    write_segment(tmp_path / "a.aix", ids[:20], hs[:20], fs[:20], key_bits=32)
    write_segment(tmp_path / "b.aix", ids[20:], hs[20:], fs[20:], key_bits=32)
    mem = Index.from_arrays(hs, fs, ids)
    q = np.concatenate([h[:400] for h in hs[::3]])
    want = _postings(mem, q)

    def segs(*names):
        return [Segment(tmp_path / n) for n in names]

    for cap in (None, 5):
        assert disk_stop(DiskIndex(segs("a.aix")), q, cap) != []
        assert disk_stop(DiskIndex(segs("a.aix", "b.aix")), q, cap) == disk_stop(mem, q, cap)
    # a budget of one byte: every lookup lets its pages go behind it; the answers are the
    # same, with one segment or two (where the stop list counts first), and arrays returned
    # before stay valid (copies)
    for names in (("a.aix", "b.aix"), ("a.aix",)):
        tight = DiskIndex(segs(*names), resident_budget=1)
        before = tight.lookup(q)
        kept = sorted(zip(*(a.tolist() for a in before), strict=True))
        for _ in range(3):
            assert disk_stop(tight, q, 5) == disk_stop(DiskIndex(segs(*names)), q, 5)
        assert kept == _postings(DiskIndex(segs(*names), resident_budget=0), q)
        assert tight.releases >= 4 * len(names) * (1 if window is None else 4)
    tight = DiskIndex(segs("a.aix", "b.aix"), resident_budget=1)
    assert _postings(tight, q) == want
    tight.release()
    assert _postings(tight, q) == want
    free = DiskIndex(segs("a.aix", "b.aix"), resident_budget=0)
    assert _postings(free, q) == want and free.releases == 0
    free.resident_budget = 1  # a budget set on an open index holds from the next lookup
    assert _postings(free, q) == want and free.releases > 0
    # a budget as large as the files: nothing is let go
    big = DiskIndex(segs("a.aix", "b.aix"), resident_budget=1 << 40)
    assert _postings(big, q) == want and big.releases == 0


def test_a_written_segment_is_cached_again_unchanged_unless_too_large(tmp_path, monkeypatch):
    from aares.fingerprint import segment as segment_mod

    hs, fs = _random_songs(5, seed=4, bits=32)
    path = write_segment(tmp_path / "a.aix", [1, 2, 3, 4, 5], hs, fs, key_bits=32)
    data = path.read_bytes()
    q = np.concatenate([h[:50] for h in hs])
    want = _postings(DiskIndex([Segment(path)]), q)
    linux = hasattr(os, "posix_fadvise")
    assert segment_mod.cache_in_large_pages(path) is linux
    assert path.read_bytes() == data
    assert Segment(path).large_pages
    assert _postings(DiskIndex([Segment(path)]), q) == want
    if linux:  # just read back in full: all of it is in the page cache
        assert Segment(path).cached_bytes() == len(data)
    monkeypatch.setattr(segment_mod, "LARGE_PAGES_MAX_FRACTION", 0.0)
    assert segment_mod.cache_in_large_pages(path) is False
    assert not Segment(path).large_pages
    assert _postings(DiskIndex([Segment(path)]), q) == want


def test_large_pages_are_chosen_for_the_whole_index_not_each_segment(tmp_path, monkeypatch):
    from aares.fingerprint import segment as segment_mod

    hs, fs = _random_songs(10, seed=6, bits=32)
    a = write_segment(tmp_path / "a.aix", range(1, 6), hs[:5], fs[:5], key_bits=32)
    b = write_segment(tmp_path / "b.aix", range(6, 11), hs[5:], fs[5:], key_bits=32)
    largest = max(a.stat().st_size, b.stat().st_size)
    total = a.stat().st_size + b.stat().st_size
    # a machine whose large-page share holds either segment, not both
    memory = int((largest + total) / 2 / segment_mod.LARGE_PAGES_MAX_FRACTION)
    monkeypatch.setattr(segment_mod, "machine_memory_bytes", lambda: memory)
    alone = Segment(a)
    assert alone.large_pages
    index = DiskIndex([alone, Segment(b)])
    assert not any(s.large_pages for s in index.segments)
    assert DiskIndex([Segment(a)]).segments[0].large_pages
    q = np.concatenate([h[:100] for h in hs])
    assert _postings(index, q) == _postings(Index.from_arrays(hs, fs, list(range(1, 11))), q)


def disk_stop(index, qh, cap):
    out = index.lookup(np.asarray(qh, dtype=np.uint32), stop_list=True, cap=cap)
    return sorted(zip(*(a.tolist() for a in out), strict=True))


def test_key_filters_hold_every_key_and_turn_away_almost_every_other():
    from aares.fingerprint.segment import FILTER_BITS_PER_KEY, build_filter, filter_contains

    rng = np.random.default_rng(8)
    keys = np.unique(rng.integers(0, 1 << 32, 200_000, dtype=np.uint64))
    words = build_filter(keys)
    assert words.nbytes * 8 == pytest.approx(FILTER_BITS_PER_KEY * keys.size, rel=0.01)
    assert filter_contains(words, keys).all()  # never a false "no"
    others = np.setdiff1d(rng.integers(0, 1 << 32, 200_000, dtype=np.uint64), keys)
    passed = filter_contains(words, others).mean()
    assert 0 < passed < 0.01  # one in ~300 at 12 bits a key
    # uint32 keys (a writer's) are the same keys as uint64 ones
    assert np.array_equal(words, build_filter(keys.astype(np.uint32)))
    assert filter_contains(np.zeros(0, np.uint64), others).all()  # no filter: no "no"


def test_the_key_filters_change_no_answer_and_skip_the_keys_they_rule_out(tmp_path, monkeypatch):
    from aares.fingerprint import segment as segment_mod
    from aares.fingerprint.segment import SELECTIVE_MAX, filter_contains, scramble

    # (a few common keys among many rare ones: the selective filter is kept all the same)
    monkeypatch.setattr(segment_mod, "SELECTIVE_MIN_OVER", 0.0)
    hs, fs = _random_songs(40, seed=5, bits=32)  # common hashes held hundreds of times
    ids = list(range(1, 41))
    write_segment(tmp_path / "a.aix", ids[:30], hs[:30], fs[:30], key_bits=32)
    write_segment(tmp_path / "b.aix", ids[30:], hs[30:], fs[30:], key_bits=32)
    merge_segments(tmp_path / "m.aix", [Segment(tmp_path / n) for n in ("a.aix", "b.aix")])
    rng = np.random.default_rng(6)
    q = np.concatenate([h[:300] for h in hs[::4]] + [rng.integers(0, 1 << 32, 3000)])
    seg = Segment(tmp_path / "m.aix")
    held, counts = np.unique(np.concatenate(hs).astype(np.uint64), return_counts=True)
    few = held[counts <= SELECTIVE_MAX]
    assert seg.version == VERSION and (counts > SELECTIVE_MAX).sum() >= 20
    assert filter_contains(seg.present, scramble(held, 32)).all()
    assert filter_contains(seg.selective, scramble(few, 32)).all()
    assert filter_contains(seg.selective, scramble(held[counts > SELECTIVE_MAX], 32)).mean() < 0.2
    for names in (("m.aix",), ("a.aix", "b.aix")):
        on = DiskIndex([Segment(tmp_path / n) for n in names])
        off = DiskIndex([Segment(tmp_path / n) for n in names])
        for s in off.segments:
            s.use_filters = False
        assert _postings(on, q) == _postings(off, q) and len(_postings(on, q)) > 1000
        assert np.array_equal(on.counts(q), off.counts(q))
        for cap in (1, 5, SELECTIVE_MAX, SELECTIVE_MAX + 1, 500, None):
            assert disk_stop(on, q, cap) == disk_stop(off, q, cap)
    # the keys the filters rule out are not read: a segment that holds each of them once,
    # given the filters of m.aix (which rule them all out), finds none of them
    absent = np.setdiff1d(rng.integers(0, 1 << 32, 5000, dtype=np.uint64), held)
    absent = absent[~filter_contains(seg.present, scramble(absent, 32))]
    common = held[counts > SELECTIVE_MAX]
    common = common[~filter_contains(seg.selective, scramble(common, 32))]
    assert absent.size > 4000 and common.size >= 15
    cut = np.concatenate([absent, common]).astype(np.uint32)
    path = write_segment(tmp_path / "p.aix", [1], [cut], [np.arange(cut.size)], key_bits=32)
    assert Segment(path).lookup(cut, cap=SELECTIVE_MAX)[0].size == cut.size
    fooled = Segment(path)
    fooled.present, fooled.selective = seg.present, seg.selective
    assert fooled.lookup(cut, cap=SELECTIVE_MAX)[0].size == 0
    # ... the common keys are only skipped under a cap the selective filter knows
    assert fooled.lookup(cut, cap=SELECTIVE_MAX + 1)[0].size == common.size
    assert seg.lookup(cut)[0].size == counts[np.isin(held, common)].sum()


def _as_format_1(path, out):
    # the segment at path as the writer of format 1 left it: the shorter header, no key
    # filters after the stream
    import struct
    import zlib

    from aares.fingerprint.segment import _HEADER_V1, MAGIC

    seg = Segment(path)
    end = seg._stream_at + seg.stream_bytes + 8
    head = _HEADER_V1.pack(
        MAGIC, 1, seg.key_bits, seg.top_bits, seg.gbits, seg._off_bytes,
        seg.n_songs, seg.n_postings, seg.n_distinct, seg.stream_bytes,
    )  # fmt: skip
    data = Path(path).read_bytes()[:end]
    old = head + struct.pack("<I", zlib.crc32(head)) + b"\0" * (96 - len(head) - 4)
    Path(out).write_bytes(old + data[96:])


def test_a_segment_of_format_1_is_read_without_filters(tmp_path):
    hs, fs = _random_songs(6, seed=7, bits=32)
    path = write_segment(tmp_path / "s.aix", list(range(1, 7)), hs, fs, key_bits=32)
    new = Segment(path)
    _as_format_1(path, tmp_path / "v1.aix")
    v1 = Segment(tmp_path / "v1.aix")
    assert v1.version == 1 and v1.present.size == 0 and v1.selective.size == 0
    q = np.concatenate(hs)[::3]
    for cap in (None, 5):
        assert disk_stop(DiskIndex([v1]), q, cap) == disk_stop(DiskIndex([new]), q, cap)
    assert _postings(DiskIndex([v1]), q) == _postings(DiskIndex([new]), q)
    # a merge (aares fp compact) writes it again with filters
    merge_segments(tmp_path / "m.aix", [v1])
    assert Segment(tmp_path / "m.aix").version == VERSION


def _as_format_2(path, out):
    # a segment written without stop postings as the writer of format 2 left it: the
    # header without stored_max, the same layout
    import struct
    import zlib

    from aares.fingerprint.segment import _HEADER_V2, MAGIC, SELECTIVE_MAX

    seg = Segment(path)
    assert seg.stored_max == 0
    head = _HEADER_V2.pack(
        MAGIC, 2, seg.key_bits, seg.top_bits, seg.gbits, seg._off_bytes, seg.n_songs,
        seg.n_postings, seg.n_distinct, seg.stream_bytes, seg.present.size // 8,
        seg.selective.size // 8, SELECTIVE_MAX,
    )  # fmt: skip
    data = Path(path).read_bytes()
    Path(out).write_bytes(
        head + struct.pack("<I", zlib.crc32(head)) + b"\0" * (96 - len(head) - 4) + data[96:]
    )


@pytest.mark.parametrize("bits", [30, 8])  # blocks of several keys, and of one key each
def test_stop_postings_change_no_answer_under_the_stop_list(tmp_path, bits):
    hs, fs = _random_songs(30, seed=11, bits=bits)
    if bits == 8:  # (16 common keys, the others held about 7 times)
        rng = np.random.default_rng(11)
        pick = [rng.random(200) < 0.7 for _ in range(30)]
        hs = [np.where(p, rng.integers(0, 16, 200), rng.integers(16, 256, 200)) for p in pick]
        hs = [h.astype(np.uint32) for h in hs]
        fs = [np.sort(rng.integers(0, 9000, 200)) for _ in range(30)]
    ids = list(range(1, 31))
    full = Segment(write_segment(tmp_path / "f.aix", ids, hs, fs, key_bits=bits))
    stop = Segment(write_segment(tmp_path / "s.aix", ids, hs, fs, key_bits=bits, stored_max=8))
    assert (stop.version, stop.stored_max, full.stored_max) == (VERSION, 8, 0)
    assert (full.u_bits == full.gbits) == (bits == 8)
    held, counts = np.unique(np.concatenate(hs), return_counts=True)
    over = held[counts > 8]
    assert over.size >= 10 and (counts <= 8).sum() >= 10
    # a stopped key is one posting in the file: fewer postings, fewer bytes
    assert stop.n_postings == counts[counts <= 8].sum() + over.size < full.n_postings
    assert stop.nbytes < full.nbytes
    rng = np.random.default_rng(12)
    q = np.concatenate([held, rng.integers(0, 1 << bits, 500)]).astype(np.uint32)
    for cap in (1, 3, 8):
        assert disk_stop(DiskIndex([stop]), q, cap) == disk_stop(DiskIndex([full]), q, cap)
    # counts: exact up to stored_max, stored_max + 1 for a stopped key
    got = DiskIndex([stop]).counts(q)
    want = DiskIndex([full]).counts(q)
    assert np.array_equal(got, np.minimum(want, 9))
    hist = stop.bucket_histogram()
    assert hist[1:9].tolist() == np.bincount(counts, minlength=9)[1:9].tolist()
    assert hist[9] == over.size and hist.size == 10
    # a stop list above stored_max cannot bring a stopped key back: it is dropped
    assert disk_stop(DiskIndex([stop]), over, 20) == []
    assert _postings(DiskIndex([stop]), over) == []
    few = held[counts <= 8]
    assert _postings(DiskIndex([stop]), few) == _postings(DiskIndex([full]), few)


def test_stop_postings_across_segments_and_merges(tmp_path):
    # a key over the stop list in the segments' sum is dropped from all, stopped or not,
    # and a merge stops it; the smallest stored_max holds
    rng = np.random.default_rng(13)
    # keys held ~150 times, ~8 times (over the stop list or not, in one half or in both)
    # and about once
    tiers = [(0, 10, 0.2), (10, 310, 0.1), (310, 1 << 24, 0.7)]
    hs = []
    for _ in range(30):
        parts = [rng.integers(lo, hi, int(400 * w)) for lo, hi, w in tiers]
        hs.append(np.concatenate(parts).astype(np.uint32))
    fs = [np.sort(rng.integers(0, 9000, h.size)) for h in hs]
    ids = list(range(1, 31))
    whole = DiskIndex([Segment(write_segment(tmp_path / "w.aix", ids, hs, fs, key_bits=24))])
    a = write_segment(tmp_path / "a.aix", ids[:12], hs[:12], fs[:12], key_bits=24, stored_max=8)
    a = Segment(a)
    b = Segment(write_segment(tmp_path / "b.aix", ids[12:], hs[12:], fs[12:], key_bits=24))
    held, counts = np.unique(np.concatenate(hs), return_counts=True)
    in_a = np.unique(np.concatenate(hs[:12]), return_counts=True)
    split = np.isin(held, in_a[0][in_a[1] <= 8]) & (counts > 8)  # stopped only by the sum
    assert split.sum() >= 3
    q = held.astype(np.uint32)
    for cap in (2, 8):
        assert disk_stop(DiskIndex([a, b]), q, cap) == disk_stop(whole, q, cap)
    m = Segment(merge_segments(tmp_path / "m.aix", [a, b]))
    assert m.stored_max == 8
    assert m.n_postings == counts[counts <= 8].sum() + (counts > 8).sum()
    for cap in (2, 8):
        assert disk_stop(DiskIndex([m]), q, cap) == disk_stop(whole, q, cap)
    # merged again with a smaller stored_max: that one holds
    m4 = Segment(merge_segments(tmp_path / "m4.aix", [m], stored_max=4))
    assert m4.stored_max == 4
    assert disk_stop(DiskIndex([m4]), q, 4) == disk_stop(whole, q, 4)
    # removed songs: the postings of a key that stays under the stop list go, a stopped
    # key stays stopped (its postings are not there to count out)
    gone = set(ids[:3])
    r = Segment(merge_segments(tmp_path / "r.aix", [m], [gone]))
    rest = DiskIndex(
        [Segment(write_segment(tmp_path / "rest.aix", ids[3:], hs[3:], fs[3:], key_bits=24))]
    )
    left = np.unique(np.concatenate(hs[3:]), return_counts=True)
    kept = left[0][np.isin(left[0], held[counts <= 8])].astype(np.uint32)
    assert kept.size >= 10
    assert disk_stop(DiskIndex([r]), kept, 8) == disk_stop(rest, kept, 8)
    assert disk_stop(DiskIndex([r]), held[counts > 8].astype(np.uint32), 64) == []


def test_a_merge_stopped_only_by_the_sum_is_laid_out_for_its_own_postings(tmp_path):
    # 8 segments hold the same 300 keys twice each (under a stop list of 8 in each, over it
    # in their sum) and rare keys of their own: the merge's bound on its postings counts
    # them all, its output must still have the blocks its few postings need
    rng = np.random.default_rng(15)
    shared = rng.integers(0, 1 << 32, 300, dtype=np.uint64).astype(np.uint32)
    segs, hs, fs = [], [], []
    for k in range(8):
        h = np.concatenate([shared, shared, rng.integers(0, 1 << 32, 200).astype(np.uint32)])
        hs.append(h)
        fs.append(np.sort(rng.integers(0, 5000, h.size)))
        path = tmp_path / f"s{k}.aix"
        segs.append(Segment(write_segment(path, [k + 1], [h], [fs[-1]], None, 32, 8)))
    assert all(s.stored_max == 8 and s.layout_is_tight() for s in segs)
    m = Segment(merge_segments(tmp_path / "m.aix", segs))
    assert m.n_postings == 300 + 8 * 200 and m.layout_is_tight()
    assert not list(tmp_path.glob("*tight*"))
    whole = write_segment(tmp_path / "w.aix", list(range(1, 9)), hs, fs, key_bits=32)
    whole = DiskIndex([Segment(whole)])
    q = np.concatenate(hs)
    assert (
        disk_stop(DiskIndex([m]), q, 8)
        == disk_stop(whole, q, 8)
        == disk_stop(DiskIndex(segs), q, 8)
    )


def test_a_segment_of_format_2_is_read_and_merged_into_stop_postings(tmp_path):
    hs, fs = _random_songs(12, seed=14, bits=32)
    ids = list(range(1, 13))
    path = write_segment(tmp_path / "s.aix", ids, hs, fs, key_bits=32)
    _as_format_2(path, tmp_path / "v2.aix")
    v2 = Segment(tmp_path / "v2.aix")
    assert (v2.version, v2.stored_max, v2.stop_g) == (2, 0, -1) and v2.present.size > 0
    q = np.concatenate(hs)[::2]
    for cap in (None, 5):
        assert disk_stop(DiskIndex([v2]), q, cap) == disk_stop(DiskIndex([Segment(path)]), q, cap)
    m = Segment(merge_segments(tmp_path / "m.aix", [v2], stored_max=5))
    assert (m.version, m.stored_max) == (VERSION, 5)
    assert disk_stop(DiskIndex([m]), q, 5) == disk_stop(DiskIndex([v2]), q, 5)


def test_the_selective_filter_is_left_out_when_few_keys_are_common(tmp_path):
    from aares.fingerprint.segment import SELECTIVE_MAX

    rng = np.random.default_rng(9)
    rare = rng.integers(0, 1 << 32, 20_000, dtype=np.uint64).astype(np.uint32)
    common = np.repeat(np.arange(100, dtype=np.uint32), SELECTIVE_MAX + 1)
    for n_common, kept in ((100, False), (2_900, True)):  # 0.5 % and ~13 % of the keys
        h = np.concatenate([rare, np.repeat(np.arange(n_common, dtype=np.uint32), 65)])
        path = write_segment(
            tmp_path / f"{n_common}.aix", [1], [h], [np.arange(h.size)], key_bits=32
        )
        seg = Segment(path)
        assert seg.present.size > 0 and (seg.selective.size > 0) == kept
        q = np.concatenate([rare[:500], common[::65]])
        want = Index.from_arrays([h], [np.arange(h.size)], [1])
        assert disk_stop(DiskIndex([seg]), q, SELECTIVE_MAX) == disk_stop(want, q, SELECTIVE_MAX)


def test_segment_errors_name_the_file(tmp_path):
    hs, fs = _random_songs(3)
    path = write_segment(tmp_path / "s.aix", [1, 2, 3], hs, fs)
    data = path.read_bytes()
    (tmp_path / "cut.aix").write_bytes(data[: len(data) // 2])
    with pytest.raises(SegmentError, match=r"cut\.aix: index segment is .*\(truncated"):
        Segment(tmp_path / "cut.aix")
    (tmp_path / "foreign.aix").write_bytes(b"PK\x03\x04" + data[4:])
    with pytest.raises(SegmentError, match=r"foreign\.aix: not an aares index segment"):
        Segment(tmp_path / "foreign.aix")
    bad = bytearray(data)
    bad[20] ^= 0xFF
    (tmp_path / "flip.aix").write_bytes(bytes(bad))
    with pytest.raises(SegmentError, match=r"flip\.aix: .*corrupt"):
        Segment(tmp_path / "flip.aix")


def _store_with(tmp_path, n, seed=0):
    st = SQLiteStore(tmp_path / "c.db", profile="default")
    hs, fs = _random_songs(n, seed, bits=21)
    for i, (h, f) in enumerate(zip(hs, fs, strict=True)):
        st.add_song(SongInfo(f"s{i}.wav", f"s{i}", "", 60.0, f"sum{seed}-{i}"), h, f)
    return st, hs


def test_index_follows_the_store_adds_removes_and_reused_ids(tmp_path):
    st, hs = _store_with(tmp_path, 12)
    q = np.concatenate([h[:200] for h in hs])
    folder = tmp_path / "c.db.index"
    disk = open_index(st, key_bits=21)
    assert folder.is_dir() and _postings(disk, q) == _postings(Index.from_store(st), q)
    man = json.loads((folder / "manifest.json").read_text())
    assert man["generation"] == st.generation() and man["key_bits"] == 21
    # in step: the same files, nothing written
    before = sorted(p.name for p in folder.iterdir())
    assert _postings(open_index(st, key_bits=21), q) == _postings(disk, q)
    assert sorted(p.name for p in folder.iterdir()) == before
    # songs added one at a time: new segments, merged LSM-style
    h2, f2 = _random_songs(6, seed=5, bits=21)
    for i, (h, f) in enumerate(zip(h2, f2, strict=True)):
        st.add_song(SongInfo(f"t{i}.wav", f"t{i}", "", 60.0, f"new-{i}"), h, f)
        disk = open_index(st, key_bits=21)
    q = np.concatenate([q, *[h[:200] for h in h2]])
    mem = Index.from_store(st)
    assert _postings(disk, q) == _postings(mem, q)
    assert disk.max_postings == mem.max_postings  # distinct hashes kept exactly on adds
    assert len(disk.segments) < 6
    # remove the song with the largest id, add another: SQLite gives it the same id
    last = int(st.song_ids()[-1])
    st.remove_song(last)
    assert not np.isin(last, open_index(st, key_bits=21).lookup(q)[1]).any()
    hn, fn = _random_songs(1, seed=9, bits=21)
    assert st.add_song(SongInfo("u.wav", "u", "", 60.0, "other"), hn[0], fn[0]) == last
    q = np.concatenate([q, hn[0][:300]])
    assert _postings(open_index(st, key_bits=21), q) == _postings(Index.from_store(st), q)
    # the catalog's hours (which key the index) summed by the store itself
    assert st.audio_seconds() == pytest.approx(sum(s.duration for s in st.songs()))


def test_compact_in_parts_gives_the_same_postings_as_one_segment(tmp_path, monkeypatch):
    from aares.fingerprint import index as index_mod

    st, hs = _store_with(tmp_path, 30, seed=3)
    monkeypatch.setattr(index_mod, "BATCH", 10_000)  # a bulk build of many segments
    monkeypatch.setattr(index_mod, "MERGE_LIMIT", 1)  # (none merged in passing)
    monkeypatch.setattr(index_mod, "UNION_EXACT_MAX", 0)  # distinct counts bounded, as at scale
    folder = tmp_path / "c.db.index"
    many = open_index(st, key_bits=21)
    assert len(many.segments) > 4
    union = len(np.unique(np.concatenate(hs)))
    assert union <= many.n_distinct <= sum(s.n_distinct for s in many.segments)
    st.remove_song(int(st.song_ids()[3]))
    q = np.concatenate([h[:300] for h in hs])
    mem = Index.from_store(st)
    calls = []
    two = index_mod.compact(st, key_bits=21, parts=2, on_progress=lambda *a: calls.append(a))
    assert len(two.segments) == 2 and not any(two.dead)
    # each part's merge is followed chunk by chunk, to its end (a progress bar)
    assert {w for w, _, _ in calls} == {"merging part 1 of 2", "merging part 2 of 2"}
    for what in ("merging part 1 of 2", "merging part 2 of 2"):
        steps = [(d, t) for w, d, t in calls if w == what]
        assert [d for d, _ in steps] == list(range(1, steps[0][1] + 1))
    # the bound is the parts' own counts now, not the many segments' sum it was built from
    live = len(np.unique(np.concatenate([h for _, h, _ in st.all_postings()])))
    assert live <= two.n_distinct <= sum(s.n_distinct for s in two.segments) < many.n_distinct
    assert _read_manifest(folder)["n_distinct"] == two.n_distinct
    assert sorted(p.name for p in folder.glob("*.aix")) == sorted(
        s.path.name for s in two.segments
    )  # the inputs are gone
    counts = [int(s.songs.counts.sum()) for s in two.segments]
    assert abs(counts[0] - counts[1]) < 0.5 * sum(counts)
    assert _postings(two, q) == _postings(mem, q) and disk_stop(two, q, 6) == disk_stop(mem, q, 6)
    calls.clear()
    one = index_mod.compact(st, key_bits=21, on_progress=lambda *a: calls.append(a))
    assert len(one.segments) == 1 and _postings(one, q) == _postings(mem, q)
    assert calls and {w for w, _, _ in calls} == {"merging"} and calls[-1][1] == calls[-1][2]
    assert one.n_distinct == len(np.unique(np.concatenate([h for _, h, _ in st.all_postings()])))


def test_the_key_width_is_read_from_a_manifest_of_any_format_version(tmp_path):
    folder = tmp_path / "c.db.index"
    folder.mkdir()
    assert index_key_bits(folder) is None  # no index yet
    man = {"format": "aares-fp-index", "version": 0, "segments": [], "key_bits": 21}
    (folder / "manifest.json").write_text(json.dumps(man))
    assert index_key_bits(folder) == 21  # an older aares's index: its width, no error
    with pytest.raises(IndexFolderError, match=r"manifest\.json: index format 0, this aares"):
        _read_manifest(folder)  # ... which the reader of the index refuses
    (folder / "manifest.json").write_text('{"not": "ours"}')
    assert index_key_bits(folder) is None


def test_catalog_on_disk_index_matches_the_memory_one(tmp_path):
    songs = [synth_song(s, seconds=20.0) for s in range(5)]
    cat = Catalog(tmp_path / "c.db", profile="default")
    for i, x in enumerate(songs):
        cat.add_signal(x, title=f"song{i}")
    assert isinstance(cat.index, DiskIndex)
    mem = Catalog(tmp_path / "c.db", index="memory")
    assert isinstance(mem.index, Index)
    rng = np.random.default_rng(3)
    found = 0
    for i, x in enumerate(songs):
        a = int(rng.uniform(0, 12) * SR)
        clip = x[a : a + 5 * SR] + 0.02 * rng.standard_normal(5 * SR).astype(np.float32)
        got = match_signal(clip, cat.index, cat.profile, cat.settings, cat.store.postings)
        want = match_signal(clip, mem.index, mem.profile, mem.settings, mem.store.postings)
        assert [m.to_dict() for m in got] == [m.to_dict() for m in want]
        found += bool(got) and got[0].song_id == i + 1
    assert found == 5
    # a damaged segment is reported by name, then rebuilt from the catalog
    seg = next((tmp_path / "c.db.index").glob("seg-*.aix"))
    seg.write_bytes(seg.read_bytes()[:100])
    again = Catalog(tmp_path / "c.db")
    with pytest.warns(UserWarning, match=rf"{seg.name}: index segment is .*rebuilding"):
        idx = again.index
    assert len(idx) == len(mem.index)
    (tmp_path / "c.db.index" / "manifest.json").write_text('{"not": "ours"}')
    with pytest.raises(IndexFolderError, match=r"manifest\.json: not an aares index"):
        open_index(again.store, key_bits=again.profile.hash_bits)
    with pytest.warns(UserWarning, match=r"manifest\.json: not an aares index"):
        assert len(Catalog(tmp_path / "c.db").index) == len(mem.index)


_WRITER = textwrap.dedent(
    """
    import sys, numpy as np
    from aares.fingerprint.index import compact, open_index
    from aares.fingerprint.store import SongInfo, SQLiteStore
    st = SQLiteStore(sys.argv[1], profile="default")
    rng = np.random.default_rng(int(sys.argv[2]))
    for i in range(400):
        m = 30000
        h = rng.integers(0, 1 << 21, m).astype(np.uint32)
        f = np.sort(rng.integers(0, 20000, m))
        st.add_song(SongInfo(f"{sys.argv[2]}-{i}", "t", "", 1.0, f"{sys.argv[2]}-{i}"), h, f)
        open_index(st, key_bits=21)
        if i % 3 == 2:
            compact(st, key_bits=21)
        print(i, flush=True)
    """
)


@pytest.mark.parametrize("delay", [0.5, 1.2, 2.0])
def test_killed_while_indexing_or_merging_stays_consistent(tmp_path, delay):
    db = tmp_path / "c.db"
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(db), "7"], stdout=subprocess.PIPE, env=env
    )
    proc.stdout.readline()  # the first song is in (and numba compiled)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    st = SQLiteStore(db)
    n = len(st.song_ids())
    assert n >= 1
    disk = open_index(st, key_bits=21)  # repairs what lags
    q = np.concatenate([st.postings(int(s))[0][:500] for s in st.song_ids()])
    assert _postings(disk, q) == _postings(Index.from_store(st), q)
    left = {p.name for p in (tmp_path / "c.db.index").iterdir()}
    named = {
        s["file"]
        for s in json.loads((tmp_path / "c.db.index" / "manifest.json").read_text())["segments"]
    }
    assert left == named | {"manifest.json", "lock"}  # no stray temporary files


def test_fp_stats_and_compact_commands(tmp_path):
    from typer.testing import CliRunner

    from aares.cli import app

    st, hs = _store_with(tmp_path, 6)
    st.close()
    db = str(tmp_path / "c.db")
    runner = CliRunner()
    res = runner.invoke(app, ["fp", "stats", "--db", db, "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    # a catalog under TWO_STAGE_HOURS: the index holds the stored pairs themselves
    keys = hs
    assert info["songs"] == 6 and info["postings"] == sum(k.size for k in keys)
    assert info["index"] == "disk" and info["segments"] == 1 and info["hash_bits"] == 21
    assert info["index_bits"] == 21
    assert info["bucket_occupancy"]["max"] >= info["bucket_occupancy"]["median"] >= 1
    assert info["distinct_hashes"] == len(np.unique(np.concatenate(keys)))
    if info["page_cache_bytes"] is not None:  # (Linux, macOS: mincore)
        assert 0 <= info["page_cache_bytes"] <= info["bytes"]
        assert info["memory_bytes"] > info["bytes"]
    with Catalog(db) as cat:
        cat.remove(1)
    res = runner.invoke(app, ["fp", "stats", "--db", db])
    assert res.exit_code == 0 and "1 removed song(s)" in res.output
    assert "format 1.3," in res.output and "key filters" in res.output
    assert info["segment_versions"] == [VERSION] and info["key_filter_bytes"] > 0
    if info["page_cache_bytes"] is not None:
        assert "of the index in memory now" in res.output
        assert "cannot hold the index" not in res.output
    res = runner.invoke(app, ["fp", "compact", "--db", db])
    assert res.exit_code == 0 and "one segment" in res.output
    info = json.loads(runner.invoke(app, ["fp", "stats", "--db", db, "--json"]).output)
    assert info["dead_songs"] == 0 and info["postings"] == sum(k.size for k in keys[1:])
    # an index of format 1 (no key filters) is read, stats says so, compact writes it again
    seg = next(Path(info["index_folder"]).glob("*.aix"))
    _as_format_1(seg, seg)
    res = runner.invoke(app, ["fp", "stats", "--db", db])
    assert "format 1.1," in res.output and "`aares fp compact` rewrites them" in res.output
    assert runner.invoke(app, ["fp", "compact", "--db", db]).exit_code == 0
    info = json.loads(runner.invoke(app, ["fp", "stats", "--db", db, "--json"]).output)
    assert info["segment_versions"] == [VERSION]
    assert info["postings"] == sum(k.size for k in keys[1:])


def test_bucket_histogram_counts_each_hash_once_per_segment(tmp_path):
    # blocks of several hashes (few postings, wide keys) and blocks of one (many postings,
    # narrow keys) must both count every distinct hash's postings
    rng = np.random.default_rng(5)
    narrow = [rng.integers(0, 256, 500).astype(np.uint32) for _ in range(40)]
    cases = {30: _random_songs(40, bits=30), 8: (narrow, [np.arange(500)] * 40)}
    for bits, (hs, fs) in cases.items():
        write_segment(tmp_path / f"{bits}.aix", list(range(40)), hs, fs, key_bits=bits)
        seg = Segment(tmp_path / f"{bits}.aix")
        assert (seg.u_bits == seg.gbits) == (bits == 8)  # one hash a block, or several
        sizes = np.unique(np.concatenate(hs), return_counts=True)[1]
        got = seg.bucket_histogram()
        assert got[1:].tolist() == np.bincount(sizes)[1:].tolist() and got[0] == 0
        stats = DiskIndex([seg]).stats()["bucket_occupancy"]
        assert stats["max"] == sizes.max() and stats["mean"] == pytest.approx(sizes.mean())


def test_opening_an_index_reports_the_songs_it_indexes(tmp_path):
    # a catalog whose index is missing (or of an older format) is indexed when opened: the
    # progress callback follows its songs, then the write; an index in step reports nothing
    st, _ = _store_with(tmp_path, 5)
    st.close()
    calls = []
    with Catalog(tmp_path / "c.db") as cat:
        cat.open_index(on_progress=lambda *a: calls.append(a))
        assert calls == [("indexing songs", k, 5) for k in range(1, 6)] + [
            ("writing the index", 0, None)
        ]
        calls.clear()
        cat.open_index(on_progress=lambda *a: calls.append(a))
    with Catalog(tmp_path / "c.db") as cat:  # a new process: in step, O(1)
        cat.open_index(on_progress=lambda *a: calls.append(a))
    assert calls == []
