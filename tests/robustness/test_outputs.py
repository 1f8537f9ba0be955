"""Outputs (issue 14, item 6): written with the umask's mode, no temporary file stranded by
a killed writer, and the challenge answer pair never left half new."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from aares.genre.challenge import write_challenge
from aares.io import TMP_TAG, atomic_files, recover, write_text

from .helpers import run_aares


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_outputs_get_the_umask_mode(tmp_path, umask_022):
    # every output was 0600 (the temporary file's mode) whatever the umask
    write_text(tmp_path / "report.md", "x")
    with atomic_files([tmp_path / "a.csv", tmp_path / "b.csv"]) as (a, b):
        a.write_text("1")
        b.write_text("2")
    assert {_mode(tmp_path / n) for n in ("report.md", "a.csv", "b.csv")} == {0o644}


def test_predict_writes_answers_with_the_umask_mode(
    lightgbm_model, genre_data, tmp_path, umask_022
):
    out = tmp_path / "out"
    result = run_aares(
        "genre", "predict", "--model", lightgbm_model, "--data", genre_data, "--out", out,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert _mode(out / "genre.csv") == _mode(out / "spotify_dataset_test.csv") == 0o644
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_an_existing_file_keeps_its_mode(tmp_path, umask_022):
    target = tmp_path / "shared.csv"
    target.write_text("old")
    target.chmod(0o664)
    write_text(target, "new")
    assert target.read_text() == "new" and _mode(target) == 0o664


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_temp_files_of_dead_writers_are_removed_on_the_next_write(tmp_path):
    stale = tmp_path / f".model.skops{TMP_TAG}{_dead_pid()}-abc123.skops"
    stale.write_bytes(b"half a model")
    live = tmp_path / f".other.csv{TMP_TAG}{os.getppid()}-def456.csv"  # a running writer
    live.write_text("in progress")
    write_text(tmp_path / "summary.txt", "x")
    assert not stale.exists()
    assert live.exists()


def test_a_writer_killed_mid_write_leaves_nothing_after_the_next_run(tmp_path):
    # SIGKILL while the temporary file is open: the old target stays, the temp is cleaned
    target = tmp_path / "report.md"
    target.write_text("old")
    script = textwrap.dedent(
        f"""
        import os, signal
        from aares.io import atomic_path
        with atomic_path({str(target)!r}) as tmp:
            tmp.write_text("half")
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script])
    assert proc.returncode == -signal.SIGKILL
    assert target.read_text() == "old"
    assert len(list(tmp_path.iterdir())) == 2  # the stranded temp file
    write_text(tmp_path / "other.md", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.md", "report.md"]


def _kill_during_pair_write(folder, kill_at: int) -> None:
    """Write the answer pair in a child killed (SIGKILL) at its ``kill_at``-th rename
    (0: the marker's, 1 and 2: the answers')."""
    script = textwrap.dedent(
        f"""
        import os, signal
        import pandas as pd
        import aares.io as io
        from aares.genre.challenge import write_challenge
        real, done = os.replace, []
        def replace(src, dst):
            if len(done) == {kill_at}:
                os.kill(os.getpid(), signal.SIGKILL)
            real(src, dst)
            done.append(dst)
        io.os.replace = replace
        write_challenge(pd.DataFrame({{"id": ["a", "b"]}}), ["new", "new"], {str(folder)!r})
        """
    )
    proc = subprocess.run([sys.executable, "-c", script])
    assert proc.returncode == -signal.SIGKILL


def _answers(folder) -> tuple[list[str], list[str]]:
    full = pd.read_csv(folder / "spotify_dataset_test.csv")["genre"].tolist()
    genre = pd.read_csv(folder / "genre.csv")["genre"].tolist()
    return full, genre


@pytest.mark.parametrize("kill_at, outcome", [(0, "old"), (1, "new"), (2, "new")])
def test_a_kill_never_leaves_one_answer_new_and_one_old(tmp_path, kill_at, outcome):
    write_challenge(pd.DataFrame({"id": ["a", "b"]}), ["old", "old"], tmp_path)
    _kill_during_pair_write(tmp_path, kill_at)
    recover(tmp_path)  # what the next write into the folder does first
    assert _answers(tmp_path) == ([outcome] * 2, [outcome] * 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["genre.csv", "spotify_dataset_test.csv"]
