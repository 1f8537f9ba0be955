"""The course's fingerprint functions (aares.fingerprint.course) on known inputs."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from aares.fingerprint import course


def _plain_process_signal(x):
    # the handout's steps written plainly: one loop per anchor
    S = course.compute_spectrogram(x)
    maxima = course.get_maxima(S)
    hashes = {}
    for anchor in maxima:
        for h, t_a in course.get_hashes(anchor, course.get_maxima_in_tz(S, maxima, anchor)):
            hashes[h] = t_a
    return hashes


def _tones(seconds=20.0, sr=3000, seed=0):
    # a few tone bursts at changing pitches, plus a little noise
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.01 * rng.standard_normal(t.size)
    for start in np.arange(0, seconds, 0.5):
        f = rng.uniform(100, 1400)
        on = (t >= start) & (t < start + 0.4)
        x[on] += np.sin(2 * np.pi * f * t[on]) * rng.uniform(0.2, 1.0)
    return x.astype(np.float32)


def test_compute_spectrogram_parameters():
    x = _tones(2.0)
    S = course.compute_spectrogram(x)
    assert S.shape == (1025, 1 + x.size // 512) and S.dtype == np.float32
    assert np.all(S >= 0)


def test_get_maxima_hand_built_quirk():
    S = np.zeros((60, 80), dtype=np.float32)
    S[20, 30] = 10.0  # diagonal neighbour S[19, 29] = 1 > threshold: kept
    S[19, 29] = 1.0
    S[40, 60] = 20.0  # diagonal neighbour 0: dropped by the course's shifted test
    S[24, 34] = 8.0  # kept candidate ...
    S[23, 33] = 2.0  # ... with a higher shifted value than (20, 30): wins; (20, 30) dropped
    assert course.get_maxima(S).tolist() == [[24, 34]]
    assert course.get_maxima(S).dtype.kind == "i"


def test_get_maxima_in_tz_zone_bounds_count_and_order():
    S = np.zeros((100, 400))
    anchor = (50, 10)
    maxima = [
        (50, 10),  # the anchor itself: t == t_a is outside
        (40, 50),  # f_a - 10: inside
        (60, 310),  # f_a + 10 and t_a + 300: inside
        (61, 100),  # bin outside
        (55, 311),  # frame outside
        (39, 20),  # bin outside
    ]
    for i in range(12):  # twelve more inside, to test the cap at 10
        maxima.append((45 + i % 5, 20 + 10 * i))
    maxima = np.array(sorted(maxima))
    for k, (f, t) in enumerate(maxima):
        S[f, t] = 1.0 + k
    got = course.get_maxima_in_tz(S, maxima, anchor)
    assert got.shape == (10, 2)
    inside = [tuple(p) for p in maxima if 10 < p[1] <= 310 and 40 <= p[0] <= 60]
    assert len(inside) == 14
    best = sorted(inside, key=lambda p: -S[p])[:10]
    assert [tuple(p) for p in got] == best
    assert course.get_maxima_in_tz(S, maxima, anchor, dt=5).shape == (0, 2)
    narrow = course.get_maxima_in_tz(S, maxima, anchor, df=0, n_points=3)
    assert all(p[0] == 50 for p in narrow) and len(narrow) <= 3


def test_get_hashes_known_values():
    anchor = (12, 40)
    points = np.array([[15, 45], [9, 140], [12, 340]])
    assert course.get_hashes(anchor, points) == [
        (12_015_005, 40),
        (12_009_100, 40),
        (12_012_300, 40),
    ]
    assert course.get_hashes(anchor, np.zeros((0, 2), dtype=int)) == []
    assert all(isinstance(h, int) for h, _ in course.get_hashes(anchor, points))


def test_hashes_of_equals_the_per_anchor_loop_with_ties():
    rng = np.random.default_rng(3)
    S = rng.integers(0, 3, (80, 500)).astype(np.float32)  # many equal values
    cells = rng.choice(80 * 500, 400, replace=False)
    maxima = np.array(sorted(zip(*np.unravel_index(cells, S.shape), strict=True)))
    hashes, times = course.hashes_of(S, maxima)
    expected = [
        hp for a in maxima for hp in course.get_hashes(a, course.get_maxima_in_tz(S, maxima, a))
    ]
    assert list(zip(hashes.tolist(), times.tolist(), strict=True)) == expected


def test_process_signal_equals_plain_steps():
    x = _tones()
    got = course.process_signal(x)
    assert len(got) > 50
    assert got == _plain_process_signal(x)
    assert all(isinstance(h, int) and isinstance(t, int) for h, t in got.items())


def test_process_signal_finds_a_shifted_copy():
    # the same signal delayed by exactly 8 frames: many hashes agree on offset 8
    x = _tones(30.0, seed=5)
    song = course.process_signal(x)
    excerpt = course.process_signal(x[8 * 512 : 8 * 512 + 10 * 3000])
    t_q, t_db = course.matching_times(song, excerpt)
    offsets = t_db - t_q
    assert np.bincount(offsets - offsets.min()).argmax() + offsets.min() == 8
    assert course.search_song([_plain_process_signal(_tones(30.0, seed=6)), song], excerpt)[0] == 1


def test_search_song_one_bin_per_frame():
    # song 0: 6 shared hashes spread over offsets 0..100 (a 10-bin histogram would put them
    # in one wide bar); song 1: 4 shared hashes agreeing on one offset: song 1 must win
    query = {h: 0 for h in range(10)}
    wrong = {h: 20 * h for h in range(6)}
    right = {6: 50, 7: 50, 8: 50, 9: 50}
    assert course.search_song([wrong, right], query) == [1, 0]
    scores = course.score_songs([wrong, right, {}], query)
    assert scores.tolist() == [1, 4, 0]
    assert course.search_song([wrong, right, {}, right], query, n_best=3) == [1, 3, 0]


@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_dataset_round_trip(tmp_path, suffix):
    dataset = [{12_015_005: 40, 1_000_299: 0}, {}, {7: 3}]
    path = course.save_dataset(tmp_path / f"db{suffix}", dataset, names=["a.mp3", "b", "c"])
    assert course.load_dataset(path) == dataset
    loaded, names = course.load_dataset(path, with_names=True)
    assert loaded == dataset and names == ["a.mp3", "b", "c"]
    course.save_dataset(tmp_path / f"plain{suffix}", dataset)
    assert course.load_dataset(tmp_path / f"plain{suffix}", with_names=True) == (dataset, None)


def test_course_pickle_needs_trusted(tmp_path):
    dataset = [{1: 2, 3: 4}, {5: 6}]
    path = tmp_path / "dataset.pkl"
    path.write_bytes(pickle.dumps(dataset))
    with pytest.raises(ValueError, match="pickle.*trusted=True"):
        course.load_dataset(path)
    disguised = tmp_path / "dataset.npz"  # a pickle under another name is refused too
    disguised.write_bytes(pickle.dumps(dataset))
    with pytest.raises(ValueError, match="refused"):
        course.load_dataset(disguised)
    assert course.load_dataset(path, trusted=True) == dataset
    with pytest.raises(ValueError, match="does not write pickles"):
        course.save_dataset(tmp_path / "out.pkl", dataset)


def test_dataset_bad_files_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"songs": []}))
    with pytest.raises(ValueError, match="bad.json"):
        course.load_dataset(bad)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"\x00\x01 not a dataset")
    with pytest.raises(ValueError, match="junk.npz"):
        course.load_dataset(junk)
    with pytest.raises(ValueError, match="missing.npz"):
        course.load_dataset(tmp_path / "missing.npz")


@pytest.mark.data
def test_search_song_finds_course_songs(data_dir):
    if not (data_dir / "songs").is_dir():
        pytest.skip("no songs/ folder in the data folder")
    songs = course.song_files(data_dir / "songs")[:3]
    signals = [course.load(p)[0] for p in songs]
    db = [course.process_signal(x) for x in signals]
    rng = np.random.default_rng(7)
    for i, x in enumerate(signals):
        for _ in range(2):
            # clean 10 s excerpts cut on the frame grid (the course's setting)
            start = 512 * int(rng.integers(0, (x.size - 10 * 3000) // 512))
            excerpt = course.process_signal(x[start : start + 10 * 3000])
            assert course.search_song(db, excerpt)[0] == i
