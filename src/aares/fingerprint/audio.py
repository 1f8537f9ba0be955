"""Decoding audio files into float32 samples: one function for the course and the engine.

:func:`load_audio` reads WAV, FLAC, Ogg Vorbis, Opus and MP3 with ``soundfile`` (libsndfile),
mixes to mono and resamples with ``soxr``. Any other format (AAC/M4A, WMA, video files, ...)
goes through ``ffmpeg`` when it is installed. Every failure raises :class:`AudioError`, a
``ValueError`` whose message names the file and says what was expected. Mono at a given rate
and a quality other than ``"HQ"`` (what the fingerprint engine asks for) first tries the
faster decoders of :mod:`aares.fingerprint.decoders` (libmpg123, libopus, PyAV), and takes
the way above when they are missing or cannot read the file.

``load_audio(path, sr=3000)`` gives the same samples as ``librosa.load(path, sr=3000)``
(librosa reads with soundfile, averages the channels, then resamples with soxr at quality
``"HQ"``): the course's :func:`aares.fingerprint.course.load` relies on that.

Example
-------
>>> from aares.fingerprint.audio import load_audio               # doctest: +SKIP
>>> x, sr = load_audio("song.mp3", sr=3000)                       # doctest: +SKIP
>>> x.dtype, sr                                                   # doctest: +SKIP
(dtype('float32'), 3000)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from aares.fingerprint.decoders import MonoSink, decode_mono

__all__ = ["AudioError", "load_audio", "resample", "AUDIO_EXTENSIONS"]

#: File name endings treated as audio when a folder is scanned.
AUDIO_EXTENSIONS = (
    ".wav",
    ".flac",
    ".ogg",
    ".oga",
    ".opus",
    ".mp3",
    ".aif",
    ".aiff",
    ".m4a",
    ".aac",
    ".wma",
    ".mp4",
    ".webm",
    ".mka",
)


class AudioError(ValueError):
    """An audio file that cannot be decoded (empty, truncated, corrupt or not audio)."""


def resample(x: np.ndarray, orig_sr: int, sr: int, quality: str = "HQ") -> np.ndarray:
    """Resample ``x`` (1-D, or 2-D as ``(channels, samples)``) from ``orig_sr`` to ``sr``.

    ``quality`` is a soxr quality: ``"HQ"`` (librosa's default, ``soxr_hq``) or ``"MQ"``,
    ``"LQ"``, ``"QQ"`` (faster, lower quality), or ``"VHQ"``. The output has
    ``ceil(samples * sr / orig_sr)`` samples (trimmed or zero-padded), as librosa's.
    """
    if orig_sr == sr:
        return x
    n_out = int(np.ceil(x.shape[-1] * float(sr) / orig_sr))
    if x.ndim == 1:
        y = soxr.resample(x, orig_sr, sr, quality=quality).astype(np.float32, copy=False)
    else:  # soxr works on (samples, channels)
        y = soxr.resample(np.ascontiguousarray(x.T), orig_sr, sr, quality=quality)
        y = np.ascontiguousarray(y.T, dtype=np.float32)
    if y.shape[-1] > n_out:
        y = y[..., :n_out]
    elif y.shape[-1] < n_out:
        pad = [(0, 0)] * (y.ndim - 1) + [(0, n_out - y.shape[-1])]
        y = np.pad(y, pad)
    return y


def load_audio(
    path: str | os.PathLike,
    sr: int | None = None,
    mono: bool = True,
    quality: str = "HQ",
    max_seconds: float | None = None,
) -> tuple[np.ndarray, int]:
    """Decode an audio file to float32 samples in ``[-1, 1]``.

    Parameters
    ----------
    path : str or path-like
        The audio file. WAV, FLAC, Ogg (Vorbis, Opus) and MP3 are read by soundfile; other
        formats by ffmpeg when it is on ``PATH``.
    sr : int or None
        Output sample rate; ``None`` keeps the file's rate.
    mono : bool
        Average the channels into one (as ``librosa.load`` does).
    quality : str
        soxr resampling quality (``"HQ"`` matches librosa; ``"MQ"``/``"LQ"`` are faster).
    max_seconds : float or None
        Decode only the first ``max_seconds`` of the file (a query needs no more; the rest
        is never read). Files longer than ``STREAM_SECONDS`` are decoded, mixed and
        resampled block by block, so that memory holds only the output at ``sr``.

    Returns
    -------
    x : ndarray of float32
        Shape ``(samples,)`` when ``mono``, else ``(channels, samples)``.
    sr : int
        The sample rate of ``x``.

    Raises
    ------
    AudioError
        When the file is missing, empty, truncated before any audio, corrupt, or not audio.

    Examples
    --------
    >>> x, sr = load_audio("song.flac", sr=8000)        # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file (0 bytes), expected audio")
    try:
        if sr is not None and mono and quality != "HQ":
            # MP3, Opus, Vorbis, AAC, ...: decoders that mix to mono and come near the target
            # rate themselves (decoders.py; BENCHMARKS.md: 0.6x of the CPU below, or less)
            x = decode_mono(path, sr, quality, max_seconds)
            if x is not None and x.size and np.isfinite(x).all():
                return x, int(sr)
        if _opus_through_ffmpeg(path, sr, mono, quality):
            # libsndfile decodes Opus at 48 kHz and soxr resamples: ffmpeg's own Opus decoder
            # and resampler straight to the target rate cost half the CPU (BENCHMARKS.md)
            try:
                x = _ffmpeg_mono(path, sr, max_seconds)
                if x.size and np.isfinite(x).all():
                    return x, int(sr)
            except (OSError, subprocess.SubprocessError):
                pass  # any trouble: the general path below says what is wrong
        try:
            data, file_sr = _read_soundfile(path, mono, max_seconds, sr, quality)
        except AudioError:
            raise
        except (sf.SoundFileError, RuntimeError, TypeError, ValueError) as exc:
            if shutil.which("ffmpeg") is None:
                raise AudioError(
                    f"{path}: cannot decode as audio ({_short(exc)}); soundfile reads WAV, "
                    "FLAC, Ogg, Opus and MP3, and ffmpeg (for other formats) is not installed"
                ) from None
            data, file_sr = _read_ffmpeg(path, sr, soundfile_error=exc, max_seconds=max_seconds)
        if data.size == 0 or data.shape[-1] == 0:
            raise AudioError(f"{path}: no audio samples could be decoded (empty or truncated file)")
        if not np.isfinite(data).all():  # every value: one NaN would silence the analysis
            raise AudioError(f"{path}: decoded samples are not finite numbers (corrupt file)")
        if mono and data.ndim == 2:
            data = _mix_to_mono(data)
        if sr is not None and sr != file_sr:
            data = resample(data, file_sr, sr, quality=quality)
            file_sr = sr
        return np.ascontiguousarray(data, dtype=np.float32), int(file_sr)
    except MemoryError:
        raise AudioError(f"{path}: out of memory while decoding (file too long?)") from None


def _mix_to_mono(data: np.ndarray) -> np.ndarray:
    # The mean of the channels, bit-identical to librosa's ``np.mean(y, axis=0)`` (numpy adds
    # the rows one after the other, then divides), but 5x faster than a strided reduction.
    if data.shape[0] == 1:
        return data[0]
    out = np.array(data[0], dtype=np.float32, copy=True)
    for channel in data[1:]:
        out += channel
    out /= np.float32(data.shape[0])
    return out


_BLOCK = 1 << 16  # frames decoded at a time when mixing to mono
#: files longer than this (seconds) are resampled as they are decoded (memory: the output)
STREAM_SECONDS = 1200


def _read_soundfile(
    path: Path,
    mono: bool,
    max_seconds: float | None = None,
    sr: int | None = None,
    quality: str = "HQ",
) -> tuple[np.ndarray, int]:
    # (channels, samples) float32, like librosa. For mono output of a multichannel file, the
    # file is decoded block by block and mixed as it comes: the same numbers as mixing the
    # whole array, with one mono array in memory instead of the full multichannel one. A
    # long file (over STREAM_SECONDS) is also resampled block by block (soxr's stream), so
    # that memory holds the output at ``sr`` only, not the file at its own rate.
    with _quiet_c_stderr():
        fh = sf.SoundFile(str(path))
    with fh:
        file_sr, channels = int(fh.samplerate), int(fh.channels)
        limit = int(max_seconds * file_sr) if max_seconds is not None else None
        frames = int(fh.frames) if fh.frames and fh.frames > 0 else 0
        if limit is not None:
            frames = min(frames, limit) if frames else limit
        stream = mono and sr is not None and sr != file_sr and frames > STREAM_SECONDS * file_sr
        if not stream and (not mono or channels == 1):
            n = -1 if limit is None else limit
            if fh.subtype == "PCM_16":
                # read as stored and scaled here: the same numbers as libsndfile's float
                # conversion (x / 32768) in a fifth of its time (10 s at 44.1 kHz: 0.75 ->
                # 0.17 ms, a few percent of a warm query)
                data = fh.read(frames=n, dtype="int16", always_2d=True)
                return np.multiply(data, np.float32(1 / 32768), dtype=np.float32).T, file_sr
            data = fh.read(frames=n, dtype="float32", always_2d=True)
            return data.T, file_sr
        # the block loop's output: resampled as it comes when streaming, else at file_sr
        sink = MonoSink(file_sr, sr if stream else file_sr, quality, frames, limit)
        buf = np.empty((_BLOCK, channels), dtype=np.float32)
        while not sink.full:
            block = fh.read(frames=_BLOCK, dtype="float32", out=buf)
            if block.shape[0] == 0:
                break
            chunk = _mix_to_mono(block.T)
            if not np.isfinite(chunk).all():
                raise AudioError(f"{path}: decoded samples are not finite numbers (corrupt file)")
            sink.add(chunk)
    return sink.finish()[None, :], sink.sr


@contextlib.contextmanager
def _quiet_c_stderr():
    # While libsndfile probes a file that is not MP3, its MP3 decoder (libmpg123) prints
    # "Note: Illegal Audio-MPEG-Header ..." on the C stderr; the AudioError we raise says
    # it better. The C stream is pointed at /dev/null for the (short) opening only.
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _read_ffmpeg(
    path: Path, sr: int | None, soundfile_error: Exception, max_seconds: float | None = None
) -> tuple[np.ndarray, int]:
    # ffmpeg decodes and (when asked) resamples; we read raw float32 from its stdout.
    channels, file_sr = _ffprobe(path, soundfile_error)
    out_sr = sr or file_sr
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-vn"]
    if max_seconds is not None:
        cmd += ["-t", f"{max_seconds:g}"]
    cmd += ["-f", "f32le", "-acodec", "pcm_f32le", "-ac", str(channels), "-ar", str(out_sr), "-"]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0 or not proc.stdout:
        msg = proc.stderr.decode(errors="replace").strip().splitlines()
        raise AudioError(
            f"{path}: cannot decode as audio (soundfile: {_short(soundfile_error)}; "
            f"ffmpeg: {msg[-1] if msg else 'no output'})"
        )
    raw = np.frombuffer(proc.stdout, dtype="<f4")
    raw = raw[: raw.size - raw.size % channels]
    return raw.reshape(-1, channels).T.copy(), int(out_sr)


def _opus_through_ffmpeg(path: Path, sr: int | None, mono: bool, quality: str) -> bool:
    # not for quality "HQ": the course's decoding must stay librosa's (soundfile + soxr)
    return (
        path.suffix.lower() == ".opus"
        and sr is not None
        and mono
        and quality != "HQ"
        and shutil.which("ffmpeg") is not None
    )


def _ffmpeg_mono(path: Path, sr: int, max_seconds: float | None) -> np.ndarray:
    # decode, mix to mono and resample in ffmpeg; raw float32 on stdout
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-vn"]
    if max_seconds is not None:
        cmd += ["-t", f"{max_seconds:g}"]
    cmd += ["-ac", "1", "-ar", str(sr), "-f", "f32le", "-acodec", "pcm_f32le", "-"]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        return np.zeros(0, dtype=np.float32)
    return np.frombuffer(proc.stdout, dtype="<f4").astype(np.float32)


def _ffprobe(path: Path, soundfile_error: Exception) -> tuple[int, int]:
    exe = shutil.which("ffprobe")
    if exe is None:
        return 1, 44100
    cmd = [exe, "-v", "error", "-select_streams", "a:0", "-show_entries"]
    cmd += ["stream=sample_rate,channels", "-of", "json", str(path)]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    try:
        stream = json.loads(proc.stdout or b"{}")["streams"][0]
        return int(stream["channels"]), int(stream["sample_rate"])
    except (KeyError, IndexError, ValueError, TypeError):
        raise AudioError(
            f"{path}: not an audio file (soundfile: {_short(soundfile_error)}; "
            "ffprobe finds no audio stream)"
        ) from None


def _short(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    text = lines[-1] if lines else type(exc).__name__
    # libsndfile says "Error opening 'x': File does not exist or is not a regular file" for
    # an existing file whose content it cannot parse (MP3 without a valid frame, ...)
    text = re.sub(r"^Error opening '.*?': ", "", text)
    if text.startswith("File does not exist or is not a regular file"):
        text = "unrecognised or corrupt audio data"
    return text.rstrip(".")
