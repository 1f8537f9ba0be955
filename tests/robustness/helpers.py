"""Shared tools of the robustness suite (issue 14): run the real ``aares`` command in a
subprocess and check how it ends.

Every case builds its bad input in code, runs the command as a user would, and checks
that it ends with a non-zero exit and a one-line message (never a signal, a traceback or
a hang), that nothing was written or lost, and that no process it started is left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

#: Exit codes a refused input may end with (1: an ordinary failure, 2: a bad option).
ERROR_CODES = (1, 2)


def run_aares(*args, timeout: float = 120, env: dict | None = None, cwd=None):
    """Run ``python -m aares ARGS`` and return the CompletedProcess (text output).

    Fails the test when the process dies from a signal (a crash) or times out (a hang).
    """
    full_env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})}
    full_env.pop("AARES_DATA", None) if env is None or "AARES_DATA" not in env else None
    result = subprocess.run(
        [sys.executable, "-m", "aares", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=cwd,
    )
    if result.returncode < 0:
        name = signal.Signals(-result.returncode).name
        raise AssertionError(f"aares died from {name}:\n{result.stdout}\n{result.stderr}")
    return result


def assert_one_line_error(result, *words: str) -> str:
    """The run failed with exit 1 or 2 and one error line holding every word (case-blind);
    no traceback. Returns the error line."""
    out = result.stdout + result.stderr
    assert result.returncode in ERROR_CODES, f"exit {result.returncode}:\n{out}"
    assert "Traceback" not in out, out
    lines = [line for line in out.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    assert errors, f"no error line:\n{out}"
    line = errors[0]
    for word in words:
        assert word.lower() in line.lower(), f"{word!r} not in {line!r}"
    assert len(line) < 600, f"error line of {len(line)} characters"
    return line


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` (hidden ones too) with its size and mtime."""
    folder = Path(folder)
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def children_of(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc), to check none is left running."""
    kids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            kids.append(int(entry.name))
    return kids
