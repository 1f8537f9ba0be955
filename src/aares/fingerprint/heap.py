"""glibc's heap thresholds, for processes that allocate and free large arrays over and over.

glibc hands an allocation over its mmap threshold (128 kB at start, raised as such blocks
are freed, up to 32 MB) straight to the kernel and returns it on free, and trims the top of
its heap past the trim threshold: the next allocation of that size is faulted in again,
page by page, zeroed by the kernel. Analysing a file or answering a query allocates and
frees arrays of 0.1-30 MB many times, so each one pays those page faults again: a warm
query at 1,000 h took 2,500-2,900 of them, 980 with freed arrays kept (about 1 ms of its
13-15), and indexing 0.2-0.6 s of CPU per audio hour. With the thresholds raised, freed
arrays stay on the heap for the next ones.

Nothing here runs on import: the processes that index or serve opt in (the indexing loop,
its worker processes, the service's identify workers, ``aares fp identify``).

Example
-------
>>> from aares.fingerprint.heap import freed_memory_kept
>>> with freed_memory_kept():   # doctest: +SKIP
...     analyse_many_files()
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = [
    "KEPT_MMAP_THRESHOLD",
    "KEPT_TRIM_THRESHOLD",
    "freed_memory_kept",
    "keep_freed_memory",
    "set_thresholds",
]

#: arrays up to this size come from the heap (glibc's own ceiling for its moving threshold)
KEPT_MMAP_THRESHOLD = 32 << 20
#: free heap up to this size stays with the process
KEPT_TRIM_THRESHOLD = 128 << 20

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
# glibc's values at start (the mmap threshold then moves; set, it stays)
_DEFAULT_MMAP_THRESHOLD = _DEFAULT_TRIM_THRESHOLD = 128 << 10


def _libc():
    try:
        return ctypes.CDLL(None) if os.name == "posix" else None
    except (OSError, TypeError):  # pragma: no cover (no C library to load)
        return None


def set_thresholds(mmap_threshold: int, trim_threshold: int) -> bool:
    """Set glibc's mmap and trim thresholds (bytes); False where there is no glibc (macOS,
    Windows; musl's ``mallopt`` does nothing) and nothing was set."""
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))) and bool(
        mallopt(_M_TRIM_THRESHOLD, int(trim_threshold))
    )


def keep_freed_memory() -> bool:
    """Keep freed arrays on the heap for the rest of this process (a process that serves
    queries: up to :data:`KEPT_TRIM_THRESHOLD` of free heap stays resident, about 13 MB
    more at 1,000 h); False where the C library has no such setting."""
    return set_thresholds(KEPT_MMAP_THRESHOLD, KEPT_TRIM_THRESHOLD)


@contextmanager
def freed_memory_kept() -> Iterator[bool]:
    """:func:`keep_freed_memory` for the ``with`` block only; afterwards glibc's thresholds
    at start are set back and the free heap is given back to the kernel. Yields whether the
    thresholds could be set."""
    kept = keep_freed_memory()
    try:
        yield kept
    finally:
        if kept and set_thresholds(_DEFAULT_MMAP_THRESHOLD, _DEFAULT_TRIM_THRESHOLD):
            trim = getattr(_libc(), "malloc_trim", None)
            if trim is not None:
                trim(0)
