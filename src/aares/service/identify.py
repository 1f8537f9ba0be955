"""Identification off the event loop: a pool of processes, each with the catalog open.

Each worker opens the catalog once (read-only use: it only reads the store) and keeps the
query index warm in memory. :attr:`Catalog.index` compares the store's generation counter
on every query and rebuilds when another process (or the service itself) has added or
removed songs, so a worker never answers from a stale catalog and no request is dropped
while the index is rebuilt: that request simply waits for it.

Why processes and not threads: the analysis (decoding, spectrogram, peaks, the numba vote)
holds the GIL for much of its time, and SQLite connections must not cross threads. Two
worker processes keep both cores of the target machine busy.

Decoding also runs in the workers (ffmpeg for the browser's WebM/Opus), so a slow upload
never blocks the loop either. Uploads longer than ``max_seconds`` are cut: the first
``max_seconds`` are analysed and the answer says how much was used (``seconds``) and how
long the upload was (``duration``).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from aares.fingerprint.audio import AudioError, load_audio

__all__ = ["IdentifyPool", "UploadError", "decode_upload", "identify_upload"]

#: The catalog of this worker process (set by :func:`_open_worker`).
_CATALOG = None


class UploadError(ValueError):
    """An upload that cannot be used: ``status`` is the HTTP status it deserves."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status

    def __reduce__(self):
        # raised in a worker process, re-raised in the service: pickled with both fields
        return (type(self), (self.status, str(self)))


def _clean(message: str, path: str) -> str:
    # The temporary file's name means nothing to the client; say "the upload" instead.
    return message.replace(f"{path}: ", "").replace(path, "the upload")


def decode_upload(
    path: str, sr: int, quality: str, max_seconds: float | None = None
) -> tuple[np.ndarray, dict]:
    """Decode an uploaded file to mono float32 at ``sr``, cut to ``max_seconds`` (if given).

    Returns the samples and ``{"seconds": analysed, "duration": of the upload}``.
    Raises :class:`UploadError` (415) when the file is not audio, (422) when it holds
    no samples.
    """
    try:
        x, _ = load_audio(path, sr=sr, quality=quality)
    except AudioError as exc:
        text = _clean(str(exc), path)
        if "no audio samples" in text or "empty file" in text:
            raise UploadError(422, f"the upload holds no audio samples ({text})") from None
        raise UploadError(
            415,
            f"the upload is not audio that can be decoded ({text}); expected WAV, FLAC, "
            "Ogg Vorbis/Opus, MP3 or WebM/Opus",
        ) from None
    duration = x.size / sr
    keep = x.size if max_seconds is None else int(round(max_seconds * sr))
    if x.size > keep:
        x = x[:keep]
    return x, {"seconds": round(x.size / sr, 3), "duration": round(duration, 3)}


def _open_worker(db: str) -> None:
    # Worker initialiser: open the catalog, build its index and compile the matcher once.
    global _CATALOG
    from aares.fingerprint.catalog import Catalog
    from aares.fingerprint.heap import keep_freed_memory

    keep_freed_memory()  # a worker answers query after query: freed arrays stay (heap.py)
    _CATALOG = Catalog(db, create=False, readonly=True)  # workers only read
    warm = np.random.default_rng(0).standard_normal(2 * _CATALOG.profile.sr)
    _CATALOG.identify_signal((0.1 * warm).astype(np.float32))


def identify_upload(path: str, top: int, max_seconds: float) -> dict:
    """Worker task: decode ``path`` and identify it; ``{"matches", "seconds", "duration"}``."""
    cat = _CATALOG
    x, facts = decode_upload(path, cat.profile.sr, cat.profile.resample_quality, max_seconds)
    matches = cat.identify_signal(x)[:top]
    fields = ("song_id", "title", "artist", "offset", "score", "confidence", "speed")
    out = []
    for m in matches:
        d = m.to_dict()
        out.append({k: d[k] for k in (*fields, "significance")})
    return {"matches": out, **facts}


def _pid() -> int:
    return os.getpid()


class IdentifyPool:
    """``workers`` processes that identify uploads against the catalog at ``db``.

    A crashed worker (out of memory, a signal) breaks a :class:`ProcessPoolExecutor`; the
    pool is then rebuilt once and the failed request reported as unavailable (503).
    """

    def __init__(self, db: str | os.PathLike, workers: int = 2, max_seconds: float = 60.0):
        self.db = str(db)
        self.workers = max(1, int(workers))
        self.max_seconds = float(max_seconds)
        self._lock = threading.Lock()
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn, not fork: the parent runs an event loop and threads (fork would copy
        # their locks in whatever state they are)
        return ProcessPoolExecutor(
            self.workers,
            mp_context=mp.get_context("spawn"),
            initializer=_open_worker,
            initargs=(self.db,),
        )

    def warm(self, timeout: float = 300.0) -> list[int]:
        """Start every worker (each opens the catalog and builds its index); their pids."""
        futures = [self._pool.submit(_pid) for _ in range(self.workers)]
        return [f.result(timeout=timeout) for f in futures]

    def pids(self) -> list[int]:
        """Process ids of the live workers (for memory accounting)."""
        procs = getattr(self._pool, "_processes", None) or {}
        return [p.pid for p in procs.values() if p.is_alive()]

    def submit(self, fn, *args) -> Future:
        with self._lock:
            try:
                return self._pool.submit(fn, *args)
            except BrokenProcessPool:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
                return self._pool.submit(fn, *args)

    def identify(self, path: str, top: int) -> Future:
        """A future of :func:`identify_upload`'s answer."""
        return self.submit(identify_upload, path, top, self.max_seconds)

    def decode(self, path: str, sr: int, quality: str) -> Future:
        """A future of :func:`decode_upload`'s ``(samples, facts)`` for a whole song."""
        return self.submit(decode_upload, path, sr, quality, None)

    def close(self) -> None:
        with self._lock:
            self._pool.shutdown(wait=True, cancel_futures=True)
