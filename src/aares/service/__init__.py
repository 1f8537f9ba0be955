"""``aares serve``: a web service and page that name a song from a recording.

The library of the service is :func:`create_app` (:mod:`aares.service.app`); its parts:

- :mod:`aares.service.identify`: the process pool that identifies uploads;
- :mod:`aares.service.spotify`: catalogue links, genre sets and playlists;
- :mod:`aares.service.uploads`, :mod:`aares.service.metrics`: the size limit and the
  Prometheus metrics;
- ``static/``: the page (plain HTML, CSS and JavaScript, no build step).
"""

from __future__ import annotations

__all__ = ["ServiceSettings", "create_app"]


def __getattr__(name: str):
    # FastAPI and the fingerprint engine load on first use, not when aares is imported.
    if name in __all__:
        from aares.service import app

        return getattr(app, name)
    raise AttributeError(f"module 'aares.service' has no attribute {name!r}")
