"""Three-point index keys and the two-stage search (synthetic audio; real songs below)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from aares.fingerprint.audio import load_audio, resample
from aares.fingerprint.catalog import Catalog, IndexedStore, audio_files
from aares.fingerprint.index import DiskIndex, open_index
from aares.fingerprint.landmarks import (
    PROFILES,
    _pair_fields,
    _third,
    analyse,
    factor_index_keys,
    index_landmarks,
    pair_peaks,
    peak_landmarks,
    query_index_keys,
)
from aares.fingerprint.match import Index, factor_grid, match_signal
from test_fp_engine import SR, synth_song

DEFAULT = PROFILES["default"]


@pytest.fixture(scope="module")
def songs() -> list[np.ndarray]:
    return [synth_song(s, seconds=30.0) for s in range(5)]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory, songs) -> Catalog:
    cat = Catalog(tmp_path_factory.mktemp("two") / "c.db", profile="default", two_stage_hours=0)
    for i, x in enumerate(songs[:4]):
        cat.add_signal(x, title=f"song{i}")
    return cat


def _pair_index(cat: Catalog) -> Index:
    # the design before three-point keys: the stored pairs themselves, searched directly
    ids = [int(i) for i in cat.store.song_ids()]
    hs, fs = zip(*(cat.store.postings(i) for i in ids), strict=True)
    return Index.from_arrays(list(hs), list(fs), ids)


def test_a_songs_index_keys_are_among_its_own_query_keys(songs):
    # derived from the stored pairs, the keys equal those a query computes from the peaks
    points, strength = analyse(songs[0], DEFAULT)
    h, f = peak_landmarks(points, strength, DEFAULT)
    keys, frames = index_landmarks(h, f, DEFAULT)
    assert keys.size > 0.7 * h.size and DEFAULT.index_bits == 32 and DEFAULT.hash_bits == 21
    assert int(keys.max()) < 1 << 32 and (np.diff(frames.astype(np.int64)) >= 0).all()
    pairs = pair_peaks(points, DEFAULT, strength, fan_out=DEFAULT.query_fan_out)
    q, t = query_index_keys(points, pairs, DEFAULT)
    got = set(zip(q.tolist(), np.rint(t).astype(int).tolist(), strict=True))
    assert set(zip(keys.tolist(), frames.tolist(), strict=True)) <= got
    # a 5 % faster copy of the peaks, undone at its factor, gives the same keys back
    fast = np.column_stack([points[:, 0] * 1.05, points[:, 1] / 1.05])
    q, _ = query_index_keys(fast, pair_peaks(fast, DEFAULT, strength, fan_out=16), DEFAULT, 1.05)
    assert np.isin(keys, q).mean() > 0.8
    # the course profile's index holds its pairs
    course = PROFILES["course"]
    assert index_landmarks(h, f, course)[0] is h and course.index_bits == course.hash_bits


def test_index_keys_do_not_depend_on_the_order_the_postings_come_in(songs):
    # a song's stored postings take the one-pass path (already in anchor order); shuffled
    # or reversed, the same postings are sorted first and give the same keys and frames
    h, f = peak_landmarks(*analyse(songs[2], DEFAULT), DEFAULT)
    keys, frames = index_landmarks(h, f, DEFAULT)
    assert keys.dtype == np.uint32 and frames.dtype == np.uint32 and keys.size > 0
    for order in (np.random.default_rng(0).permutation(h.size), np.arange(h.size)[::-1]):
        k2, f2 = index_landmarks(h[order], f[order], DEFAULT)
        got = sorted(zip(k2.tolist(), f2.tolist(), strict=True))
        assert got == sorted(zip(keys.tolist(), frames.tolist(), strict=True))
        assert (np.diff(f2.astype(np.int64)) >= 0).all()


def test_the_keys_of_every_factor_in_one_pass_are_each_factors_keys(songs):
    # reference: one factor at a time, its pairs joined with the targets gap 1 .. 2 later
    points, strength = analyse(songs[1][: 8 * SR], DEFAULT)
    pairs = pair_peaks(points, DEFAULT, strength, fan_out=16)
    factors = [(1.0, 1.0), *factor_grid()[::7]]
    want_k, want_t, want_w = [], [], []
    for w, (pitch, tempo) in enumerate(factors):
        h, second, dt, t1, ok = _pair_fields(points, pairs, DEFAULT, tempo, 0, pitch)
        a = pairs[:, 0]
        for g in (1, 2):
            r = np.flatnonzero((a[g:] == a[:-g]) & ok[g:] & ok[:-g])
            key, r = _third(h, second, dt, r, r + g, DEFAULT)
            want_k.append(key.astype(np.uint32))
            want_t.append(t1[r])
            want_w.append(np.full(r.size, w))
    k, t, w = factor_index_keys(points, pairs, DEFAULT, factors)
    assert k.size > 1000 and k.dtype == np.uint32
    assert np.array_equal(k, np.concatenate(want_k)) and np.array_equal(w, np.concatenate(want_w))
    assert np.array_equal(t, np.concatenate(want_t))
    one = query_index_keys(points, pairs, DEFAULT, speed=factors[3][1], pitch=factors[3][0])
    assert np.array_equal(one[0], k[w == 3]) and np.array_equal(one[1], t[w == 3])


def test_two_stages_give_the_answers_of_the_pair_search(catalog, songs):
    # The same answer as the search of the pair index, with its votes: those of every
    # analysis of the query, or, where the quick pass answered (accept_score votes on its
    # first analysis alone: the others are not computed), those of that analysis.
    pairs = _pair_index(catalog)
    first_only = replace(DEFAULT, query_shifts=1)
    rng = np.random.default_rng(4)
    ended_quick = 0
    for i in range(4):
        for speed in (1.0, 1.05, 0.9):
            start = float(rng.uniform(0, 18))
            seg = songs[i][int(start * SR) : int((start + 10 * speed) * SR)]
            q = resample(seg, int(round(SR * speed)), SR) if speed != 1 else seg
            q = q + 0.01 * rng.standard_normal(q.size).astype(np.float32)
            got = match_signal(q, catalog.index, DEFAULT, catalog.settings, catalog.store.postings)
            want = match_signal(q, pairs, DEFAULT, catalog.settings)
            want_first = match_signal(q, pairs, first_only, catalog.settings)
            assert got and got[0].song_id == i + 1 and abs(got[0].offset - start) < 0.2
            answer = [(m.song_id, m.score, m.offset, m.speed) for m in got[:1]]
            if answer != [(m.song_id, m.score, m.offset, m.speed) for m in want[:1]]:
                assert answer == [(m.song_id, m.score, m.offset, m.speed) for m in want_first[:1]]
                assert speed == 1.0 and got[0].score >= catalog.settings.accept_score
                ended_quick += 1
    assert ended_quick >= 2  # (the excerpts at speed 1 are answered by the quick pass)
    # negatives: a song not in the catalog, noise
    for q in (songs[4][: 10 * SR], 0.1 * rng.standard_normal(10 * SR).astype(np.float32)):
        assert catalog.identify_signal(q) == []


def test_the_quick_pass_gives_the_answers_of_the_whole_first_stage(catalog, songs, monkeypatch):
    from aares.fingerprint import match

    whole = replace(catalog.settings, quick_shifts=0)
    first_only = replace(DEFAULT, query_shifts=1)
    gaps = []
    retrieve = match._retrieve
    monkeypatch.setattr(
        match, "_retrieve", lambda *a, **k: gaps.append(k.get("gap")) or retrieve(*a, **k)
    )
    rng = np.random.default_rng(5)
    for i in range(4):
        for speed, noise in ((1.0, 0.01), (1.0, 0.3), (1.05, 0.01)):
            start = float(rng.uniform(0, 18))
            seg = songs[i][int(start * SR) : int((start + 10 * speed) * SR)]
            q = resample(seg, int(round(SR * speed)), SR) if speed != 1 else seg
            q = q + noise * rng.standard_normal(q.size).astype(np.float32)
            gaps.clear()
            got = match_signal(q, catalog.index, DEFAULT, catalog.settings, catalog.store.postings)
            quick_only = gaps == [catalog.settings.quick_gap]
            want = match_signal(q, catalog.index, DEFAULT, whole, catalog.store.postings)
            if quick_only:
                # answered on the first analysis alone: the whole search's song and speed,
                # its offset within a frame, and the votes of the whole search run on that
                # analysis
                first = match_signal(q, catalog.index, first_only, whole, catalog.store.postings)
                assert got[0].score >= catalog.settings.accept_score
                assert (got[0].song_id, got[0].speed) == (want[0].song_id, want[0].speed)
                assert abs(got[0].offset - want[0].offset) <= DEFAULT.frame_seconds + 1e-9
                assert got[0].to_dict() == first[0].to_dict()
            else:
                assert [m.to_dict() for m in got] == [m.to_dict() for m in want]
            if noise < 0.1:  # clean: the quick pass answers at the song's speed, only there
                assert quick_only == (speed == 1)
    # the whole first stage after the quick pass looks up only the hashes it did not
    keys = factor_index_keys(*_peaks_pairs(songs[1][: 10 * SR]), DEFAULT, [(1.0, 1.0)])[0]
    keys = np.unique(np.concatenate([keys, rng.integers(0, 1 << 32, 500, dtype=np.uint64)]))
    keys = keys.astype(np.uint32)
    kept = match._Remembered(catalog.index)
    for qh in (keys[::3], keys, keys[1::2]):
        got = kept.lookup(qh, stop_list=True, cap=4)
        want = catalog.index.lookup(qh, stop_list=True, cap=4)
        as_set = [sorted(zip(*(a.tolist() for a in x), strict=True)) for x in (got, want)]
        assert as_set[0] == as_set[1] and len(as_set[0]) > 100


def _peaks_pairs(x):
    points, strength = analyse(x, DEFAULT, query=True)
    return points, pair_peaks(points, DEFAULT, strength, fan_out=DEFAULT.query_fan_out)


def test_an_index_of_three_point_keys_needs_the_pairs(catalog, songs):
    with pytest.raises(ValueError, match="three-point keys: pass postings="):
        match_signal(songs[0][: 5 * SR], catalog.index, DEFAULT, catalog.settings)


def test_a_pair_index_of_an_older_aares_is_rebuilt_with_three_point_keys(tmp_path, songs):
    db = tmp_path / "old.db"
    cat = Catalog(db, profile="default")
    for i, x in enumerate(songs[:2]):
        cat.add_signal(x, title=f"song{i}")
    cat.close()
    # what an aares before three-point keys left beside the catalog: the 21-bit pairs
    from aares.fingerprint.store import SQLiteStore

    st = SQLiteStore(db)
    old = open_index(st, key_bits=21, rebuild=True)
    assert {s.key_bits for s in old.segments} == {21}
    st.close()
    small = Catalog(db)  # under TWO_STAGE_HOURS: the pair index is the right one, kept
    assert {s.key_bits for s in small.index.segments} == {21}
    # (searched with its own stop list, larger than the first stage's: every posting kept)
    assert {s.stored_max for s in small.index.segments} == {0}
    small.close()
    again = Catalog(db, two_stage_hours=0)  # a catalog past the threshold
    with pytest.warns(UserWarning, match=r"old\.db\.index: .*21-bit keys.*rebuilding it"):
        idx = again.index
    assert isinstance(idx, DiskIndex) and {s.key_bits for s in idx.segments} == {32}
    # three-point keys, looked up under the first stage's stop list only: keys held more
    # often are stored as a stop posting
    assert {s.stored_max for s in idx.segments} == {again.settings.candidates_cap} == {64}
    man = json.loads((tmp_path / "old.db.index" / "manifest.json").read_text())
    assert man["key_bits"] == 32
    m = again.identify_signal(songs[1][8 * SR : 13 * SR])
    assert m and m[0].title == "song1" and abs(m[0].offset - 8) < 0.1
    assert len(idx) == sum(
        index_landmarks(*again.store.postings(int(i)), DEFAULT)[0].size
        for i in again.store.song_ids()
    )
    assert len(IndexedStore(again.store, DEFAULT).postings(1)[0]) > 0


def test_real_excerpts_get_the_pair_search_answers(data_dir, tmp_path):
    files = audio_files([data_dir / "songs"])[:4]
    if len(files) < 4:
        pytest.skip("fewer than 4 course songs in the data folder")
    cat = Catalog(tmp_path / "real.db", profile="default", two_stage_hours=0)
    cat.add(files[:3], jobs=1)
    pairs = _pair_index(cat)
    rng = np.random.default_rng(18)
    settings = cat.settings
    # the first stage without its stop list (every bucket read) gives the same answers
    no_stop = replace(settings, candidates_cap=1 << 40, recheck_candidates=0)
    first_only = replace(DEFAULT, query_shifts=1)
    for k, f in enumerate(files):
        x, _ = load_audio(f, sr=SR)
        for speed in (1.0, 1.05, 1.12):
            start = float(rng.uniform(0, x.size / SR - 14))
            seg = x[int(start * SR) : int((start + 10 * speed) * SR)]
            q = resample(seg, int(round(SR * speed)), SR) if speed != 1 else seg
            got = match_signal(q, cat.index, DEFAULT, settings, cat.store.postings)
            want = match_signal(q, pairs, DEFAULT, settings)
            every = match_signal(q, cat.index, DEFAULT, no_stop, cat.store.postings)
            assert [m.to_dict() for m in got] == [m.to_dict() for m in every]
            if k == 3:  # not in the catalog
                assert got == [] and want == []
                continue
            assert got and got[0].song_id == k + 1 and abs(got[0].offset - start) < 1.0
            # (the votes of every analysis, or of the first where the quick pass answered)
            first = match_signal(q, pairs, first_only, settings)
            answer = (got[0].song_id, got[0].score, got[0].speed)
            if answer != (want[0].song_id, want[0].score, want[0].speed):
                assert answer == (first[0].song_id, first[0].score, first[0].speed)
                assert speed == 1.0 and got[0].score >= settings.accept_score
    related = replace(settings, related=True)
    x, _ = load_audio(files[0], sr=SR)
    got = match_signal(x[20 * SR : 30 * SR], cat.index, DEFAULT, related, cat.store.postings)
    assert got and got[0].song_id == 1


def test_a_reused_song_id_is_matched_on_its_new_pairs(tmp_path, songs):
    # the second stage caches decoded pairs: a song removed and another added under the
    # same id (SQLite reuses the largest) must be verified on the new song's pairs
    cat = Catalog(tmp_path / "r.db", profile="default", two_stage_hours=0)
    cat.add_signal(songs[0], title="a")
    last = cat.add_signal(songs[1], title="b")
    assert cat.identify_signal(songs[1][5 * SR : 10 * SR])[0].title == "b"
    cat.remove(last)
    assert cat.add_signal(songs[2], title="c") == last
    m = cat.identify_signal(songs[2][5 * SR : 10 * SR])
    assert m and m[0].title == "c" and abs(m[0].offset - 5) < 0.1
    assert cat.identify_signal(songs[1][5 * SR : 10 * SR]) == []


def test_the_second_stage_join_finds_every_query_landmark_of_every_posting():
    # a song's stored pairs against a query's sorted hashes (repeated hashes: several query
    # landmarks), as a brute-force join gives them, in the song's order
    from aares.fingerprint.match import _join, _query_bitmap

    rng = np.random.default_rng(3)
    qh = np.sort(rng.integers(0, 1 << 21, 3000)).astype(np.uint32)
    qh = np.sort(np.concatenate([qh, qh[::7]]))  # (some hashes twice)
    hashes = np.concatenate([rng.integers(0, 1 << 21, 20000), qh[::5]]).astype(np.uint32)
    rng.shuffle(hashes)
    frames = np.arange(hashes.size, dtype=np.int64) * 3
    want = [
        (int(q), int(frames[p]))
        for p in range(hashes.size)
        for q in np.flatnonzero(qh == hashes[p])
    ]
    qi, fr = _join(qh, *_query_bitmap(qh), hashes, frames)
    assert list(zip(qi.tolist(), fr.tolist(), strict=True)) == want and len(want) > 600
    empty = _join(qh, *_query_bitmap(qh), hashes[:0], frames[:0])
    assert empty[0].size == 0 and empty[1].size == 0
