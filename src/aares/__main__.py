"""The ``aares`` program: runs the command line and turns ordinary failures into one line.

This module imports nothing heavy at its top, so Ctrl-C at any moment of start-up (the
imports of numpy, pandas, scikit-learn... take a second or more) ends with a short message
instead of a traceback. Ordinary failures - a file that cannot be read or written
(``OSError``: permission, full disk, a file where a folder was expected), a data file
with bad values (``DataError``), a damaged model file (``ModelFileError``), a catalog
problem (``StoreError``) - print ``error: ...`` naming the file and exit 1; anything else
is a bug and keeps its traceback. A leading ``~`` is expanded in every value
(:func:`expand_user`).
"""

from __future__ import annotations

import errno
import os
import sys

#: Exception classes (by qualified name, so none is imported until one is raised) that are
#: ordinary failures: one line, exit 1.
ORDINARY = {
    "aares.errors.DataError",
    "aares.modelcard.ModelFileError",
    "aares.fingerprint.store.StoreError",
}
#: Exit status after Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED = 130


def os_message(exc: OSError) -> str:
    """One line for a failed file operation, naming the file the user asked for."""
    from aares.io import TMP_TAG

    name = exc.filename
    if isinstance(name, str) and TMP_TAG in name:
        # a hidden temporary file (or staging folder) of an atomic write: name the output
        parts = name.split(os.sep)
        i = next(k for k, part in enumerate(parts) if TMP_TAG in part)
        last = parts[-1] if i < len(parts) - 1 else parts[i].split(TMP_TAG)[0].removeprefix(".")
        name = os.sep.join(parts[:i] + [last])
    reason = exc.strerror or str(exc)
    hints = {
        errno.EACCES: "no permission; choose another --out or fix the folder's permissions",
        errno.ENOSPC: "no space left on the device; nothing was replaced",
        errno.EDQUOT: "disk quota exceeded; nothing was replaced",
        errno.EROFS: "choose another --out",
        errno.ENOTDIR: "a part of this path is a file, not a folder",
        errno.EISDIR: "is a folder; a file name was expected",
    }
    if exc.errno == errno.EEXIST and name and os.path.isfile(name):
        reason = "exists and is a file; a folder was expected"
    elif exc.errno in hints:
        reason = f"{reason} ({hints[exc.errno]})"
    return f"{name}: {reason}" if name else reason


def _ordinary(exc: BaseException) -> bool:
    return any(f"{c.__module__}.{c.__qualname__}" in ORDINARY for c in type(exc).__mro__)


def expand_user(argv: list[str]) -> list[str]:
    """``argv`` with a leading ``~`` or ``~/`` expanded in each value (``--out ~/x``,
    ``--db=~/c.db``, ``'~/song.mp3'``): the shell does it only for unquoted words that
    begin with ``~``, so ``--db=~/c.db`` reached aares as a folder literally named ``~``.

    Examples
    --------
    >>> import os
    >>> expand_user(["--out=~/x", "~", "a~b"]) == ["--out=" + os.path.expanduser("~/x"),
    ...                                            os.path.expanduser("~"), "a~b"]
    True
    """
    out = []
    for arg in argv:
        option, eq, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
        if value == "~" or value.startswith("~/"):
            value = os.path.expanduser(value)
        out.append(option + eq + value)
    return out


def _show_warnings() -> None:
    # aares' own warnings (bad values kept, optional columns missing, drift) as one line
    import warnings

    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if category.__module__.startswith("aares"):
            print(f"warning: {message}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def _usage_message(exc) -> str:
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    ctx = getattr(exc, "ctx", None)
    where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    return " ".join(message.split()) + where


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    return exc.code if isinstance(exc.code, int) else 1


def main(argv: list[str] | None = None) -> int:
    """Run ``aares`` with ``argv`` (default: the process arguments); return the exit code."""
    argv = expand_user(sys.argv[1:] if argv is None else list(argv))
    try:
        import typer

        from aares.cli import app

        _show_warnings()
        try:
            result = app(args=argv, prog_name="aares", standalone_mode=False)
        except SystemExit as exc:
            return _exit_code(exc)
        except typer.Abort:
            raise KeyboardInterrupt from None
        except typer.TyperException as exc:  # a bad option or argument: one line, exit 2
            print(f"error: {_usage_message(exc)}", file=sys.stderr)
            return getattr(exc, "exit_code", 2)
        if result == INTERRUPTED:  # Ctrl-C inside a command: Typer returns 130 silently
            raise KeyboardInterrupt
        return result if isinstance(result, int) else 0
    except KeyboardInterrupt:
        print("\naares: interrupted", file=sys.stderr)
        return INTERRUPTED
    except OSError as exc:
        if exc.errno == errno.EPIPE:  # `aares ... | head`: the reader left
            return 1
        print(f"error: {os_message(exc)}", file=sys.stderr)
        return 1
    except MemoryError:
        print("error: out of memory (try a smaller input or fewer --jobs)", file=sys.stderr)
        return 1
    except Exception as exc:
        if not _ordinary(exc):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
