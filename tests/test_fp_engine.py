"""The fingerprint engine: landmarks, store, matching, catalog, CLI (synthetic audio)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from aares.fingerprint.catalog import Catalog
from aares.fingerprint.landmarks import (
    PROFILES,
    analyse,
    analyse_query,
    fingerprint,
    landmark_hashes,
    pair_peaks,
    pick_peaks,
    spectrogram,
    unpack_hash,
)
from aares.fingerprint.match import (
    Index,
    MatchSettings,
    _match_factors,
    significance,
    speed_grid,
)
from aares.fingerprint.store import (
    DuplicateSong,
    SongInfo,
    SQLiteStore,
    StoreError,
    decode_postings,
)

SR = 8000
DEFAULT = PROFILES["default"]


def synth_song(seed: int, seconds: float = 30.0, sr: int = SR) -> np.ndarray:
    """A 'song' of random chords (3 partials, 0.1-0.4 s each) over faint noise."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * sr), dtype=np.float64)
    pos = 0
    while pos < out.size:
        n = int(rng.uniform(0.1, 0.4) * sr)
        t = np.arange(n) / sr
        env = np.minimum(1.0, np.arange(n)[::-1] / (0.02 * sr)) * np.exp(-t * rng.uniform(1, 6))
        for f in rng.uniform(150, 3500, size=3):
            seg = env * rng.uniform(0.1, 0.3) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6))
            out[pos : pos + n] += seg[: out.size - pos]
        pos += n
    out += 0.003 * rng.standard_normal(out.size)
    return out.astype(np.float32)


@pytest.fixture(scope="module")
def songs() -> list[np.ndarray]:
    return [synth_song(s) for s in range(4)]


@pytest.fixture()
def catalog(tmp_path, songs) -> Catalog:
    cat = Catalog(tmp_path / "c.db", profile="default")
    for i, x in enumerate(songs[:3]):
        cat.add_signal(x, title=f"song{i}")
    return cat


# -- landmarks ---------------------------------------------------------------------------


def test_pairs_and_hashes_known_answer():
    peaks = np.array([[10.0, 0], [20.0, 3], [15.0, 5], [200.0, 6], [12.0, 80]])
    pairs = pair_peaks(peaks, DEFAULT)
    # (10,0)->(20,3),(15,5); (20,3)->(15,5); 200 is > 63 bins away; frame 80 is > 63 frames
    assert pairs.tolist() == [[0, 1], [0, 2], [1, 2]]
    h, t = landmark_hashes(peaks, pairs, DEFAULT)
    assert [unpack_hash(int(v), DEFAULT) for v in h] == [(10, 10, 3), (10, 5, 5), (20, -5, 2)]
    assert t.tolist() == [0, 0, 3]
    assert h.dtype == np.uint32 and int(h.max()) < (1 << DEFAULT.hash_bits)


def test_fan_out_keeps_nearest_and_course_keeps_strongest():
    peaks = np.array([[50.0, t] for t in range(10)])
    assert len(pair_peaks(peaks[:1].repeat(1, 0), DEFAULT)) == 0
    pairs = pair_peaks(peaks, DEFAULT, fan_out=2)
    assert pairs[pairs[:, 0] == 0, 1].tolist() == [1, 2]
    course = PROFILES["course"]
    strength = np.arange(10, dtype=np.float32)
    pairs = pair_peaks(peaks, course, strength)
    # anchor 0: the zone holds 9 peaks, the 9 strongest of them are all kept (fan-out 10)
    assert sorted(pairs[pairs[:, 0] == 0, 1].tolist()) == list(range(1, 10))
    pairs = pair_peaks(peaks, course, strength, fan_out=3)
    assert pairs[pairs[:, 0] == 0, 1].tolist() == [9, 8, 7]


def test_course_hash_is_the_handouts_packed():
    course = PROFILES["course"]
    peaks = np.array([[100.0, 4], [105.0, 250]])
    h, t = landmark_hashes(peaks, pair_peaks(peaks, course), course)
    assert [unpack_hash(int(v), course) for v in h] == [(100, 105, 246)]


def test_speed_rescaling_recovers_the_original_hashes():
    rng = np.random.default_rng(1)
    peaks = np.column_stack([rng.integers(5, 200, 300), np.sort(rng.integers(0, 2000, 300))])
    peaks = peaks.astype(float)
    pairs = pair_peaks(peaks, DEFAULT)
    h0, t0 = landmark_hashes(peaks, pairs, DEFAULT)
    fast = peaks * [1.05, 1 / 1.05]  # 5 % fast: frequencies up, times shorter
    hf, tf = landmark_hashes(fast, pairs, DEFAULT, speed=1.05)
    assert np.mean(np.isin(hf, h0)) > 0.9
    assert np.mean(np.isin(landmark_hashes(fast, pairs, DEFAULT)[0], h0)) < 0.2


def test_peaks_of_sines_at_known_frequencies():
    t = np.arange(4 * SR) / SR
    freqs = [500.0, 1250.0, 2700.0]
    x = sum(np.sin(2 * np.pi * f * t) for f in freqs).astype(np.float32)
    points, strength = pick_peaks(spectrogram(x, DEFAULT), DEFAULT)
    bins = np.array(freqs) * DEFAULT.n_fft / SR
    found = np.unique(np.round(points[:, 0], 1))
    for b in bins:
        assert np.min(np.abs(points[:, 0] - b)) < 0.15, (b, found)
    # stationary tones give peaks in every neighbourhood block along time, none elsewhere
    assert np.all(np.min(np.abs(points[:, 0][:, None] - bins[None]), axis=1) < 0.5)
    assert strength.dtype == np.float32


def test_silence_gives_no_peaks():
    points, _ = analyse(np.zeros(5 * SR, dtype=np.float32), DEFAULT)
    assert points.shape == (0, 2)
    h, f = fingerprint(np.zeros(100, dtype=np.float32), DEFAULT)
    assert h.size == 0 and f.size == 0


def test_speed_grid():
    g = speed_grid(0.06, 0.02)
    assert g[:2] in ((0.98, 1.02), (1.02, 0.98)) and len(g) == 6 and 1.0 not in g


# -- store -------------------------------------------------------------------------------


def test_store_roundtrip_remove_and_profile_check(tmp_path):
    db = SQLiteStore(tmp_path / "s.db", profile="default")
    h = np.array([9, 3, 3, 7], dtype=np.uint32)
    f = np.array([0, 2, 2, 40], dtype=np.uint32)
    sid = db.add_song(SongInfo("a.wav", "A", "X", 3.0, "sum1"), h, f)
    got_h, got_f = db.postings(sid)
    assert got_h.tolist() == h.tolist() and got_f.tolist() == f.tolist()
    assert db.find_checksum("sum1").title == "A" and db.find_path("a.wav").id == sid
    with pytest.raises(DuplicateSong) as dup:  # checksums are unique
        db.add_song(SongInfo("b.wav", "B", "", 1.0, "sum1"), h, f)
    assert dup.value.song_id == sid
    assert len(db.songs()) == 1
    g = db.generation()
    assert db.remove_song(sid) and not db.remove_song(sid)
    assert db.songs() == [] and db.generation() == g + 1
    db.close()
    with pytest.raises(StoreError, match="profile 'default'"):
        SQLiteStore(tmp_path / "s.db", profile="course")
    (tmp_path / "junk.db").write_text("not a database at all" * 100)
    with pytest.raises(StoreError, match="not an aares catalog"):
        SQLiteStore(tmp_path / "junk.db")
    with pytest.raises(StoreError, match="no such catalog"):
        SQLiteStore(tmp_path / "missing.db", create=False)


def test_index_lookup():
    idx = Index.from_arrays(
        [np.array([5, 1], np.uint32), np.array([5], np.uint32)],
        [np.array([10, 20]), np.array([30])],
        [1, 2],
    )
    qi, song, frame = idx.lookup(np.array([5, 4, 1], np.uint32))
    assert sorted(zip(qi.tolist(), song.tolist(), frame.tolist(), strict=True)) == [
        (0, 1, 10),
        (0, 2, 30),
        (2, 1, 20),
    ]


def test_index_stop_list_skips_overfull_buckets():
    h = np.concatenate([np.full(500, 7), np.arange(100, 1100)]).astype(np.uint32)
    idx = Index.from_arrays([h], [np.arange(h.size)], [1])
    assert idx.max_postings == 64
    assert idx.lookup(np.array([7], np.uint32))[0].size == 500
    assert idx.lookup(np.array([7], np.uint32), stop_list=True)[0].size == 0
    assert idx.lookup(np.array([150], np.uint32), stop_list=True)[2].tolist() == [550]


def test_query_shifts_are_in_song_frames():
    x = synth_song(11, seconds=6.0)
    points, strength, pairs, shift = analyse_query(x, DEFAULT)
    assert DEFAULT.query_shifts == 2 and set(shift.tolist()) == {0, 1}
    assert points.shape[0] == strength.shape[0] and pairs.shape[0] == shift.shape[0]
    # shift 1 starts hop / 2 samples later: its frames are k + 0.5 in the unshifted grid
    frac = points[pairs[shift == 1, 0], 1] % 1.0
    assert np.allclose(frac, 0.5) and np.allclose(points[pairs[shift == 0, 0], 1] % 1.0, 0.0)
    # both ends of a pair come from the same analysis
    assert np.allclose(points[pairs[:, 0], 1] % 1.0, points[pairs[:, 1], 1] % 1.0)


def test_a_posting_votes_once_per_offset():
    # one song with 8 landmarks; the query holds each of them twice (as two shifted analyses
    # do) plus one at another offset: the bar is 8, not 16
    peaks = np.array([[10.0 + 7 * k, 3 * k] for k in range(9)])
    pairs = np.array([[k, k + 1] for k in range(8)])
    h, t = landmark_hashes(peaks, pairs, DEFAULT)
    idx = Index.from_arrays([h], [np.rint(t) + 100], [1])
    q_points = np.concatenate([peaks, peaks])
    q_pairs = np.concatenate([pairs, pairs + 9])
    settings = MatchSettings(min_score=1, min_significance=-99.0, min_spread=0)
    m = _match_factors(q_points, q_pairs, idx, DEFAULT, settings, ((1.0, 1.0),), "exact")
    assert m[0].score == 8 and m[0].offset == pytest.approx(100 * DEFAULT.frame_seconds)


def test_a_song_refused_by_the_ratio_test_is_not_replaced_by_its_competitor():
    # song 1 holds 41 of the query's landmarks at one offset (a significant answer); song 2
    # holds 20 of them at another, amid many chance hits of the same hashes (a similar
    # piece: its bar, 28, stays under version_significance). 41 < 2.2 x 28 refuses song 1,
    # and song 2, with fewer votes, must not become the answer in its place.
    rng = np.random.default_rng(0)
    peaks = np.array([[10.0 + 5 * k, (37 * k) % 200 + 5] for k in range(61)])
    pairs = np.array([[k, k + 1] for k in range(60)])
    h, t = landmark_hashes(peaks, pairs, DEFAULT)
    t = np.rint(t).astype(np.int64)
    near = h[10:30]
    b_h = np.concatenate([near, np.repeat(near, 400)])
    b_t = np.concatenate([t[10:30] + 3000, rng.integers(0, 8000, near.size * 400)])
    idx = Index.from_arrays([h, b_h], [t + 100, b_t], [1, 2])
    settings = MatchSettings(min_score=5, min_significance=3.0, min_spread=0)
    loose = replace(settings, min_ratio=1.0)
    both = _match_factors(peaks, pairs, idx, DEFAULT, loose, ((1.0, 1.0),), "exact")
    assert [(m.song_id, m.score) for m in both] == [(1, h.size), (2, 28)]
    assert both[1].significance < settings.version_significance < both[0].significance
    assert _match_factors(peaks, pairs, idx, DEFAULT, settings, ((1.0, 1.0),), "exact") == []


def test_significance_of_a_bar():
    # 100 hits over 1000 offsets put 0.3 votes in a cell (tolerance 1): a bar of 10 is
    # P ~ 1.2e-12 per cell, of 1 is P = 0.26 (common); 1000 cells searched
    sig = significance(np.array([10, 1]), np.array([100, 100]), np.array([1000, 1000]), 1000)
    assert sig[0] == pytest.approx(8.91, abs=0.01) and sig[1] == pytest.approx(-2.41, abs=0.01)


# -- matching --------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [5.0, 10.0])
def test_excerpts_are_found_with_their_offset(catalog, songs, length):
    rng = np.random.default_rng(3)
    for i in range(3):
        start = float(rng.uniform(0, 30 - length))
        q = songs[i][int(start * SR) : int((start + length) * SR)]
        m = catalog.identify_signal(q)
        assert m and m[0].title == f"song{i}"
        assert abs(m[0].offset - start) < 0.1 and m[0].speed == 1.0
        assert 0 < m[0].confidence <= 1


@pytest.mark.parametrize("speed", [1.05, 0.95])
def test_speed_changed_excerpts_are_found(catalog, songs, speed):
    from aares.fingerprint.audio import resample

    start = 7.0
    seg = songs[1][int(start * SR) : int((start + 10 * speed) * SR)]
    q = resample(seg, int(round(SR * speed)), SR)  # played `speed` times faster
    m = catalog.identify_signal(q)
    assert m and m[0].title == "song1"
    assert abs(m[0].offset - start) < 0.2 and abs(m[0].speed - speed) < 0.015
    no_grid = Catalog(store=catalog.store, settings=MatchSettings(speeds=()))
    assert not no_grid.identify_signal(q) or no_grid.identify_signal(q)[0].score < m[0].score


def test_noisy_excerpt_and_resampled_input(catalog, songs):
    rng = np.random.default_rng(5)
    q = songs[2][10 * SR : 20 * SR]
    noisy = q + np.sqrt(np.mean(q**2)) * rng.standard_normal(q.size).astype(np.float32) * 0.5
    m = catalog.identify_signal(noisy)
    assert m and m[0].title == "song2" and abs(m[0].offset - 10) < 0.1
    jitter = Catalog(store=catalog.store, settings=MatchSettings(dt_jitter=1))
    m = jitter.identify_signal(noisy)
    assert m and m[0].title == "song2" and abs(m[0].offset - 10) < 0.1
    from aares.fingerprint.audio import resample

    m = catalog.identify_signal(resample(q, SR, 22050), sr=22050)
    assert m and m[0].title == "song2"


def test_no_match_for_unknown_audio(catalog, songs):
    rng = np.random.default_rng(9)
    unknown = songs[3][5 * SR : 15 * SR]  # a song that is not in the catalog
    noise = rng.standard_normal(10 * SR).astype(np.float32) * 0.1
    silence = np.zeros(10 * SR, dtype=np.float32)
    t = np.arange(10 * SR) / SR  # a buzzing, speech-like pulse train with moving formants
    buzz = np.sign(np.sin(2 * np.pi * (120 + 20 * np.sin(2 * np.pi * 0.7 * t)) * t))
    buzz = (buzz * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)) * 0.1).astype(np.float32)
    for q in (unknown, noise, silence, buzz):
        assert catalog.identify_signal(q) == []


# -- catalog: files, bad input, checksums, crashes ------------------------------------------


def _write_songs(folder: Path, songs, sr: int = 16000) -> list[Path]:
    from aares.fingerprint.audio import resample

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, x in enumerate(songs):
        p = folder / f"Artist {i} - Title {i}.wav"
        sf.write(p, resample(x, SR, sr), sr, subtype="PCM_16")
        paths.append(p)
    return paths


def test_bad_files_are_reported_and_indexing_goes_on(tmp_path, songs):
    folder = tmp_path / "music"
    good = _write_songs(folder, songs[:1])
    (folder / "empty.wav").write_bytes(b"")
    (folder / "notes.mp3").write_text("this is not audio, just text " * 50)
    raw = good[0].read_bytes()
    (folder / "truncated.wav").write_bytes(raw[:30])
    (folder / "corrupt.flac").write_bytes(b"fLaC" + os.urandom(4000))
    cat = Catalog(tmp_path / "c.db")
    report = cat.add([folder])
    assert [s.title for s in report.added] == ["Title 0"]
    assert report.added[0].artist == "Artist 0"
    failed = {Path(p).name: msg for p, msg in report.failed}
    assert set(failed) == {"empty.wav", "notes.mp3", "truncated.wav", "corrupt.flac"}
    for name, msg in failed.items():
        assert name in msg  # every message names its file
    assert "empty" in failed["empty.wav"]


def test_reindexing_the_same_audio_changes_nothing(tmp_path, songs):
    paths = _write_songs(tmp_path / "m", songs[:2])
    cat = Catalog(tmp_path / "c.db")
    cat.add(paths)
    gen, n = cat.store.generation(), len(cat)
    before = (tmp_path / "c.db").stat().st_size
    copy = tmp_path / "copy.wav"
    copy.write_bytes(paths[0].read_bytes())  # same content under another name
    report = cat.add([*paths, copy])
    assert report.added == [] and len(report.skipped) == 3
    assert cat.store.generation() == gen and len(cat) == n
    assert (tmp_path / "c.db").stat().st_size == before
    assert cat.add_signal(songs[0], "x") == cat.add_signal(songs[0], "y")


_KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from aares.fingerprint.catalog import Catalog
    from aares.fingerprint import store as store_mod
    mode, db, folder = sys.argv[1:]
    done = []
    if mode == "inside":  # killed inside the second song's transaction, before COMMIT
        real = store_mod.SQLiteStore._bump
        def bump(self):
            real(self)
            if len(self.songs()) == 2:
                os.kill(os.getpid(), signal.SIGKILL)
        store_mod.SQLiteStore._bump = bump
    def on_progress(ev):
        done.append(ev)
        if mode == "between" and len(done) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
    Catalog(db).add([folder], jobs=int(os.environ.get("JOBS", "1")), on_progress=on_progress)
    """
)


@pytest.mark.parametrize("mode", ["between", "inside"])
def test_killed_indexing_leaves_a_valid_catalog_that_resumes(tmp_path, songs, mode):
    folder = tmp_path / "m"
    _write_songs(folder, songs)
    db = tmp_path / "c.db"
    script = tmp_path / "kill.py"
    script.write_text(_KILL_SCRIPT)
    proc = subprocess.run([sys.executable, str(script), mode, str(db), str(folder)], check=False)
    assert proc.returncode == -9
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        n_songs = con.execute("SELECT COUNT(*) FROM songs").fetchone()[0]
        blobs = con.execute("SELECT data FROM postings").fetchall()
    expected = 2 if mode == "between" else 1
    assert n_songs == expected and len(blobs) == expected
    for (blob,) in blobs:
        h, f = decode_postings(blob)
        assert h.size > 100
    cat = Catalog(db)
    report = cat.add([folder])
    assert len(report.added) == 4 - expected and len(report.skipped) == expected
    assert len(cat) == 4


def test_parallel_indexing_matches_serial(tmp_path, songs):
    paths = _write_songs(tmp_path / "m", songs[:3])
    a = Catalog(tmp_path / "a.db")
    b = Catalog(tmp_path / "b.db")
    a.add(paths, jobs=1)
    b.add(paths, jobs=2)
    sa = {s.title: a.store.postings(s.id)[0].tolist() for s in a.songs()}
    sb = {s.title: b.store.postings(s.id)[0].tolist() for s in b.songs()}
    assert sa == sb and len(sa) == 3


# -- command line ------------------------------------------------------------------------------


def test_cli_index_identify_list_remove(tmp_path, songs):
    from aares.cli import app

    folder = tmp_path / "m"
    paths = _write_songs(folder, songs[:2])
    (folder / "broken.wav").write_bytes(b"RIFF0000WAVE")
    excerpt = tmp_path / "excerpt.wav"
    sf.write(excerpt, songs[1][8 * SR : 16 * SR], SR)
    db = str(tmp_path / "c.db")
    runner = CliRunner()
    res = runner.invoke(app, ["fp", "index", str(folder), "--db", db])
    assert res.exit_code == 1  # one bad file: reported, the others indexed
    assert "broken.wav" in res.output and "2 added" in res.output
    res = runner.invoke(app, ["fp", "identify", str(excerpt), str(paths[0]), "--db", db, "--json"])
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    assert lines[0]["matches"][0]["title"] == "Title 1"
    assert abs(lines[0]["matches"][0]["offset"] - 8.0) < 0.1
    assert lines[1]["matches"][0]["title"] == "Title 0"
    res = runner.invoke(app, ["fp", "list", "--db", db, "--json"])
    assert [json.loads(line)["title"] for line in res.stdout.splitlines()] == ["Title 0", "Title 1"]
    res = runner.invoke(app, ["fp", "remove", "Title 0", "--db", db])
    assert res.exit_code == 0 and "removed" in res.output
    res = runner.invoke(app, ["fp", "remove", "nope", "--db", db])
    assert res.exit_code == 1 and "no song" in res.output
    res = runner.invoke(app, ["fp", "identify", str(excerpt), "--db", str(tmp_path / "x.db")])
    assert res.exit_code == 1 and "no such catalog" in " ".join(res.output.split())
    broken = str(folder / "broken.wav")
    res = runner.invoke(app, ["fp", "identify", broken, "--db", db])
    assert res.exit_code == 1 and "broken.wav" in res.output
    assert "matches in" not in res.output  # no empty table under the error
    res = runner.invoke(app, ["fp", "identify", broken, str(excerpt), "--db", db])
    assert res.exit_code == 1 and "broken.wav" in res.output and "Title 1" in res.output
    # a folder of excerpts is searched for audio files, as `index` searches one of songs
    (tmp_path / "q" / "more").mkdir(parents=True)
    sf.write(tmp_path / "q" / "more" / "e.wav", songs[1][8 * SR : 16 * SR], SR)
    res = runner.invoke(app, ["fp", "identify", str(tmp_path / "q"), "--db", db, "--json"])
    assert res.exit_code == 0, res.output
    (line,) = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    assert line["excerpt"].endswith("e.wav") and line["matches"][0]["title"] == "Title 1"
    res = runner.invoke(app, ["fp", "identify", str(tmp_path / "q" / "more" / "x"), "--db", db])
    assert res.exit_code == 1 and "no such audio file" in res.output
    (tmp_path / "none").mkdir()
    res = runner.invoke(app, ["fp", "identify", str(tmp_path / "none"), "--db", db])
    assert res.exit_code == 2 and "no audio files found" in res.output
    res = runner.invoke(app, ["fp", "index", str(folder), "--db", db, "--profile", "course"])
    assert res.exit_code == 1 and "built with profile 'default'" in " ".join(res.output.split())


def test_a_song_is_removed_by_its_id_its_path_or_its_title(tmp_path, monkeypatch):
    paths = _write_songs(tmp_path / "m", [synth_song(i, 12.0) for i in range(4)])
    with Catalog(tmp_path / "c.db") as cat:
        cat.add(paths)
        by_title = {s.title: s for s in cat.songs()}
        assert cat.remove(by_title["Title 3"].id).title == "Title 3"
        monkeypatch.chdir(tmp_path)  # a path as the user types it, relative to here
        assert cat.remove(str(Path("m") / paths[1].name)).title == "Title 1"
        assert cat.remove("Title 0").id == by_title["Title 0"].id
        with pytest.raises(KeyError, match="no song 'Title 0'"):
            cat.remove("Title 0")
        assert [s.title for s in cat.songs()] == ["Title 2"]


def test_bench_runs_on_a_folder_and_reports(tmp_path, songs):
    from aares.fingerprint.evaluate import BenchConfig, run_bench

    paths = _write_songs(tmp_path / "m", songs)
    cfg = BenchConfig(
        per_song=1,
        lengths=(5.0,),
        holdout=0.25,
        jobs=1,
        variants=("clean", "noise 0 dB", "fast 5 %"),
        n_synthetic_negatives=1,
    )
    res = run_bench(paths, tmp_path / "bench", profiles=("default",), config=cfg)
    rows = res.data["profiles"]["default"]["rows"]
    positives = [r for r in rows if r["positive"]]
    # at least 2 songs are held out: 2 indexed songs x 3 variants
    assert len(positives) == 2 * 3 and all(r["correct"] for r in positives)
    assert not any(r["answered"] for r in rows if not r["positive"])
    table = " ".join(res.markdown.split())  # the writer pads the cells to align the columns
    assert "| clean | 5 s | 2 | 100.0 % (100.0 %) |" in table
    assert "index speed, 1 process" in table
    assert (tmp_path / "bench" / "results.json").is_file()
