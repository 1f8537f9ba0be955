"""The fast decoders (fingerprint/decoders.py) give the reference path's signal: libsndfile at
the file's rate, mixed to mono, resampled by soxr. Files are written by libsndfile itself."""

from __future__ import annotations

import subprocess
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from aares.fingerprint import audio, decoders
from aares.fingerprint.audio import AudioError, load_audio, resample
from aares.fingerprint.catalog import Catalog
from aares.fingerprint.landmarks import fingerprint, get_profile

SR = 8000
RATE = 48000

# (suffix, soundfile format, subtype, the decoder, the library it needs)
CODECS = [
    ("mp3", "MP3", "MPEG_LAYER_III", decoders.decode_mp3, decoders._mpg123),
    ("opus", "OGG", "OPUS", decoders.decode_opus, decoders._libopus),
    ("ogg", "OGG", "VORBIS", decoders.decode_av, decoders._av),
]


def _music(seconds: float, seed: int = 0) -> np.ndarray:
    # stereo, rate 48 kHz: gated tones in the band fingerprints use, a different mix per
    # channel, and broadband noise the decoders must filter out
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    left = sum(0.15 * np.sin(2 * np.pi * f * t) * (np.sin(t * r) > 0) for f, r in
               zip(rng.uniform(200, 3500, 8), rng.uniform(1, 9, 8), strict=True))  # fmt: skip
    right = np.roll(left, 480) * 0.7 + 0.1 * np.sin(2 * np.pi * 523.0 * t)
    noise = 0.02 * rng.standard_normal((t.size, 2))
    return (np.stack([left, right], axis=1) + noise).astype(np.float32)


@pytest.fixture(scope="module")
def encoded(tmp_path_factory):
    """``encoded(suffix, seconds=12, seed=0)``: a file written once for the whole module."""
    folder, made = tmp_path_factory.mktemp("encoded"), {}

    def get(suffix: str, seconds: float = 12.0, seed: int = 0):
        key = (suffix, seconds, seed)
        if key not in made:
            fmt, subtype = next((c[1], c[2]) for c in CODECS if c[0] == suffix)
            made[key] = _write(folder / f"{seed}-{seconds:g}.{suffix}", fmt, subtype, seconds, seed)
        return made[key]

    return get


def _write(path, fmt, subtype, seconds, seed=0):
    x = _music(seconds, seed)
    try:  # one second at a time: libsndfile 1.2's Vorbis encoder crashes on a minute at once
        with sf.SoundFile(path, "w", RATE, 2, format=fmt, subtype=subtype) as fh:
            for a in range(0, x.shape[0], RATE):
                fh.write(x[a : a + RATE])
    except (sf.LibsndfileError, ValueError, TypeError) as exc:
        pytest.skip(f"this libsndfile cannot write {subtype}: {exc}")
    return path


def _reference(path, sr: int = SR, lag: bool = True) -> np.ndarray:
    data, rate = sf.read(path, dtype="float32", always_2d=True)
    mono = audio._mix_to_mono(data.T)
    if lag and path.suffix == ".mp3" and rate // 2 >= sr:  # libmpg123 at a reduced rate lags a bit
        mono = np.concatenate([np.zeros(decoders.MP3_REDUCED_RATE_LAG, np.float32), mono[:-1]])
    return resample(mono, rate, sr, quality="MQ")


def _needs(lib):
    if lib() is None:
        pytest.skip("the decoder's library is not installed")


@pytest.mark.parametrize(("suffix", "fmt", "subtype", "decode", "lib"), CODECS)
def test_fast_decoder_gives_the_reference_signal(encoded, suffix, fmt, subtype, decode, lib):
    _needs(lib)
    path = encoded(suffix)
    x = decode(path, SR, "MQ")
    ref = _reference(path)
    assert x.dtype == np.float32 and x.ndim == 1
    assert abs(x.size - ref.size) <= SR // 100  # the same length to 10 ms (encoder delay)
    n = min(x.size, ref.size)
    assert np.corrcoef(x[:n], ref[:n])[0, 1] > 0.999
    assert 0.7 < np.std(x[:n]) / np.std(ref[:n]) < 1.3  # a mean of the channels, not a sum
    # what the catalog stores: most landmarks are the same ones (the rest differ by a bin or
    # a frame: peaks of the noise floor; a real song shares 92-99.5 %, BENCHMARKS.md)
    prof = get_profile("default")
    a = set(zip(*(v.tolist() for v in fingerprint(x, prof)), strict=True))
    b = set(zip(*(v.tolist() for v in fingerprint(ref, prof)), strict=True))
    assert len(a & b) > 0.75 * len(b)
    # and load_audio takes this decoder for the engine's quality
    y, out_sr = load_audio(path, sr=SR, quality="MQ")
    assert out_sr == SR and np.array_equal(y, x)


@pytest.mark.parametrize(("suffix", "fmt", "subtype", "decode", "lib"), CODECS)
def test_songs_indexed_fast_are_found_by_reference_excerpts(
    tmp_path, encoded, suffix, fmt, subtype, decode, lib
):
    _needs(lib)
    songs = [encoded(suffix, seed=seed) for seed in (0, 1, 2)]  # three different songs
    with Catalog(tmp_path / "c.db") as cat:  # the engine's profile: the fast decoders
        assert len(cat.add(songs, jobs=1).added) == 3
        for path in songs:
            ref = _reference(path)
            for start in (1.0, 6.5):
                m = cat.identify_signal(ref[int(start * SR) : int((start + 5) * SR)])
                assert m and m[0].path == str(path.resolve()), (path.name, start)
                assert abs(m[0].offset - start) < 0.1


@pytest.mark.parametrize(("suffix", "fmt", "subtype", "decode", "lib"), CODECS)
def test_fast_decoder_reads_only_what_is_asked(encoded, suffix, fmt, subtype, decode, lib):
    _needs(lib)
    path = encoded(suffix)
    whole = decode(path, SR, "MQ")
    first = decode(path, SR, "MQ", max_seconds=5)
    assert first.size == 5 * SR
    assert np.corrcoef(first[: 4 * SR], whole[: 4 * SR])[0, 1] > 0.9999
    other = decode(path, 16000, "MQ")  # another target rate: 16 kHz output, same signal
    assert abs(other.size - 2 * whole.size) <= 4


@pytest.mark.parametrize(("suffix", "fmt", "subtype", "decode", "lib"), CODECS)
def test_memory_is_the_output_not_the_file(encoded, suffix, fmt, subtype, decode, lib):
    _needs(lib)
    path = encoded(suffix, seconds=30.0)
    tracemalloc.start()
    x = decode(path, SR, "MQ")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert x.size == pytest.approx(30 * SR, abs=SR // 100)
    assert peak < 30 * RATE * 2 * 4 / 3  # the file at 48 kHz stereo never was in memory


@pytest.mark.parametrize(("suffix", "fmt", "subtype", "decode", "lib"), CODECS)
def test_missing_library_falls_back_to_libsndfile(
    encoded, monkeypatch, suffix, fmt, subtype, decode, lib
):
    path = encoded(suffix)
    monkeypatch.setattr(decoders, lib.__name__, lambda: None)
    monkeypatch.setattr(audio.shutil, "which", lambda name: None)  # and no ffmpeg either
    assert decoders.decode_mono(path, SR, "MQ") is None
    x, _ = load_audio(path, sr=SR, quality="MQ")
    ref = _reference(path, lag=False)
    assert x.size == ref.size and np.corrcoef(x, ref)[0, 1] > 0.9999


@pytest.mark.parametrize(("suffix", "fmt", "subtype", "decode", "lib"), CODECS)
def test_damaged_files_name_the_file(tmp_path, encoded, suffix, fmt, subtype, decode, lib):
    good = encoded(suffix)
    data = good.read_bytes()
    junk = tmp_path / f"junk.{suffix}"
    junk.write_bytes(b"OggS" + bytes(range(256)) * 40 if suffix != "mp3" else b"\x00" * 9000)
    with pytest.raises(AudioError, match=rf"junk\.{suffix}: "):
        load_audio(junk, sr=SR, quality="MQ")
    header = tmp_path / f"header.{suffix}"
    header.write_bytes(data[:60])  # cut inside the first page / frame
    with pytest.raises(AudioError, match=rf"header\.{suffix}: "):
        load_audio(header, sr=SR, quality="MQ")
    cut = tmp_path / f"cut.{suffix}"
    cut.write_bytes(data[: len(data) // 2])  # truncated: the first half decodes
    x, _ = load_audio(cut, sr=SR, quality="MQ")
    assert 4 * SR < x.size < 8 * SR


def test_chained_and_surround_opus_go_the_general_way(tmp_path, encoded):
    _needs(decoders._libopus)
    one = encoded("opus", seconds=3.0)
    chained = tmp_path / "chained.opus"
    chained.write_bytes(one.read_bytes() * 2)  # two streams one after the other
    with pytest.raises(decoders.DecodeError, match="chained"):
        decoders.decode_opus(chained, SR)
    assert decoders.decode_mono(chained, SR) is None
    surround = tmp_path / "surround.opus"
    try:
        sf.write(surround, np.zeros((RATE, 6), np.float32), RATE, format="OGG", subtype="OPUS")
    except (sf.LibsndfileError, ValueError, TypeError):
        return
    head = surround.read_bytes()
    if head[28 + 18] != 0:  # channel mapping family 1
        with pytest.raises(decoders.DecodeError, match="family"):
            decoders.decode_opus(surround, SR)


def test_sink_streams_like_one_resample():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(RATE * 7 + 123).astype(np.float32)
    sink = decoders.MonoSink(RATE, SR, "MQ", frames_hint=1000)  # a short hint: it grows
    for a in range(0, x.size, 7777):
        sink.add(x[a : a + 7777])
    y = sink.finish()
    ref = resample(x, RATE, SR, quality="MQ")
    assert y.size == ref.size and np.abs(y - ref)[100:-100].max() < 1e-3
    capped = decoders.MonoSink(RATE, SR, "MQ", limit=RATE)
    capped.add(x)
    assert capped.full and capped.finish().size == SR


@pytest.mark.data
def test_real_ogg_and_mp3_decode_as_the_reference(data_dir):
    files = sorted((data_dir / "music" / "singularity").glob("*.ogg"))[:1]
    files += sorted((data_dir / "songs").glob("*.mp3"))[:1]
    if len(files) < 2:
        pytest.skip("no Ogg or MP3 songs in the data folder")
    for path in files:
        if path.suffix == ".mp3":
            _needs(decoders._mpg123)  # (libmpg123 is a system library: .ci/run installs it)
        x = decoders.decode_mono(path, SR, "MQ")
        assert x is not None, path
        ref = _reference(path)
        n = min(x.size, ref.size)
        assert abs(x.size - ref.size) <= SR // 100
        assert np.corrcoef(x[:n], ref[:n])[0, 1] > 0.99, path.name


def test_pyav_reads_what_libsndfile_cannot_as_ffmpeg_does(tmp_path, encoded):
    _needs(decoders._av)
    if audio.shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed")
    m4a = tmp_path / "a.m4a"
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(encoded("ogg")), "-c:a", "aac", str(m4a)]
    if subprocess.run(cmd, capture_output=True, check=False).returncode != 0:
        pytest.skip("ffmpeg has no AAC encoder")
    x, _ = load_audio(m4a, sr=SR, quality="MQ")  # PyAV in this process
    np.testing.assert_array_equal(x, decoders.decode_av(m4a, SR, "MQ"))
    ref = audio._ffmpeg_mono(m4a, SR, None)  # the ffmpeg process it replaces
    n = min(x.size, ref.size)
    assert abs(x.size - ref.size) <= SR // 20
    assert np.corrcoef(x[:n], ref[:n])[0, 1] > 0.999


def test_pyav_reads_any_file_name_as_the_frame_loop_does(tmp_path, encoded):
    av = pytest.importorskip("av")
    odd = tmp_path / "a: b, 'c' [d]=e.ogg"  # what FFmpeg's filter syntax would split
    odd.write_bytes(encoded("ogg").read_bytes())
    x = decoders.decode_av(odd, SR, "MQ")
    # the samples PyAV's frame loop gives, mixed and resampled at once
    with av.open(str(odd)) as container:
        planes = [f.to_ndarray() for f in container.decode(audio=0)]
    ref = resample(audio._mix_to_mono(np.concatenate(planes, axis=1)), RATE, SR, "MQ")
    assert x.size == ref.size and np.abs(x - ref).max() < 1e-6


def test_pyav_converts_integer_samples(tmp_path):
    _needs(decoders._av)
    path = tmp_path / "a.flac"  # FFmpeg's FLAC decoder gives 16-bit integers, not floats
    sf.write(path, _music(6.0), RATE, subtype="PCM_16")
    x = decoders.decode_av(path, SR, "MQ")
    ref = _reference(path)
    assert x.size == ref.size and np.corrcoef(x, ref)[0, 1] > 0.9999
    assert np.abs(x - ref).max() < 1e-3
