"""aares: a toolkit for music data.

Capabilities, one sub-package each:

- :mod:`aares.genre`: genre classification from Spotify audio features (Exercise 1).
- :mod:`aares.popularity`: popularity prediction and micro-genres (Exercise 2).
- :mod:`aares.recommend`: playlists and collaborative recommendation (Exercise 3).
- :mod:`aares.fingerprint`: Shazam-style audio fingerprints (Exercises 4-5).
- :mod:`aares.conformal`: conformal prediction sets (bonus exercise).

Shared foundations: :mod:`aares.data` (reading course files with a schema),
:mod:`aares.io` (atomic writes, safe model files), :mod:`aares.console` (progress and tables)
and :mod:`aares.plotting` (figures).
"""

__version__ = "0.1.0"
