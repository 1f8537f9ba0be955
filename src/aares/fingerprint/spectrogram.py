"""Power spectrograms, fast and equal to librosa's.

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

import numpy as np
import scipy.fft
import scipy.signal

__all__ = ["power_spectrogram", "bin_frequencies"]


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
    frames = frames[:n_frames] * _window(window, win_length)
    spec = scipy.fft.rfft(frames, n=n_fft, axis=1)
    power = np.empty(spec.shape, dtype=np.float32)
    np.multiply(spec.real, spec.real, out=power)
    power += spec.imag * spec.imag
    return np.ascontiguousarray(power.T)


def bin_frequencies(n_fft: int, sr: int) -> np.ndarray:
    """Frequency (Hz) of each row of the spectrogram."""
    return np.arange(n_fft // 2 + 1) * (sr / n_fft)
