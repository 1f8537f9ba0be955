"""Reverberant queries ("slowed + reverb" edits): the late reverberation taken out of the
query's spectrogram before its peaks are picked (songs are analysed dry)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from aares.fingerprint.landmarks import PROFILES, analyse, query_peaks
from aares.fingerprint.spectrogram import suppress_late_reverb
from aares.fingerprint.variants import room_impulse

SR = 8000
PROFILE = PROFILES["default"]


def notes(seed: int, seconds: float = 12.0) -> np.ndarray:
    """Two-note chords of 0.15-0.5 s, decaying; 3 in 10 are 20 dB louder than the others, so
    that their reverberation hides the quiet chords after them."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * SR))
    t = 0.0
    while t < seconds - 1:
        n = int(rng.uniform(0.15, 0.5) * SR)
        level = 1.0 if rng.random() < 0.3 else 0.1
        tt = np.arange(n) / SR
        env = level * np.exp(-4 * tt) * np.minimum(1.0, (n - np.arange(n)) / 80)  # no click
        i0 = int(t * SR)
        for f in rng.uniform(300, 3000, size=2):
            out[i0 : i0 + n] += env * np.sin(2 * np.pi * f * tt)
        t += n / SR
    return (out + 1e-3 * rng.standard_normal(out.size)).astype(np.float32)


def recall(song: np.ndarray, query: np.ndarray) -> float:
    """Fraction of the song's peaks that the query has within a bin and a frame."""
    close = (np.abs(song[:, None, 0] - query[None, :, 0]) <= 1) & (
        np.abs(song[:, None, 1] - query[None, :, 1]) <= 1
    )
    return float(close.any(axis=1).mean())


def test_dereverberated_query_recovers_peaks_that_the_reverb_hid():
    # RT60 1.5 s, as much reverberant as direct energy (the benchmark's "slowed + reverb" room)
    plain, dereverbed = [], []
    for seed in range(4):
        x = notes(seed)
        ir = room_impulse(SR, 1.5, np.random.default_rng(100 + seed), wet=1.0, gap=0.01)
        y = signal.fftconvolve(x, ir)[: x.size].astype(np.float32)
        song = analyse(x, PROFILE)[0]
        plain.append(recall(song, query_peaks(y, PROFILE)[0][0]))
        dereverbed.append(recall(song, query_peaks(y, PROFILE, dereverb=True)[0][0]))
    assert all(d > p for d, p in zip(dereverbed, plain, strict=True)), (plain, dereverbed)
    assert np.mean(dereverbed) >= np.mean(plain) + 0.05, (plain, dereverbed)


def test_dry_query_keeps_most_peaks_when_dereverberated_and_all_by_default():
    # the plain analysis is the song's own (a dry query is the song); the dereverberated one
    # attenuates each note's decay too, so it is only a second try (see match_signal)
    x = notes(7)
    song = analyse(x, PROFILE)[0]
    first = query_peaks(x, PROFILE)[0][0]
    assert recall(song, first) == 1.0
    assert recall(song, query_peaks(x, PROFILE, dereverb=True)[0][0]) >= 0.75


def test_suppress_late_reverb_takes_out_a_tail_and_keeps_the_onset():
    q = 10 ** (-6 * 0.032 / 2.0)  # the default RT60 of 2 s, 32 ms frames
    direct = np.zeros(40)
    direct[3] = 50.0
    tail = [sum(direct[t - k] * (1 - q) / q * q**k for k in range(1, t + 1)) for t in range(40)]
    S = np.array([direct + np.array(tail), direct], dtype=np.float32)
    D = suppress_late_reverb(S, 0.032)
    assert D.shape == S.shape and D.dtype == np.float32
    assert D[0, 3] == pytest.approx(50.0)  # the onset frame: nothing before it to subtract
    # the modelled tail falls to the floor (a tenth of the power) ...
    np.testing.assert_allclose(D[0, 4:], 0.1 * S[0, 4:], rtol=1e-4)
    # ... and a bin with no tail keeps its power
    np.testing.assert_allclose(D[1], S[1])
    assert np.all(D <= S + 1e-6)


def test_suppress_late_reverb_refuses_bad_input():
    with pytest.raises(ValueError, match="bins, frames"):
        suppress_late_reverb(np.zeros(10), 0.032)
    with pytest.raises(ValueError, match="rt60"):
        suppress_late_reverb(np.zeros((2, 10)), 0.032, rt60=0.0)


def test_slowed_and_reverberant_excerpt_of_a_real_song_is_named(tmp_path, data_dir):
    # a seeded "slowed + reverb" excerpt (0.85x through the benchmark's room: RT60 1.5 s, as
    # much reverberant as direct energy) of a course song that the plain search misses (no
    # answer: the tails hide the onsets); the dereverberated second search names it
    from aares.fingerprint.audio import load_audio
    from aares.fingerprint.catalog import Catalog, audio_files
    from aares.fingerprint.variants import changed_excerpt

    files = audio_files([data_dir / "songs"])[:3]
    if len(files) < 3:
        pytest.skip("fewer than 3 course songs in the data folder")
    cat = Catalog(tmp_path / "songs.fp.db", profile="default")
    cat.add(files, jobs=1)
    rng = np.random.default_rng(29)
    f = files[int(rng.integers(3))]
    x, sr = load_audio(f, sr=22050)
    start = float(rng.uniform(0, x.size / sr - 14))
    q = changed_excerpt("slowed + reverb", 0.85, x, sr, start, 10.0, rng)
    m = cat.identify_signal(q, sr=sr)
    assert m, f"{f.name} at {start:.1f} s, slowed + reverb: no match"
    assert m[0].path == str(f.resolve()) and abs(m[0].offset - start) < 1.0
    assert m[0].speed == pytest.approx(0.85, abs=0.015) and m[0].change == "speed"
