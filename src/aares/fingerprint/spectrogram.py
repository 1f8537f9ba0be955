"""Power spectrograms, fast and equal to librosa's; late reverberation taken out of one.

:func:`power_spectrogram` returns ``abs(librosa.stft(x, ...)) ** 2`` (same shape, same frames,
same values up to float32 rounding) without librosa: frames are cut with a strided view and
transformed with ``scipy.fft.rfft`` in float32. With librosa's defaults (``center=True``,
``pad_mode="constant"``) the signal is padded with ``n_fft // 2`` zeros on each side, frame
``t`` covers samples ``[t * hop_length - n_fft // 2, t * hop_length + n_fft // 2)``, and there
are ``1 + len(x) // hop_length`` frames.

When ``win_length < n_fft`` librosa centres the window inside ``n_fft`` zeros; only the
``win_length`` samples under the window matter, so we transform those, zero-padded to
``n_fft``. That moves the segment inside the FFT buffer, a circular shift which changes the
phase but not the magnitude: the power is the same, for half the multiplications.

A reverberant recording (a "slowed + reverb" edit, a room) smears every note into a tail that
hides the onsets after it. :func:`suppress_late_reverb` estimates the late reverberation of
each bin from the frames before it, as an exponential decay (the statistical model of
Lebart, Boucher and Denbigh, 2001), and subtracts it, so that peaks are picked on what is
left of the direct sound.

Example
-------
>>> import numpy as np
>>> x = np.random.default_rng(0).standard_normal(3000).astype(np.float32)
>>> S = power_spectrogram(x, n_fft=2048, hop_length=512, win_length=1024)
>>> S.shape, S.dtype
((1025, 6), dtype('float32'))
"""

from __future__ import annotations

from functools import lru_cache

import numba
import numpy as np
import scipy.fft
import scipy.signal

__all__ = ["power_spectrogram", "bin_frequencies", "suppress_late_reverb"]


@lru_cache(maxsize=16)
def _window(window: str, win_length: int) -> np.ndarray:
    # periodic window, as librosa.filters.get_window(..., fftbins=True)
    w = scipy.signal.get_window(window, win_length, fftbins=True).astype(np.float32)
    w.flags.writeable = False
    return w


def power_spectrogram(
    x: np.ndarray,
    n_fft: int = 2048,
    hop_length: int = 512,
    win_length: int | None = None,
    window: str = "hann",
    center: bool = True,
) -> np.ndarray:
    """Power spectrogram ``|STFT|**2`` of a mono signal, as float32.

    Parameters
    ----------
    x : ndarray, shape (samples,)
        Mono signal (converted to float32).
    n_fft : int
        FFT length; the output has ``n_fft // 2 + 1`` frequency rows.
    hop_length : int
        Samples between the starts of successive frames.
    win_length : int or None
        Window length (``<= n_fft``), centred in the FFT frame; ``None`` means ``n_fft``.
    window : str
        A scipy window name (``"hann"`` as librosa's default).
    center : bool
        Pad ``n_fft // 2`` zeros on both ends so that frame ``t`` is centred on sample
        ``t * hop_length`` (librosa's default). ``False`` starts frame 0 at sample 0.

    Returns
    -------
    S : ndarray of float32, shape (n_fft // 2 + 1, frames)
        Rows are frequency bins (bin ``k`` is ``k * sr / n_fft`` Hz), columns are frames.
        Equals ``np.abs(librosa.stft(x, n_fft=n_fft, hop_length=hop_length,
        win_length=win_length, window=window, center=center)) ** 2`` up to float32 rounding.

    Examples
    --------
    >>> x = np.sin(2 * np.pi * 300 * np.arange(6000) / 3000).astype(np.float32)
    >>> S = power_spectrogram(x, n_fft=2048, hop_length=512, win_length=1024)
    >>> int(S[:, 5].argmax())  # 300 Hz at 3 kHz: bin 300 / (3000 / 2048) = 204.8
    205
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"power_spectrogram expects a mono 1-D signal, got shape {x.shape}")
    win_length = n_fft if win_length is None else int(win_length)
    if not 0 < win_length <= n_fft:
        raise ValueError(f"win_length must be in (0, n_fft={n_fft}], got {win_length}")
    if hop_length <= 0:
        raise ValueError(f"hop_length must be positive, got {hop_length}")
    if center:
        x = np.pad(x, n_fft // 2)
    if x.size < n_fft:
        raise ValueError(f"signal of {x.size} samples is shorter than n_fft={n_fft}")
    n_frames = 1 + (x.size - n_fft) // hop_length
    offset = (n_fft - win_length) // 2  # where librosa's centred window starts
    frames = np.lib.stride_tricks.sliding_window_view(x[offset:], win_length)[::hop_length]
    frames = frames[:n_frames] * _window(window, win_length)  # a new array: overwritten
    spec = scipy.fft.rfft(frames, n=n_fft, axis=1, overwrite_x=True)
    return _power_by_bin(spec)


@numba.njit(cache=True)
def _power_by_bin(spec):  # pragma: no cover (numba)
    # |spec|^2 as float32, transposed to (bins, frames): re * re + im * im rounded as numpy
    # rounds them (no fused multiply-add), in one pass instead of four
    n_frames, n_bins = spec.shape
    out = np.empty((n_bins, n_frames), dtype=np.float32)
    for t in range(n_frames):
        for k in range(n_bins):
            c = spec[t, k]
            re = np.float32(c.real)
            im = np.float32(c.imag)
            out[k, t] = re * re + im * im
    return out


def bin_frequencies(n_fft: int, sr: int) -> np.ndarray:
    """Frequency (Hz) of each row of the spectrogram."""
    return np.arange(n_fft // 2 + 1) * (sr / n_fft)


def suppress_late_reverb(
    S: np.ndarray,
    frame_seconds: float,
    rt60: float = 2.0,
    wet: float = 1.0,
    floor: float = 0.1,
) -> np.ndarray:
    """``S`` less an estimate of its late reverberation (power spectrogram in, same shape out).

    The reverberation of a room (or a reverb effect) is modelled as an exponential decay
    of power, -60 dB in ``rt60`` seconds, after each frame of direct sound, holding ``wet``
    squared times that frame's energy in all (``wet=1``: as much reverberant as direct energy).
    Frame by frame, each bin's reverberant power is the decayed sum over the earlier frames'
    *direct* estimates (a recursion: one multiply-add per cell), and the direct estimate is
    what the frame holds beyond it; the output keeps at least ``floor`` times the frame's
    power (the estimate is a mean: where it overshoots, the cell is attenuated, not erased).

    A note's own decay looks like reverberation to this model and is attenuated as well;
    what stands out afterwards are the onsets, which the tails of earlier notes no longer
    hide. The frame of the onset itself keeps its power: the reverberation counted at frame
    ``t`` comes from frames before ``t``.

    Parameters
    ----------
    S : ndarray, shape (bins, frames)
        A power spectrogram.
    frame_seconds : float
        Hop between frames, in seconds.
    rt60 : float
        Assumed reverberation time (seconds for a 60 dB decay of power).
    wet : float
        Assumed reverberant-to-direct amplitude ratio (energies: ``wet**2``).
    floor : float
        Least fraction of a cell's power kept.

    Returns
    -------
    D : ndarray of float32, shape (bins, frames)

    Examples
    --------
    A loud chord (frame 5) through a room of RT60 1.5 s as the model has it, then a note
    20 dB quieter (frame 12) in the same bin: in the reverberant spectrogram the note is
    lower than the tail before it, once the tail is taken out it is a peak in time:

    >>> q = 10 ** (-6 * 0.032 / 1.5)  # power decay per 32 ms frame
    >>> direct = np.zeros(20); direct[5], direct[12] = 100.0, 1.0
    >>> tail = [sum(direct[t - k] * (1 - q) / q * q**k for k in range(1, t + 1)) for t in range(20)]
    >>> S = (direct + np.array(tail))[None, :].astype(np.float32)
    >>> bool(S[0, 12] > S[0, 11])
    False
    >>> D = suppress_late_reverb(S, 0.032, rt60=1.5)
    >>> bool(D[0, 11] < D[0, 12] > D[0, 13])
    True
    """
    S = np.asarray(S, dtype=np.float32)
    if S.ndim != 2:
        raise ValueError(f"suppress_late_reverb expects (bins, frames), got shape {S.shape}")
    if rt60 <= 0 or frame_seconds <= 0:
        raise ValueError(f"rt60 and frame_seconds must be positive, got {rt60}, {frame_seconds}")
    q = 10.0 ** (-6.0 * frame_seconds / rt60)  # power decay per frame
    # a frame's direct energy e feeds c * q**k * e into frame t + k (k >= 1): wet**2 * e in all
    c = wet * wet * (1.0 - q) / q
    return _late_reverb(np.ascontiguousarray(S), np.float32(q), np.float32(c), np.float32(floor))


@numba.njit(cache=True)
def _late_reverb(S, q, c, floor):  # pragma: no cover (numba)
    n_bins, n_frames = S.shape
    out = np.empty_like(S)
    for k in range(n_bins):
        late = np.float32(0.0)
        prev = np.float32(0.0)
        for t in range(n_frames):
            late = q * (late + c * prev)
            d = S[k, t] - late
            prev = d if d > 0 else np.float32(0.0)  # the direct estimate feeds the tail
            lo = floor * S[k, t]
            out[k, t] = d if d > lo else lo  # the output keeps a floor
    return out
