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

The engine: :class:`Catalog` (index songs, identify excerpts) answering :class:`Match` es,
with the songs as :class:`SongInfo` and the analysis settings as a :class:`Profile`. These
names and :mod:`~aares.fingerprint.course` load on first use, so that importing the package
stays fast.
"""

from __future__ import annotations

from aares._lazy import lazy_exports

__all__ = ["AudioError", "Catalog", "Match", "Profile", "SongInfo", "course"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "AudioError": "aares.fingerprint.audio",
        "Catalog": "aares.fingerprint.catalog",
        "Match": "aares.fingerprint.match",
        "Profile": "aares.fingerprint.landmarks",
        "SongInfo": "aares.fingerprint.store",
        "course": "aares.fingerprint.course",
    },
)
