"""Audio values and lengths (issue 14, items 5 and 7): NaN anywhere, silence, a few samples,
long files decoded in blocks, queries capped."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from aares.fingerprint import audio, decoders
from aares.fingerprint.audio import AudioError, load_audio, resample
from aares.fingerprint.catalog import Catalog

from .helpers import run_aares

SR = 8000


def _song(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    x = sum(0.2 * np.sin(2 * np.pi * f * t) * (np.sin(t * r) > 0) for f, r in
            zip(rng.uniform(200, 3000, 6), rng.uniform(1, 9, 6), strict=True))  # fmt: skip
    return (x + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.mark.parametrize("where", [1, 4097, -3])
def test_one_nan_anywhere_is_refused_with_the_file_named(tmp_path, where):
    x = _song(20.0)
    x[where] = np.nan  # the old check sampled every 4096th value and missed most places
    path = tmp_path / "nan.wav"
    sf.write(path, x, SR, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan\.wav: decoded samples are not finite"):
        load_audio(path, sr=SR)


def test_silence_and_tiny_files_fail_instead_of_empty_songs(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    sf.write(folder / "silence.wav", np.zeros(10 * SR, np.float32), SR)
    sf.write(folder / "one.wav", np.array([0.5], np.float32), SR)
    sf.write(folder / "two.wav", np.array([0.5, -0.5], np.float32), SR)
    sf.write(folder / "song.wav", _song(15.0), SR)
    res = run_aares("fp", "index", folder, "--db", tmp_path / "c.db")
    out = res.stdout + res.stderr
    assert "1 added" in out and "3 failed" in out and res.returncode != 0, out
    assert "silence.wav: no landmarks in 10.00 s of audio" in out
    for name in ("one.wav", "two.wav"):
        assert f"{name}: no landmarks" in out
    with Catalog(tmp_path / "c.db") as cat:
        assert [s.title for s in cat.songs()] == ["song"]


def test_long_files_are_resampled_in_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(audio, "STREAM_SECONDS", 5)
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((44100 * 40, 2))).astype(np.float32)
    path = tmp_path / "long.flac"
    sf.write(path, x, 44100)
    full = x.nbytes
    tracemalloc.start()
    y, sr = load_audio(path, sr=SR, quality="MQ")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert sr == SR and y.size == 40 * SR
    assert peak < full / 3  # the file at its own rate was never in memory
    ref = resample(x.mean(axis=1, dtype=np.float32), 44100, SR, quality="MQ")
    assert np.abs(y - ref).max() < 1e-3  # the same samples as resampling the whole file


def test_queries_read_only_their_first_minute(tmp_path):
    x = _song(100.0)
    path = tmp_path / "long.wav"
    sf.write(path, x, SR)
    y, _ = load_audio(path, sr=SR, max_seconds=60)
    assert y.size == 60 * SR and np.array_equal(y, load_audio(path, sr=SR)[0][: 60 * SR])


@pytest.mark.skipif(not audio.shutil.which("ffmpeg"), reason="ffmpeg not installed")
def test_opus_decodes_through_ffmpeg_with_the_same_samples(tmp_path, monkeypatch):
    monkeypatch.setattr(decoders, "_libopus", lambda: None)  # ffmpeg: libopus's fallback
    x = _song(12.0)
    path = tmp_path / "a.opus"
    sf.write(path, resample(x, SR, 48000), 48000, format="OGG", subtype="OPUS")
    fast, _ = load_audio(path, sr=SR, quality="MQ")  # ffmpeg: decoder and resampler
    data, rate = sf.read(path, dtype="float32")
    ref = resample(data, rate, SR, quality="MQ")  # libsndfile at 48 kHz, then soxr
    n = min(fast.size, ref.size)
    assert abs(fast.size - ref.size) <= SR // 100
    assert np.corrcoef(fast[:n], ref[:n])[0, 1] > 0.999


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_pcm_files_decode_to_libsndfiles_own_floats(tmp_path, subtype):
    # 16-bit files are read as stored and scaled by aares: the numbers must be libsndfile's
    rng = np.random.default_rng(3)
    x = np.clip(rng.normal(0, 0.3, (2, 4410)), -1, 1).astype(np.float32)
    for channels in (1, 2):
        path = tmp_path / f"{subtype}-{channels}.wav"
        sf.write(path, x[:channels].T, 44100, subtype=subtype)
        want = sf.read(path, dtype="float32", always_2d=True)[0].T
        got, sr = load_audio(path, mono=False)
        assert sr == 44100 and got.dtype == np.float32
        assert np.array_equal(got, want)
        first, _ = load_audio(path, mono=False, max_seconds=0.05)
        assert np.array_equal(first, want[:, :2205])
