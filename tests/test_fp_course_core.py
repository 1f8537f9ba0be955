"""Shared fingerprint core: decoding, spectrogram, peak pickers (course helper exactly)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from aares.fingerprint.audio import AudioError, load_audio
from aares.fingerprint.peaks import course_maxima, find_peaks, maximum_filter
from aares.fingerprint.spectrogram import power_spectrogram


# --- a slow, plainly written copy of the course helper, to check course_maxima against ---
def reference_get_maxima(S, shifted=True):
    padded = np.pad(S, 1, constant_values=-np.inf)
    n_bins, n_frames = S.shape
    candidates = []
    for f in range(n_bins):
        for t in range(n_frames):
            v = padded[f + 1, t + 1]
            around = [
                padded[f + 1 + a, t + 1 + b]
                for a in (-1, 0, 1)
                for b in (-1, 0, 1)
                if (a, b) != (0, 0)
            ]
            if all(v >= n for n in around):
                candidates.append((f, t))
    threshold = np.quantile(padded, 0.9)

    def value(f, t):
        return padded[f, t] if shifted else S[f, t]  # the course reads padded[f, t]

    candidates = [p for p in candidates if value(*p) > threshold]
    candidates = sorted(candidates, key=lambda p: value(*p), reverse=True)  # stable
    kept = []
    for p in candidates:
        if all(not (0 < np.hypot(p[0] - q[0], p[1] - q[1]) < 10) for q in kept):
            kept.append(p)
    return np.array(sorted(kept), dtype=np.int64).reshape(-1, 2)


@pytest.mark.parametrize("shifted", [True, False])
@pytest.mark.parametrize("kind", ["uniform", "ties", "heavy"])
def test_course_maxima_equals_reference_on_random(kind, shifted):
    rng = np.random.default_rng(abs(hash(kind)) % 1000)
    for _ in range(15):
        n_bins, n_frames = rng.integers(1, 45, 2)
        if kind == "uniform":
            S = rng.random((n_bins, n_frames))
        elif kind == "ties":  # many equal values: plateaus and tied sort keys
            S = rng.integers(0, 3, (n_bins, n_frames)).astype(float)
        else:
            S = (rng.exponential(size=(n_bins, n_frames)) ** 3).astype(np.float32)
        got = course_maxima(S, shifted=shifted)
        assert got.dtype == np.int64 and got.shape[1] == 2
        np.testing.assert_array_equal(got, reference_get_maxima(S, shifted=shifted))


def test_course_maxima_shifted_quirk_hand_built():
    S = np.zeros((30, 30))
    S[5, 5] = 10.0  # peak whose diagonal neighbour S[4, 4] is 0: dropped by the quirk
    S[15, 15] = 9.0
    S[14, 14] = 3.0  # diagonal neighbour above the threshold: (15, 15) kept
    S[0, 20] = 8.0  # first bin: tested value is -inf, never kept
    S[20, 0] = 8.0  # first frame: same
    assert course_maxima(S).tolist() == [[15, 15]]
    # the corrected picker keeps every clear peak; (14, 14) is not a local max
    assert course_maxima(S, shifted=False).tolist() == [[0, 20], [5, 5], [15, 15], [20, 0]]
    np.testing.assert_array_equal(course_maxima(S), reference_get_maxima(S))


def test_course_maxima_suppression_radius_and_order():
    S = np.zeros((40, 40))
    # shifted values: each peak (f, t) is tested through S[f-1, t-1]
    for (f, t), v in {(10, 10): 5.0, (10, 19): 4.0, (10, 20): 3.0, (25, 10): 2.0}.items():
        S[f, t] = 9.0
        S[f - 1, t - 1] = v
    got = course_maxima(S).tolist()
    # (10, 19) is 9 cells from (10, 10): dropped; (10, 20) at exactly 10 cells: kept
    assert got == [[10, 10], [10, 20], [25, 10]]
    np.testing.assert_array_equal(course_maxima(S), reference_get_maxima(S))


def test_course_maxima_borders_and_plateau():
    S = np.ones((12, 12))
    S[11, 11] = 5.0  # corner peak, tested through S[10, 10] = 1 < threshold 1? no: equal
    assert course_maxima(S).tolist() == reference_get_maxima(S).tolist()
    S = np.arange(144, dtype=float).reshape(12, 12)  # max in the last corner
    np.testing.assert_array_equal(course_maxima(S), reference_get_maxima(S))
    assert course_maxima(S).tolist() == [[11, 11]]


@pytest.mark.parametrize("size", [(1, 1), (3, 3), (15, 13), (4, 6), (2, 9), (50, 120)])
def test_maximum_filter_equals_scipy(size):
    from scipy import ndimage

    rng = np.random.default_rng(size[0] * 100 + size[1])
    for dtype in (np.float32, np.float64, np.int64):
        S = (rng.random((37, 101)) * 10).astype(dtype)
        expected = ndimage.maximum_filter(
            S.astype(np.float64), size=size, mode="constant", cval=-np.inf
        )
        np.testing.assert_array_equal(maximum_filter(S, size), expected)


def test_find_peaks_neighbourhood_threshold_density():
    S = np.zeros((50, 100), dtype=np.float32)
    S[10, 5], S[30, 5], S[12, 7] = 3.0, 2.0, 1.0  # (12, 7) is within (5, 5) of (10, 5)
    assert find_peaks(S, size=(5, 5), threshold=0).tolist() == [[10, 5], [30, 5]]
    # plateau: one peak per neighbourhood, not one per cell
    S2 = np.zeros((20, 20), dtype=np.float32)
    S2[5:7, 5:7] = 1.0
    assert find_peaks(S2, size=(3, 3), threshold=0).tolist() == [[5, 5]]
    S2[5:10, 5:10] = 1.0
    assert find_peaks(S2, size=(5, 5), threshold=0).tolist() == [[5, 5], [8, 5], [5, 8], [8, 8]]
    # density cap: at most 2 peaks per block of 50 frames, the strongest ones
    rng = np.random.default_rng(1)
    S3 = rng.random((60, 100)).astype(np.float32)
    p = find_peaks(S3, size=(3, 3), max_per_window=2, window=50)
    assert len(p) == 4
    full = find_peaks(S3, size=(3, 3))
    for block in (0, 1):
        in_block = full[full[:, 1] // 50 == block]
        best = np.sort(S3[in_block[:, 0], in_block[:, 1]])[-2:]
        got = p[p[:, 1] // 50 == block]
        np.testing.assert_allclose(np.sort(S3[got[:, 0], got[:, 1]]), best)
    # time order
    assert np.all(np.diff(full[:, 1]) >= 0)


@pytest.mark.parametrize("size", [(1, 1), (3, 3), (11, 11), (4, 6), (30, 7)])
def test_find_peaks_one_pass_equals_the_masks(size):
    # the numba pass (finite floats) keeps the cells the masks keep, ties and floors included
    from aares.fingerprint.peaks import local_maxima_mask

    rng = np.random.default_rng(size[0] * 100 + size[1])
    for dtype in (np.float32, np.float64):
        S = rng.integers(0, 4, size=(41, 97)).astype(dtype)  # plateaus everywhere
        for threshold, quantile in ((None, None), (0.1, None), (np.float64(1.0), 0.5), (2, 0.0)):
            mask = local_maxima_mask(S, size)
            for t in (threshold, None if quantile is None else np.quantile(S, quantile)):
                mask &= True if t is None else S > t
            every = np.argwhere(mask.T)[:, ::-1]
            got = find_peaks(S, size=size, threshold=threshold, quantile=quantile)
            assert {tuple(p) for p in got} <= {tuple(p) for p in every}  # then plateaus thinned
            ints = S.astype(np.int64)  # integers take the general path: the same peaks
            assert np.array_equal(got, find_peaks(ints, size, threshold, quantile))


@pytest.mark.parametrize("n", [0, 300, 511, 2048, 7001])
def test_power_spectrogram_equals_librosa(n):
    librosa = pytest.importorskip("librosa")
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    S = power_spectrogram(x, n_fft=2048, hop_length=512, win_length=1024)
    if n >= 1:
        with np.errstate(all="ignore"):
            L = np.abs(librosa.stft(x, n_fft=2048, hop_length=512, win_length=1024)) ** 2
        assert S.shape == L.shape == (1025, 1 + n // 512)
        np.testing.assert_allclose(S, L, rtol=1e-3, atol=1e-5 * max(1.0, float(L.max())))
    assert S.dtype == np.float32


def test_power_spectrogram_sine_bin():
    sr = 3000
    x = np.sin(2 * np.pi * 750 * np.arange(3 * sr) / sr)
    S = power_spectrogram(x, n_fft=2048, hop_length=512, win_length=1024)
    assert S.shape == (1025, 1 + len(x) // 512)
    assert np.all(S[:, 2:-2].argmax(axis=0) == 512)  # 750 Hz = bin 750 / (3000 / 2048)


def test_load_audio_wav_flac_resample_mono(tmp_path):
    sr = 48000
    t = np.arange(sr) / sr
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), 0.5 * np.sin(2 * np.pi * 440 * t)], axis=1)
    for ext in ("wav", "flac", "ogg"):
        path = tmp_path / f"tone.{ext}"
        sf.write(path, stereo.astype(np.float32), sr)
        x, out_sr = load_audio(path, sr=3000)
        assert out_sr == 3000 and x.dtype == np.float32 and x.ndim == 1
        assert abs(len(x) - 3000) <= 1
        assert 0.6 < np.abs(x[300:-300]).max() < 0.9  # mean of 1.0 and 0.5 amplitudes
        y, native = load_audio(path, mono=False)
        assert native == sr and y.shape[0] == 2


def test_load_audio_errors_name_the_file(tmp_path):
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="empty.mp3"):
        load_audio(empty)
    junk = tmp_path / "notes.wav"
    junk.write_text("these are not audio samples\n" * 50)
    with pytest.raises(AudioError, match="notes.wav"):
        load_audio(junk)
    with pytest.raises(AudioError, match="missing.flac"):
        load_audio(tmp_path / "missing.flac")
    # a WAV cut inside its header
    good = tmp_path / "good.wav"
    sf.write(good, np.zeros(1000, dtype=np.float32), 8000)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(good.read_bytes()[:30])
    with pytest.raises(AudioError, match="cut.wav"):
        load_audio(cut)
    assert issubclass(AudioError, ValueError)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
def test_load_audio_through_ffmpeg(tmp_path):
    src = tmp_path / "tone.wav"
    sr = 16000
    sf.write(src, np.sin(2 * np.pi * 440 * np.arange(sr) / sr).astype(np.float32), sr)
    m4a = tmp_path / "tone.m4a"
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(src), "-c:a", "aac", str(m4a)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip("ffmpeg has no AAC encoder")
    x, out_sr = load_audio(m4a, sr=8000)
    assert out_sr == 8000 and abs(len(x) - 8000) < 2000
    assert np.abs(x).max() > 0.5


@pytest.mark.parametrize("file_sr", [44100, 48000, 22050])
def test_load_audio_equals_librosa_load(tmp_path, file_sr):
    librosa = pytest.importorskip("librosa")
    rng = np.random.default_rng(file_sr)
    stereo = (0.3 * rng.standard_normal((file_sr * 2 + 77, 2))).astype(np.float32)
    path = tmp_path / "noise.flac"
    sf.write(path, stereo, file_sr)
    for sr in (3000, 8000):
        x, _ = load_audio(path, sr=sr)
        y, _ = librosa.load(path, sr=sr)
        assert x.shape == y.shape
        np.testing.assert_array_equal(x, y)
