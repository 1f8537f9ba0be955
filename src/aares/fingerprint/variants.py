"""The perturbed copies of an excerpt that ``aares fp bench`` queries, and the negatives.

Each variant is what a listener's recording does to a song: ``clean``; ``noise 0 dB`` (white
noise as loud as the music); ``fast 5 %`` / ``slow 5 %`` (resampled: tempo and pitch
together); ``MP3 32k`` (ffmpeg + LAME at 32 kbit/s; without ffmpeg, a stand-in: band-limited
to 5.5 kHz and requantised with noise 20 dB down); ``phone`` (band-pass 300-3,400 Hz, room
reverb with RT60 0.4 s, noise at 10 dB SNR); the :data:`CHANGES` (sped up or slowed by
resampling, time-stretched, pitch-shifted, "slowed + reverb", "sped up";
:func:`changed_excerpt`). The negatives a catalog must not answer:
:func:`pink_noise` and :func:`speech` (espeak-ng when installed, else a vowel-like buzz).

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> x = np.sin(np.linspace(0, 2000, 22050)).astype(np.float32)
>>> y = add_noise(x, 0.0, rng)
>>> round(float(np.std(y - x) / np.std(x)), 1)  # 0 dB: noise as loud as the signal
1.0
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

from aares.fingerprint.audio import load_audio, resample

__all__ = [
    "CHANGES",
    "VARIANTS",
    "changed_excerpt",
    "parse_change",
    "pitch_shift",
    "room_impulse",
    "time_stretch",
    "add_noise",
    "change_speed",
    "make_variant",
    "mp3",
    "phone",
    "pink_noise",
    "speech",
    "write_pcm16",
]

VARIANTS = ("clean", "noise 0 dB", "fast 5 %", "slow 5 %", "MP3 32k", "phone")


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def add_noise(x: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """``x`` plus white noise at ``snr_db`` (noise power = signal power / 10^(snr/10))."""
    sigma = _rms(x) / (10 ** (snr_db / 20))
    return (x + sigma * rng.standard_normal(x.size)).astype(np.float32)


def change_speed(x: np.ndarray, sr: int, speed: float) -> np.ndarray:
    """Play ``x`` ``speed`` times faster (tempo and pitch together, as a resampler does)."""
    return resample(x, int(round(sr * speed)), sr)


def phone(x: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A phone call: band-pass 300-3,400 Hz, a room's reverb (RT60 0.4 s), noise at 10 dB."""
    sos = signal.butter(4, [300, 3400], btype="bandpass", fs=sr, output="sos")
    y = signal.sosfilt(sos, x)
    y = signal.fftconvolve(y, room_impulse(sr, 0.4, rng, wet=0.7))[: x.size]
    return add_noise(y.astype(np.float32), 10.0, rng)


def room_impulse(
    sr: int, rt60: float, rng: np.random.Generator, wet: float = 1.0, gap: float = 0.0
) -> np.ndarray:
    """A synthetic room: the direct sound, then exponentially decaying noise (-60 dB after
    ``rt60`` s) starting ``gap`` s later, ``wet`` times the direct sound's amplitude in all
    (0.7: reverberant energy 3 dB below the direct sound)."""
    n = int(rt60 * sr)
    t = np.arange(n) / sr
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    ir[: max(1, int(gap * sr))] = 0.0
    ir *= wet / np.sqrt(np.sum(ir**2))
    ir[0] = 1.0
    return ir


def time_stretch(x: np.ndarray, rate: float) -> np.ndarray:
    """Play ``x`` ``rate`` times faster at the same pitch (librosa's phase vocoder)."""
    import librosa

    return librosa.effects.time_stretch(np.asarray(x, np.float32), rate=rate).astype(np.float32)


def pitch_shift(x: np.ndarray, sr: int, semitones: float) -> np.ndarray:
    """Shift ``x`` by ``semitones`` at the same tempo (librosa: stretch, then resample)."""
    import librosa

    y = librosa.effects.pitch_shift(np.asarray(x, np.float32), sr=sr, n_steps=semitones)
    return y.astype(np.float32)


#: The changes of issue 19, as variant names: resampled ("speed"), time-stretched, pitch-shifted.
CHANGES = (
    "speed 0.85x", "speed 1.18x", "stretch 0.90x", "stretch 1.10x", "pitch -2 st",
    "pitch +2 st", "slowed + reverb", "sped up",
)  # fmt: skip


def changed_excerpt(
    kind: str, factor: float, song: np.ndarray, sr: int, start: float, length: float, rng
) -> np.ndarray:
    """``length`` seconds of ``song`` from ``start`` under a change of ``kind``:

    ``"speed"`` resampled ``factor`` times faster (tempo and pitch together), ``"stretch"``
    ``factor`` times faster at the same pitch, ``"pitch"`` shifted by ``factor`` semitones
    at the same tempo, ``"slowed + reverb"`` resampled to ``factor`` (0.85) through a room
    of RT60 1.5 s. The excerpt covers the song's ``[start, start + length * factor)`` (the
    original's offset is ``start`` whatever the change).
    """
    a = int(start * sr)
    if kind == "pitch":
        return pitch_shift(song[a : a + int(round(length * sr))], sr, factor)
    seg = song[a : a + int(round(length * factor * sr))]
    if kind == "stretch":
        return time_stretch(seg, factor)
    y = change_speed(seg, sr, factor)
    if kind == "slowed + reverb":
        ir = room_impulse(sr, 1.5, rng, wet=1.0, gap=0.01)
        y = signal.fftconvolve(y, ir)[: y.size].astype(np.float32)
    return y


def parse_change(name: str) -> tuple[str, float] | None:
    """``(kind, factor)`` of a change's variant name (``"speed 1.18x"``, ``"pitch +2 st"``,
    ``"slowed + reverb"``, ``"sped up"``), None for the other variants.

    >>> parse_change("pitch -2 st"), parse_change("sped up"), parse_change("phone")
    (('pitch', -2.0), ('speed', 1.2), None)
    """
    if name == "slowed + reverb":
        return "slowed + reverb", 0.85
    if name == "sped up":
        return "speed", 1.2
    kind, _, value = name.partition(" ")
    if kind in ("speed", "stretch", "pitch") and value:
        return kind, float(value.removesuffix("x").removesuffix("st").strip())
    return None


def mp3(x: np.ndarray, sr: int, path: Path, rng: np.random.Generator) -> Path:
    """Encode ``x`` as MP3 at 32 kbit/s into ``path`` (ffmpeg), or a WAV stand-in."""
    if shutil.which("ffmpeg"):
        with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
            sf.write(tmp.name, x, sr, subtype="PCM_16")
            cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", tmp.name]
            cmd += ["-codec:a", "libmp3lame", "-b:a", "32k", str(path)]
            subprocess.run(cmd, check=True)
        return path
    # stand-in: what LAME does at 32 kbit/s (low-pass near 5.5 kHz, coarse quantisation)
    y = resample(resample(x, sr, 11025), 11025, sr)[: x.size]
    out = path.with_suffix(".wav")
    sf.write(out, add_noise(y, 20.0, rng), sr, subtype="PCM_16")
    return out


def make_variant(
    name: str, song: np.ndarray, sr: int, start: float, length: float, rng, path: Path
) -> Path:
    """Write the excerpt ``[start, start + length)`` of ``song`` under ``name`` to ``path``."""
    speed = {"fast 5 %": 1.05, "slow 5 %": 0.95}.get(name, 1.0)
    a = int(start * sr)
    seg = song[a : a + int(round(length * speed * sr))]
    if speed != 1.0:
        seg = change_speed(seg, sr, speed)
    change = parse_change(name)
    if change is not None:
        seg = changed_excerpt(*change, song, sr, start, length, rng)
    elif name == "noise 0 dB":
        seg = add_noise(seg, 0.0, rng)
    elif name == "phone":
        seg = phone(seg, sr, rng)
    elif name == "MP3 32k":
        return mp3(seg, sr, path.with_suffix(".mp3"), rng)
    write_pcm16(path, seg, sr)
    return path


def write_pcm16(path: Path, x: np.ndarray, sr: int) -> None:
    """Write ``x`` as a 16-bit WAV, scaled down to a peak of 0.99 if louder (a noisy or
    resampled excerpt can pass 1.0: it would clip)."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    sf.write(path, x * (0.99 / peak) if peak > 0.99 else x, sr, subtype="PCM_16")


def speech(n: int, sr: int, rng, folder: Path) -> list[np.ndarray]:
    """``n`` spoken sentences at ``sr`` (espeak-ng, files in ``folder``), else a vowel-like
    buzz of 8 s each."""
    texts = [
        "The weather tomorrow will be cloudy with a chance of rain in the afternoon.",
        "Please leave a message after the tone and we will call you back soon.",
        "In the beginning the universe was created, which made many people very angry.",
        "Our next train departs from platform four at twenty past seven this evening.",
        "Fingerprints of music must not match the voice of a person reading the news.",
        "She sells sea shells by the sea shore, and the shells she sells are surely fine.",
    ]
    out = []
    exe = shutil.which("espeak-ng") or shutil.which("espeak")
    for i in range(n):
        x = None
        if exe:
            wav = folder / f"speech{i}.wav"
            proc = subprocess.run(
                [exe, "-w", str(wav), "-s", str(140 + 10 * i), texts[i % len(texts)]],
                capture_output=True,
                check=False,
            )
            if proc.returncode == 0 and wav.is_file():
                x, _ = load_audio(wav, sr=sr)
        if x is None:  # a vowel-like buzz: a glottal pulse train through moving formants
            t = np.arange(int(8 * sr)) / sr
            f0 = 110 + 30 * np.sin(2 * np.pi * 0.5 * t + i)
            x = signal.sawtooth(2 * np.pi * np.cumsum(f0) / sr)
            x *= 0.5 + 0.5 * np.sin(2 * np.pi * 3.5 * t + i)
            x = signal.lfilter([1], [1, -1.6, 0.8], x).astype(np.float32)
            x *= 0.2 / max(_rms(x), 1e-9)
        out.append(x.astype(np.float32))
    return out


def pink_noise(n: int, rng) -> np.ndarray:
    """``n`` samples of pink noise (power falling as 1/f), RMS 0.1."""
    spec = np.fft.rfft(rng.standard_normal(n))
    spec[1:] /= np.sqrt(np.arange(1, spec.size))
    x = np.fft.irfft(spec, n)
    return (0.1 * x / max(_rms(x), 1e-12)).astype(np.float32)
