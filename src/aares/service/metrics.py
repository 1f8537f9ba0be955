"""Prometheus metrics of the service: requests and latency per route, catalog size.

A registry per application (not the global one), so that several apps (tests) do not
share counters. Routes are labelled by their template (``/api/songs/{song_id}``), never by
the raw path, so the number of series stays bounded whatever clients request.
"""

from __future__ import annotations

import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.exposition import generate_latest

__all__ = ["Metrics"]

#: Latency buckets (s): identification takes 0.1-1 s, listing a few ms.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)


class Metrics:
    """The service's counters; :attr:`middleware` is the ASGI middleware class that feeds them."""

    def __init__(self) -> None:
        disable_created_metrics()  # the *_created series only repeat the start time
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "aares_http_requests",
            "HTTP requests answered, by route, method and status code.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "aares_http_request_duration_seconds",
            "Time to answer a request (s), by route.",
            ["route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.songs = Gauge("aares_catalog_songs", "Songs in the catalog.", registry=self.registry)
        self.hours = Gauge(
            "aares_catalog_hours", "Hours of audio in the catalog.", registry=self.registry
        )
        metrics = self

        class _Middleware:
            def __init__(self, app) -> None:
                self.app = app

            async def __call__(self, scope, receive, send):
                if scope["type"] != "http":
                    return await self.app(scope, receive, send)
                t0 = time.perf_counter()
                status = [500]

                async def send_status(message):
                    if message["type"] == "http.response.start":
                        status[0] = message["status"]
                    await send(message)

                try:
                    await self.app(scope, receive, send_status)
                finally:
                    metrics.observe(scope, status[0], time.perf_counter() - t0)

        self.middleware = _Middleware

    def observe(self, scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        path = getattr(route, "path", None) or _known(scope)
        self.requests.labels(path, scope.get("method", ""), str(status)).inc()
        self.latency.labels(path).observe(seconds)

    def render(self, songs: int, hours: float) -> tuple[bytes, str]:
        """The text exposition, with the catalog gauges set to ``songs`` and ``hours``."""
        self.songs.set(songs)
        self.hours.set(hours)
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _known(scope) -> str:
    # A request answered before routing (an upload refused by the size limit): its path
    # when it is one of the fixed API paths, else "other".
    path = scope.get("path", "")
    fixed = {"/api/identify", "/api/songs", "/api/genre", "/api/playlist", "/healthz", "/metrics"}
    return path if path in fixed else "other"
