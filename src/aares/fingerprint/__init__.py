"""Audio fingerprints (Shazam-style): name a song from a short excerpt.

The method is Avery Wang's "An Industrial-Strength Audio Search Algorithm" (2003):
spectrogram peaks, anchor/target-zone pairs hashed, an inverted index, a vote on the offset.

Shared core (one decoding, spectrogram and peak code for the course and the engine):

- :mod:`aares.fingerprint.audio`: :func:`load_audio` (soundfile, soxr, ffmpeg fallback),
  :class:`AudioError`;
- :mod:`aares.fingerprint.spectrogram`: :func:`power_spectrogram` (equals librosa's);
- :mod:`aares.fingerprint.peaks`: :func:`course_maxima` (the course helper, exactly) and
  :func:`find_peaks` (the engine's fast picker);
- :mod:`aares.fingerprint.course`: the handout's functions (Exercises 4-5);
- :mod:`aares.fingerprint.plots`: the handout's Figures 1 and 2.
"""

from __future__ import annotations

from aares.fingerprint.audio import AudioError, load_audio
from aares.fingerprint.peaks import course_maxima, find_peaks
from aares.fingerprint.spectrogram import power_spectrogram

__all__ = ["AudioError", "load_audio", "power_spectrogram", "course_maxima", "find_peaks"]


def __getattr__(name: str):
    # The engine's Catalog lives in catalog.py; imported on first use so that the light
    # course functions do not pull in the store.
    if name == "Catalog":
        from aares.fingerprint.catalog import Catalog

        return Catalog
    raise AttributeError(f"module 'aares.fingerprint' has no attribute {name!r}")
