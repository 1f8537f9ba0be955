"""Where an indexing run's files are analysed: inline, in local processes, or on a Dask cluster.

:meth:`aares.fingerprint.catalog.Catalog.add` hands its files to :func:`run_jobs` and writes
each result itself (one writer, one transaction per song); the runners here only decode and
fingerprint, and never touch the catalog.

- ``jobs=N`` (one machine): a process pool of at most N workers, capped at the cores and the
  files. Each worker ignores Ctrl-C (the parent handles it and ends the workers) and exits on
  its own within half a second when its parent dies (``kill -9``), so nothing is left
  running; a worker that dies (out of memory) fails its file and the pool is started again.
- ``cluster="local:N"``: a Dask ``LocalCluster`` of N worker processes on this machine
  (127.0.0.1, no dashboard), the same code path as a real cluster.
- ``cluster="tcp://host:8786"``: the Dask scheduler of a cluster started elsewhere
  (``dask scheduler``; ``dask worker tcp://host:8786`` on each machine, with aares installed).
  A worker killed mid-run loses nothing: the scheduler gives its files to other workers
  (``distributed.scheduler.allowed-failures`` tries per file), and each file's result reaches
  the writer once.

Files reach the workers by path when they can see them: each worker checks that the file at
that path has the checksum the client computed (a shared folder, NFS, or the same machine).
When it does not (another machine without the folder, a different file there), the worker
says so and the client sends the file's bytes with the task instead; so the choice is made per
file, needs no setting, and a cluster where nothing is shared costs one extra round trip per
file. The cluster is trusted code execution, like any Dask cluster: keep its scheduler on a
private network.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aares.fingerprint.heap import freed_memory_kept, keep_freed_memory

__all__ = [
    "Job",
    "ClusterError",
    "check_cluster",
    "run_jobs",
    "sigterm_as_interrupt",
    "usable_cpus",
]

Analyse = Callable[[str, str], dict]


@dataclass(frozen=True)
class Job:
    """One file to analyse: its path, content checksum, size and time, and the stale song of
    the same path that it replaces (``None`` when new)."""

    path: str
    checksum: str
    size: int = 0
    mtime: float = 0.0
    replaces: int | None = None


class ClusterError(ValueError):
    """A ``--cluster`` that is malformed or cannot be reached (the message names it)."""


def usable_cpus() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (macOS, Windows)
        return os.cpu_count() or 1


def check_cluster(spec: str) -> str:
    """Validate a ``--cluster`` value (``local:N``, ``tcp://host:port``) before any work."""
    spec = spec.strip()
    if spec.startswith("local:"):
        n = spec[len("local:") :]
        if not n.isdigit() or int(n) < 1:
            raise ClusterError(f"--cluster {spec}: expected local:N with N >= 1 worker processes")
        return spec
    scheme, sep, rest = spec.partition("://")
    if sep and scheme in ("tcp", "tls") and rest:
        host, colon, port = rest.rpartition(":")
        if colon and host and port.isdigit():
            return spec
    raise ClusterError(
        f"--cluster {spec}: expected local:N or the scheduler's address tcp://host:8786"
    )


def run_jobs(
    jobs_list: list[Job],
    profile_name: str,
    analyse: Analyse,
    jobs: int = 1,
    cluster=None,
    info: dict | None = None,
) -> Iterator[tuple[dict, Job]]:
    """Yield ``(result, job)`` as files are analysed (in any order).

    ``analyse(path, profile_name)`` returns the result dict (``"error"`` for bad audio).
    ``cluster`` is a ``--cluster`` string or a ``distributed.Client``; else ``jobs``
    local processes (capped at the cores and the files). ``info`` receives ``workers``
    and ``where`` (what ran the analysis).
    """
    info = info if info is not None else {}
    if not jobs_list:  # everything skipped: start no workers, no cluster
        info.update(workers=0, where="nothing to analyse")
        return
    if cluster is not None:
        yield from _run_dask(jobs_list, profile_name, analyse, cluster, info)
        return
    jobs = max(1, min(int(jobs), usable_cpus(), len(jobs_list)))
    info.update(workers=jobs, where="this process" if jobs == 1 else f"{jobs} processes")
    if jobs <= 1:
        with freed_memory_kept():
            for job in jobs_list:
                yield analyse(job.path, profile_name), job
        return
    yield from _run_pool(jobs_list, profile_name, analyse, jobs)


# -- local processes -------------------------------------------------------------------------


def _worker_init() -> None:
    # The parent handles Ctrl-C and ends its workers; a worker must not die half-way
    # through a result on the same signal, nor outlive a parent killed with -9.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    keep_freed_memory()  # a worker only analyses files (heap.py)
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="aares-parent-watch", daemon=True).start()


#: seconds an ended pool's workers get to finish the file they analyse before they are killed
_END_GRACE_S = 2.0


def _end_pool(pool: ProcessPoolExecutor) -> None:
    # Stop soon: the files not started are cancelled, the running ones are lost anyway (an
    # interrupted run is resumed later). A worker is killed only if it is still analysing
    # after _END_GRACE_S: one killed while it sent a result left the pool's reader thread
    # waiting for the rest of the message, and the process hung at exit, joining that thread
    # (once in 10 runs under load, SIGTERM a moment after the first song was stored).
    procs = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + _END_GRACE_S
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join(5)


def _run_pool(todo: list[Job], profile_name: str, analyse: Analyse, jobs: int):
    with _signals_noted() as noted:
        yield from _pool_rounds(todo, profile_name, analyse, jobs, noted)


def _pool_rounds(todo: list[Job], profile_name: str, analyse: Analyse, jobs: int, noted: list):
    # At most 2 * jobs files in flight so that memory stays bounded on big folders. When a
    # worker dies (killed, out of memory) the pool breaks and every file in flight is lost:
    # those are tried once more in a new pool, then reported as failed. A signal ``noted``
    # (_signals_noted) ends the run at the next wait.
    queue = list(reversed(todo))
    tries: dict[str, int] = {}
    while queue:
        pool = ProcessPoolExecutor(max_workers=jobs, initializer=_worker_init)
        running: dict = {}
        try:
            while queue or running:
                while queue and len(running) < 2 * jobs:
                    job = queue.pop()
                    running[pool.submit(analyse, job.path, profile_name)] = job
                done, _ = wait(running, timeout=_SIGNAL_POLL_S, return_when=FIRST_COMPLETED)
                if noted:
                    raise KeyboardInterrupt  # here, where no lock is held
                broken = False
                for fut in done:
                    exc = fut.exception()
                    if isinstance(exc, BrokenProcessPool):
                        broken = True  # stays in `running`: tried again below
                        continue
                    job = running.pop(fut)
                    if exc is not None:
                        msg = f"{job.path}: analysis failed ({type(exc).__name__}: {exc})"
                        yield {"path": job.path, "error": msg}, job
                    else:
                        yield fut.result(), job
                if broken:
                    break
            for job in running.values():
                tries[job.path] = tries.get(job.path, 0) + 1
                if tries[job.path] < 2:
                    queue.append(job)
                else:
                    yield {"path": job.path, "error": _died(job.path)}, job
        finally:
            _end_pool(pool)


#: how often the pool's loop looks for a noted Ctrl-C or SIGTERM, seconds
_SIGNAL_POLL_S = 0.2
_STOPS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def _signals_noted():
    """Within the block (in the main thread), Ctrl-C and SIGTERM are noted in the list it
    gives instead of raising ``KeyboardInterrupt`` wherever the main thread happens to be.

    Raised by a signal handler, the interrupt can fall between a lock's acquisition and the
    ``try`` that releases it: a future's lock taken in ``wait`` stayed held, the pool's
    thread waited for it forever and the process hung at exit (once in 33 runs under load,
    SIGTERM a moment after the first song was stored; with both fixes 0 of 80 runs hung).
    The pool's loop raises it itself.
    """
    noted: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield noted
        return
    old = {s: signal.signal(s, lambda signum, frame: noted.append(signum)) for s in _STOPS}
    try:
        yield noted
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def _died(path: str) -> str:
    return f"{path}: the worker process analysing it died (out of memory, or killed)"


@contextmanager
def sigterm_as_interrupt():
    """Within the block, SIGTERM raises ``KeyboardInterrupt`` in the main thread, so that
    ``kill PID`` ends a run as cleanly as Ctrl-C (songs so far kept, workers ended)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


# -- Dask ---------------------------------------------------------------------------------------


def profile_digest(profile_name: str) -> str:
    """A short digest of the profile's parameters and the catalog format: workers with
    another aares would give hashes that do not match the catalog's."""
    from aares.fingerprint.landmarks import get_profile
    from aares.fingerprint.store import FORMAT_VERSION

    text = json.dumps([get_profile(profile_name).to_dict(), FORMAT_VERSION], sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def analyse_on_worker(
    analyse: Analyse, path: str, checksum: str, profile_name: str, data: bytes | None = None
) -> dict:
    """A Dask task: analyse ``path`` if this worker sees the same file there (same checksum),
    else the bytes sent in ``data``; ``{"need_bytes": True}`` when it needs them."""
    from aares.fingerprint.catalog import file_checksum

    digest = profile_digest(profile_name)
    if data is None:
        try:
            same = os.path.isfile(path) and file_checksum(path) == checksum
        except OSError:
            same = False
        if not same:
            return {"path": path, "need_bytes": True}
        res = analyse(path, profile_name)
    else:
        fd, tmp = tempfile.mkstemp(suffix=Path(path).suffix, prefix="aares-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            res = analyse(tmp, profile_name)
        finally:
            os.unlink(tmp)
        res["path"] = path
        if "error" in res:
            res["error"] = res["error"].replace(tmp, path)
    res["digest"] = digest
    return res


def _distributed():
    try:
        import distributed
    except ImportError as exc:
        raise ClusterError(
            f"--cluster needs dask.distributed ({exc}); pip install 'aares[shared]'"
        ) from None
    return distributed


def local_cluster(n_workers: int):
    """A Dask ``LocalCluster`` of ``n_workers`` single-threaded processes on 127.0.0.1, no
    dashboard (what ``--cluster local:N`` starts)."""
    import logging

    import dask

    LocalCluster = _distributed().LocalCluster
    # The workers' sampling profiler costs CPU on every task and nobody reads it here; the
    # scheduler may hand each worker all its queued files at once (run_jobs bounds them to
    # 2 per worker), so that a worker never waits for a round trip between two files.
    settings = {
        "distributed.worker.profile.enabled": False,
        "distributed.scheduler.worker-saturation": float("inf"),
    }
    with dask.config.set(settings):
        return LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )


def _client(cluster, info: dict):
    # (client, things to close): a Client given by the caller stays open.
    Client = _distributed().Client

    if not isinstance(cluster, str):
        info.update(where=f"Dask cluster {cluster.scheduler.address}")
        return cluster, []
    spec = check_cluster(cluster)
    if spec.startswith("local:"):
        local = local_cluster(int(spec[6:]))
        client = Client(local)
        info.update(where=f"local Dask cluster of {spec[6:]} processes")
        return client, [client, local]
    client = connect_scheduler(spec)
    info.update(where=f"Dask cluster {spec}")
    return client, [client]


def connect_scheduler(spec: str, timeout: float = 10.0):
    """A ``distributed.Client`` of the scheduler at ``tcp://host:port`` (checked first), or
    :class:`ClusterError` naming it when it does not answer within ``timeout`` seconds."""
    spec = check_cluster(spec)
    try:
        return _distributed().Client(spec, timeout=f"{timeout}s")
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"{spec}: cannot reach the Dask scheduler ({exc})") from None


def _run_dask(todo: list[Job], profile_name: str, analyse: Analyse, cluster, info: dict):
    from distributed import as_completed

    client, to_close = _client(cluster, info)
    try:
        n_workers = len(client.scheduler_info()["workers"])
        if n_workers == 0:
            client.wait_for_workers(1, timeout=60)
            n_workers = len(client.scheduler_info()["workers"])
        info.update(workers=n_workers)
        digest = profile_digest(profile_name)
        queue = list(reversed(todo))
        limit = max(4, 2 * n_workers)
        pending = as_completed()
        jobs_of: dict = {}

        def submit(job: Job, data: bytes | None = None) -> None:
            fut = client.submit(
                analyse_on_worker, analyse, job.path, job.checksum, profile_name, data,
                key=f"aares-fp-{job.checksum}-{'bytes' if data is not None else 'path'}",
                pure=False,
            )  # fmt: skip
            jobs_of[fut.key] = job
            pending.add(fut)

        while queue and pending.count() < limit:
            submit(queue.pop())
        yield from _collect(pending, jobs_of, queue, limit, submit, digest, info)
    finally:
        for thing in to_close:
            thing.close()


def _collect(pending, jobs_of, queue, limit, submit, digest, info):
    try:
        for fut in pending:
            job = jobs_of.pop(fut.key)
            if fut.status == "error":
                exc = fut.exception()
                res = {"path": job.path, "error": f"{job.path}: {_task_error(exc)}"}
            else:
                res = fut.result()
            fut.release()
            if res.get("need_bytes"):
                try:
                    data = Path(job.path).read_bytes()
                except OSError as exc:
                    res = {"path": job.path, "error": f"{job.path}: cannot read ({exc})"}
                else:
                    submit(job, data)
                    continue
            elif "error" not in res and res.get("digest") != digest:
                res = {
                    "path": job.path,
                    "error": f"{job.path}: a worker runs another aares (profile or format "
                    f"differs from this one's); install the same version on every worker",
                }
            while queue and pending.count() < limit:
                submit(queue.pop())
            yield res, job
    except OSError as exc:  # the scheduler went away (distributed's CommClosedError)
        raise ClusterError(f"{info.get('where')}: lost the Dask scheduler ({exc})") from None


def _task_error(exc: BaseException) -> str:
    name = type(exc).__name__
    if name == "KilledWorker":
        return "every worker that tried it died (the file may crash the analysis)"
    return f"analysis failed on a worker ({name}: {exc})"
