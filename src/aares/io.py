"""Writing files so that nothing already stored is lost.

Every writer goes through :func:`atomic_path`: the content is written to a temporary
file in the same folder, flushed, then renamed over the target, so a crash leaves either
the old file or the new one, never half of one. The new file gets the mode an ordinary
``open`` would give it (``0666`` less the umask; an existing file keeps its own), not the
``0600`` of a temporary file.

A writer killed before its rename leaves its hidden temporary file behind: temporary
names carry the writer's process id (``.NAME.aares-tmp-PID-XXXX``), and the next write
into the folder removes those whose process is gone.

Files that must change together (the challenge answer pair) go through
:func:`atomic_files`: all are staged in a hidden folder, then a marker naming them is
written, then they are renamed in place and the marker removed. A kill between the
renames leaves the marker, and the next write into that folder (or :func:`recover`)
finishes the renames, so the pair ends both new; a kill before the marker leaves both
old. (POSIX has no rename of two files at once; one directory rename would move the
answers out of the folder the course expects them in.)
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_path",
    "atomic_files",
    "check_writable",
    "recover",
    "write_text",
    "write_json",
    "write_csv",
    "read_json",
    "ensure_dir",
    "fsync_dir",
    "created_path",
]

#: Marks the temporary files and staging folders of this module (with the writer's pid).
TMP_TAG = ".aares-tmp-"
_PAIR_MARKER = ".aares-pair-"


def ensure_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` (and its parents) if needed and return it as a :class:`Path`."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it over ``target`` on success.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "x.csv"
    >>> with atomic_path(out) as tmp:
    ...     pd.DataFrame({"a": [1]}).to_csv(tmp, index=False)
    >>> out.read_text()
    'a\\n1\\n'
    """
    with _staged(target, os.replace) as tmp_path:
        yield tmp_path


@contextlib.contextmanager
def created_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success it becomes ``target`` only if
    nothing is there by then (a hard link, which never replaces: when two processes create
    the same file at once, the first one's stays and the other's is dropped).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> for text in ("first", "second"):
    ...     with created_path(out) as tmp:
    ...         _ = tmp.write_text(text)
    >>> out.read_text()
    'first'
    """
    with _staged(target, _link_unless_present) as tmp_path:
        yield tmp_path


def _link_unless_present(tmp_path: Path, target: Path) -> None:
    with contextlib.suppress(FileExistsError):
        os.link(tmp_path, target)


@contextlib.contextmanager
def _staged(target: str | os.PathLike, publish: Callable[[Path, Path], None]) -> Iterator[Path]:
    # a temporary file beside ``target`` (dead writers' leftovers removed first), synced
    # and given the umask's mode on success, then published by ``publish(tmp, target)``;
    # never left behind
    target = Path(target)
    ensure_dir(target.parent)
    recover(target.parent)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}{TMP_TAG}{os.getpid()}-", suffix=target.suffix, dir=target.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        _finish(tmp_path, target)
        publish(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def check_writable(target: str | os.PathLike) -> Path:
    """Fail now (``OSError`` naming the path) if ``target`` could not be written later:
    its folder cannot be made or written, or ``target`` is a folder. For jobs that would
    otherwise find out only after minutes of work."""
    target = Path(target)
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(target))
    ensure_dir(target.parent)
    fd, probe = tempfile.mkstemp(prefix=f".{target.name}{TMP_TAG}{os.getpid()}-", dir=target.parent)
    os.close(fd)
    os.unlink(probe)
    return target


def _finish(tmp: Path, target: Path) -> None:
    """Give ``tmp`` the mode ``target`` should have and flush it to disk."""
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    os.chmod(tmp, mode)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())


def _umask() -> int:
    # read without changing it where Linux shows it (setting it back races with threads)
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def _writer_pid(name: str) -> int | None:
    try:
        return int(name.split(TMP_TAG, 1)[1].split("-", 1)[0].split(".", 1)[0])
    except (IndexError, ValueError):
        return None


def recover(folder: str | os.PathLike) -> None:
    """Finish or undo what killed writers left in ``folder``.

    An answer pair whose marker survived is renamed into place (both files new); staged
    folders without a marker and temporary files of writers that are gone are removed.
    Called by every write into the folder.
    """
    folder = Path(folder)
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if name.startswith(_PAIR_MARKER) and name.endswith(".json"):
            pid = _writer_pid(name)
            if pid is not None and pid != os.getpid() and not _pid_alive(pid):
                _roll_forward(folder, folder / name)
    for name in os.listdir(folder):
        pid = _writer_pid(name) if TMP_TAG in name else None
        if pid is None or pid == os.getpid() or _pid_alive(pid):
            continue
        path = folder / name
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _roll_forward(folder: Path, marker: Path) -> None:
    try:
        plan = json.loads(marker.read_text(encoding="utf-8"))
        staged = folder / plan["staged"]
        names = [str(n) for n in plan["files"]]
    except (OSError, ValueError, KeyError, TypeError):
        marker.unlink(missing_ok=True)  # unreadable: written before any rename began
        return
    for name in names:
        if "/" not in name and (staged / name).exists():
            os.replace(staged / name, folder / name)
    marker.unlink(missing_ok=True)
    shutil.rmtree(staged, ignore_errors=True)


@contextlib.contextmanager
def atomic_files(targets: Sequence[str | os.PathLike]) -> Iterator[list[Path]]:
    """Yield one temporary path per target (all in one folder); on success all targets
    are replaced so that a kill leaves all old or (after :func:`recover`) all new.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_files([out / "a.csv", out / "b.csv"]) as (a, b):
    ...     _ = a.write_text("1"), b.write_text("2")
    >>> sorted(p.name for p in out.iterdir())
    ['a.csv', 'b.csv']
    """
    targets = [Path(t) for t in targets]
    folder = targets[0].parent
    if any(t.parent != folder for t in targets) or len({t.name for t in targets}) < len(targets):
        raise ValueError("atomic_files: the targets must be distinct files of one folder")
    ensure_dir(folder)
    recover(folder)
    staged = Path(tempfile.mkdtemp(prefix=f".pair{TMP_TAG}{os.getpid()}-", dir=folder))
    marker = folder / f"{_PAIR_MARKER}{TMP_TAG}{os.getpid()}-{staged.name[-8:]}.json"
    try:
        paths = [staged / t.name for t in targets]
        yield paths
        for tmp, target in zip(paths, targets, strict=True):
            _finish(tmp, target)
        plan = {"staged": staged.name, "files": [t.name for t in targets]}
        with atomic_path(marker) as tmp:
            tmp.write_text(json.dumps(plan), encoding="utf-8")
        for tmp, target in zip(paths, targets, strict=True):
            os.replace(tmp, target)
        fsync_dir(folder)
        marker.unlink()
    finally:
        if not marker.exists():
            shutil.rmtree(staged, ignore_errors=True)


def fsync_dir(folder: str | os.PathLike) -> None:
    """Flush a folder's entries to disk (after a rename), where the platform allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_text(target: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``target`` atomically (UTF-8)."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


def write_json(target: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``target`` atomically."""
    return write_text(target, json.dumps(obj, indent=2, sort_keys=False, default=_json_default))


def write_csv(target: str | os.PathLike, frame, **to_csv) -> Path:
    """Write a pandas frame to ``target`` atomically (``to_csv`` options passed on)."""
    with atomic_path(target) as tmp:
        frame.to_csv(tmp, **to_csv)
    return Path(target)


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, naming the file in the error when it is not valid JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None


def _json_default(obj: Any) -> Any:
    # numpy scalars and arrays, paths
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")
