"""``aares serve``: a web service and page that name a song from a recording.

The library of the service is :func:`create_app` (:mod:`aares.service.app`); its parts:

- :mod:`aares.service.identify`: the process pool that identifies uploads;
- :mod:`aares.service.spotify`: catalogue links, genre sets and playlists;
- :mod:`aares.service.uploads`, :mod:`aares.service.metrics`: the size limit and the
  Prometheus metrics;
- ``static/``: the page (plain HTML, CSS and JavaScript, no build step).
"""

from __future__ import annotations

from aares._lazy import lazy_exports

__all__ = ["ServiceSettings", "create_app"]

# FastAPI and the fingerprint engine load on first use, not when aares is imported.
__getattr__, __dir__ = lazy_exports(__name__, dict.fromkeys(__all__, "aares.service.app"))
