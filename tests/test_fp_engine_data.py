"""The fingerprint engine on real songs (skipped without the data folder)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from aares.fingerprint.audio import load_audio, resample
from aares.fingerprint.catalog import Catalog, audio_files


@pytest.fixture(scope="module")
def real_catalog(tmp_path_factory, data_dir):
    files = audio_files([data_dir / "songs"])[:3]
    if len(files) < 3:
        pytest.skip("fewer than 3 course songs in the data folder")
    cat = Catalog(tmp_path_factory.mktemp("fp") / "songs.fp.db", profile="default")
    report = cat.add(files, jobs=1)
    assert len(report.added) == 3 and not report.failed
    return cat, files


def test_seeded_excerpts_of_real_songs_give_song_and_offset(real_catalog, tmp_path):
    cat, files = real_catalog
    rng = np.random.default_rng(42)
    for f in files:
        x, sr = load_audio(f, sr=22050)
        for length in (5.0, 10.0):
            start = float(rng.uniform(0, x.size / sr - length - 1))
            clip = x[int(start * sr) : int((start + length) * sr)]
            path = tmp_path / "excerpt.wav"
            sf.write(path, clip, sr)
            m = cat.identify(path)
            assert m, f"{f.name} at {start:.1f} s: no match"
            assert m[0].path == str(f.resolve())
            assert abs(m[0].offset - start) < 0.1
        # 5 % fast (resampled), 10 s
        start = float(rng.uniform(0, x.size / sr - 12))
        seg = x[int(start * sr) : int((start + 10.5) * sr)]
        m = cat.identify_signal(resample(seg, int(sr * 1.05), sr), sr=sr)
        assert m and m[0].path == str(f.resolve())
        assert abs(m[0].offset - start) < 0.5 and m[0].speed == pytest.approx(1.05, abs=0.011)


def test_unknown_song_excerpt_gives_no_match(real_catalog, data_dir):
    cat, files = real_catalog
    # the course's Debussy excerpt is not in the songs folder; the other course songs are not
    # in this 3-song catalog
    others = audio_files([data_dir / "songs"])[3:5]
    excerpts = audio_files([data_dir / "excerpts"]) if (data_dir / "excerpts").is_dir() else []
    for f in [*excerpts, *others]:
        x, sr = load_audio(f, sr=8000)
        for a in range(0, max(1, x.size - 10 * sr), 30 * sr):
            assert cat.identify_signal(x[a : a + 10 * sr]) == [], f"{f.name} at {a // sr} s"


@pytest.mark.parametrize(
    ("change", "factor"),
    [("speed", 0.85), ("speed", 1.18), ("stretch", 0.9), ("pitch", 2.0)],
)
def test_changed_excerpts_of_real_songs_give_song_offset_and_factor(real_catalog, change, factor):
    # 10 s excerpts of a real song, sped up/slowed (resampled), time-stretched or pitch-shifted
    # (librosa's phase vocoder), are named with the original's offset and the factor found
    import librosa

    cat, files = real_catalog
    rng = np.random.default_rng(19)
    f = files[int(rng.integers(len(files)))]
    x, sr = load_audio(f, sr=22050)
    start = float(rng.uniform(0, x.size / sr - 14))
    a = int(start * sr)
    if change == "pitch":
        q = librosa.effects.pitch_shift(x[a : a + 10 * sr], sr=sr, n_steps=factor)
        tempo, pitch = 1.0, 2 ** (factor / 12)
    elif change == "stretch":
        q = librosa.effects.time_stretch(x[a : a + int(10 * factor * sr)], rate=factor)
        tempo, pitch = factor, 1.0
    else:
        q = resample(x[a : a + int(10 * factor * sr)], int(sr * factor), sr)
        tempo = pitch = factor
    m = cat.identify_signal(q.astype(np.float32), sr=sr)
    assert m, f"{f.name} at {start:.1f} s, {change} {factor}: no match"
    assert m[0].path == str(f.resolve()) and m[0].change == change
    assert abs(m[0].offset - start) < 1.0
    assert m[0].speed == pytest.approx(tempo, abs=0.015)
    assert m[0].pitch == pytest.approx(pitch, abs=0.015)


def test_unknown_piano_excerpt_gives_no_match_in_a_small_catalog(tmp_path, data_dir):
    # Issue 14, item 9: the course's Debussy excerpt (a song not in the catalog) once matched
    # a soundtrack piece at confidence 1.000 in a 14-song catalog. Similar music (the same
    # piano, the same key) shares hashes beyond chance, and a small catalog has few songs to
    # hold the chance bar against; the whole excerpt and its 10 s windows must give no match.
    excerpts = audio_files([data_dir / "excerpts"]) if (data_dir / "excerpts").is_dir() else []
    songs = audio_files([data_dir / "songs"])
    tracks = audio_files([data_dir / "music" / "singularity"])
    if not excerpts or len(songs) + len(tracks) < 14:
        pytest.skip("the excerpt or 14 songs are missing from the data folder")
    cat = Catalog(tmp_path / "small.fp.db", profile="default")
    cat.add([*songs, *tracks][:14])
    x, sr = load_audio(excerpts[0], sr=8000)
    assert cat.identify_signal(x) == []
    for a in range(0, x.size - 10 * sr, 2 * sr):
        assert cat.identify_signal(x[a : a + 10 * sr]) == [], f"window at {a // sr} s"


@pytest.fixture(scope="module")
def soundtrack(tmp_path_factory, data_dir):
    folder = data_dir / "music" / "singularity"
    names = ["Nebula", "Media Threat", "Orbital Elevator", "A New Journey"]
    files = [folder / f"{n}.ogg" for n in names]
    if not all(f.is_file() for f in files + [folder / "Aberrations.ogg"]):
        pytest.skip("the Singularity soundtrack is not in the data folder")
    cat = Catalog(tmp_path_factory.mktemp("fp") / "soundtrack.fp.db", profile="default")
    assert len(cat.add(files, jobs=1).added) == len(files)
    x, sr = load_audio(folder / "Aberrations.ogg", sr=8000)
    return cat, x, sr


def test_a_held_out_track_is_named_only_where_it_shares_a_recording(soundtrack):
    # "Aberrations" (not in the catalog) and "Nebula" are mixed from a common layer in their
    # first 16 s, sample for sample from the first sample (BENCHMARKS.md, "Held-out excerpts
    # that share a recording"): there Nebula is named at the same time; elsewhere the held-out
    # track of the same album is not named
    cat, x, sr = soundtrack
    for start in (2.0, 6.0):
        m = cat.identify_signal(x[int(start * sr) : int((start + 10) * sr)])
        assert m and m[0].title == "Nebula" and abs(m[0].offset - start) < 0.1
    for start in range(30, int(x.size / sr) - 10, 30):
        assert cat.identify_signal(x[start * sr : (start + 10) * sr]) == [], f"at {start} s"
