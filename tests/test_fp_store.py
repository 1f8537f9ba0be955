"""The catalog's store on a bad day: other programs' files, read-only media, a full disk,
damaged rows, a killed writer's WAL, replaced and twin files, and local worker processes."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from aares.fingerprint.catalog import Catalog
from aares.fingerprint.store import StoreError
from test_fp_engine import SR, _write_songs, synth_song


@pytest.fixture(scope="module")
def songs() -> list[np.ndarray]:
    return [synth_song(s, seconds=20.0) for s in range(3)]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cli(*args: str) -> tuple[int, str]:
    from typer.testing import CliRunner

    from aares.cli import app

    res = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    return res.exit_code, res.output


_CLI_SCRIPT = """
import json, sys
from typer.testing import CliRunner
from aares.cli import app
out = []
for args in json.loads(sys.argv[1]):
    res = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    out.append([res.exit_code, res.output])
print("RESULTS " + json.dumps(out))
"""


def _cli_inside(prefix: tuple[str, ...], *calls: list[str]) -> tuple[list[tuple[int, str]], str]:
    # Several CLI calls in one process started under `prefix` (a mount namespace): one
    # start-up instead of one per call. Returns the calls' (exit code, output) and stdout.
    import json

    env = dict(os.environ)
    src = str(Path(__file__).resolve().parent.parent / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [*prefix, sys.executable, "-c", _CLI_SCRIPT, json.dumps(list(calls))]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULTS ")]
    assert line, proc.stdout + proc.stderr
    return [tuple(r) for r in json.loads(line[0][8:])], proc.stdout


def _one_line_error(result: tuple[int, str]) -> str:
    code, output = result
    assert code not in (0, None), output
    assert "Traceback" not in output, output
    lines = [ln for ln in output.splitlines() if "error" in ln]
    assert lines, output
    return " ".join(lines)


def _can_mount() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


needs_mount = pytest.mark.skipif(not _can_mount(), reason="needs root and mount namespaces")


def test_another_programs_sqlite_file_is_refused_and_left_unchanged(tmp_path, songs):
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        con.execute("INSERT INTO invoices VALUES (1, 9.5)")
    con.close()
    before = _sha(other)
    with pytest.raises(StoreError, match="not an aares catalog"):
        Catalog(other)
    folder = tmp_path / "m"
    _write_songs(folder, songs[:1])
    for args in (
        ["fp", "list", "--db", str(other)],
        ["fp", "index", str(folder), "--db", str(other)],
    ):
        assert "not an aares catalog" in _one_line_error(_cli(*args))
    assert _sha(other) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "other.db"]  # no -wal, no -shm


def test_a_killed_writers_wal_is_folded_in_on_open_and_after_a_run(tmp_path, songs):
    folder = tmp_path / "m"
    _write_songs(folder, songs[:2])
    db = tmp_path / "c.db"
    script = (
        "import os, signal, sys\n"
        "from aares.fingerprint.catalog import Catalog\n"
        "from aares.fingerprint import store\n"
        "store.SQLiteStore.checkpoint = lambda self: None\n"  # as a crash before the end
        "def on(ev):\n"
        "    if ev['status'] == 'added': os.kill(os.getpid(), signal.SIGKILL)\n"
        f"Catalog({str(db)!r}).add([{str(folder)!r}], on_progress=on)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], check=False)
    assert proc.returncode == -9
    assert Path(f"{db}-wal").stat().st_size > 0  # the committed song lives in the WAL
    Catalog(db).close()  # opening folds it in
    alone = tmp_path / "alone.db"
    shutil.copy(db, alone)  # the .db without its -wal
    assert len(Catalog(alone).songs()) == 1
    cat = Catalog(db)
    cat.add([folder])
    shutil.copy(db, alone)
    assert not Path(f"{db}-wal").exists() or Path(f"{db}-wal").stat().st_size == 0
    assert [s.title for s in Catalog(alone).songs()] == ["Title 0", "Title 1"]


def test_damaged_rows_give_one_line_naming_the_catalog(tmp_path, songs):
    db = tmp_path / "c.db"
    with Catalog(db) as cat:
        sid = cat.add_signal(songs[0], "one")
    excerpt = tmp_path / "q.wav"
    sf.write(excerpt, songs[0][2 * SR : 8 * SR], SR)
    with sqlite3.connect(db) as con:
        con.execute("UPDATE postings SET data = ? WHERE song_id = ?", (b"\x00garbage", sid))
    con.close()
    with pytest.raises(StoreError, match=f"song {sid}: corrupt postings"):
        Catalog(db).identify(excerpt)
    msg = _one_line_error(_cli("fp", "identify", str(excerpt), "--db", str(db)))
    assert str(db) in msg and "corrupt postings" in msg
    with sqlite3.connect(db) as con:
        con.execute("UPDATE meta SET value = 'seven' WHERE key = 'generation'")
    con.close()
    with pytest.raises(StoreError, match="generation 'seven' is not a number"):
        Catalog(db)
    msg = _one_line_error(_cli("fp", "list", "--db", str(db)))
    assert str(db) in msg and "generation" in msg


def test_a_file_replaced_at_its_path_replaces_its_song(tmp_path, songs):
    folder = tmp_path / "m"
    (path,) = _write_songs(folder, songs[:1])
    cat = Catalog(tmp_path / "c.db")
    cat.add([folder])
    time.sleep(0.01)
    sf.write(path, songs[1], SR, subtype="PCM_16")  # new content, same name
    report = cat.add([folder])
    assert len(report.added) == 1 and len(cat) == 1
    excerpt = songs[1][4 * SR : 10 * SR]
    assert cat.identify_signal(excerpt)[0].path == str(path.resolve())
    assert cat.identify_signal(songs[0][4 * SR : 10 * SR]) == []  # the stale song is gone


def test_broken_files_with_the_same_bytes_all_fail(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    for name in ("a.wav", "b.wav", "c.wav"):
        (folder / name).write_bytes(b"RIFF0000WAVEjunk")
    report = Catalog(tmp_path / "c.db").add([folder])
    assert report.skipped == [] and report.added == []
    failed = {Path(p).name: msg for p, msg in report.failed}
    assert sorted(failed) == ["a.wav", "b.wav", "c.wav"]
    assert all(name in msg for name, msg in failed.items())


def test_jobs_are_capped_at_the_cores_and_the_files(tmp_path, songs):
    folder = tmp_path / "m"
    _write_songs(folder, songs[:2])
    report = Catalog(tmp_path / "c.db").add([folder], jobs=500)
    assert 1 <= report.workers <= min(2, os.cpu_count() or 1)
    assert len(report.added) == 2


@needs_mount
def test_a_catalog_on_read_only_media_answers_list_and_identify(tmp_path, songs):
    src = tmp_path / "src"
    with Catalog(src / "c.db") as cat:
        cat.add_signal(songs[0], "Only song")
    excerpt = tmp_path / "q.wav"
    sf.write(excerpt, songs[0][3 * SR : 9 * SR], SR)
    ro = tmp_path / "ro"
    ro.mkdir()
    mount = f'mount --bind {src} {ro} && mount -o remount,bind,ro {ro} && exec "$@"'
    prefix = ("unshare", "-m", "sh", "-c", mount, "sh")
    db = str(ro / "c.db")
    folder = tmp_path / "m"
    _write_songs(folder, songs[1:2])
    listed, identified, removed, indexed = _cli_inside(
        prefix,
        ["fp", "list", "--db", db, "--json"],
        ["fp", "identify", str(excerpt), "--db", db, "--json"],
        ["fp", "remove", "Only song", "--db", db],
        ["fp", "index", str(folder), "--db", db],
    )[0]
    assert listed[0] == 0 and '"title": "Only song"' in listed[1], listed
    assert identified[0] == 0 and '"title": "Only song"' in identified[1], identified
    for result in (removed, indexed):
        msg = _one_line_error(result)
        assert "read-only" in msg and db in msg
    assert sorted(p.name for p in src.iterdir()) == ["c.db"]


@needs_mount
def test_a_full_disk_gives_one_line_and_keeps_the_songs_before(tmp_path, songs):
    folder = tmp_path / "m"
    _write_songs(folder, songs[:3])
    disk = tmp_path / "disk"
    disk.mkdir()
    db = disk / "c.db"
    # 150 kB: room for the catalog and about one song's postings, not for three
    script = (
        f"mount -t tmpfs -o size=150k tmpfs {disk} && "
        f'"$@"; code=$?; {sys.executable} -c "import sqlite3; c = sqlite3.connect(\'{db}\'); '
        "print('integrity', c.execute('PRAGMA integrity_check').fetchone()[0]); "
        "print('songs', c.execute('SELECT COUNT(*) FROM songs').fetchone()[0])\"; exit $code"
    )
    (result,), stdout = _cli_inside(
        ("unshare", "-m", "sh", "-c", script, "sh"), ["fp", "index", str(folder), "--db", str(db)]
    )
    msg = _one_line_error(result)
    assert "disk full" in msg and str(db) in msg
    assert "integrity ok" in stdout
    assert int(stdout.split("songs ")[-1].split()[0]) < 3


def _children(pid: int) -> list[int]:
    import psutil

    try:
        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _alive(pids: list[int]) -> list[int]:
    import psutil

    out = []
    for p in pids:
        try:
            if psutil.Process(p).status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def _songs_in(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.05) as con:
            return con.execute("SELECT count(*) FROM songs").fetchone()[0]
    except sqlite3.Error:  # not made yet, or being written
        return 0


def signal_when_workers_run(cmd: list[str], sig: int, settle: float = 0.5, db: Path | None = None):
    """Start ``cmd``, wait for two child processes (and, given ``db``, for its first song
    stored), send ``sig`` to the parent alone; return ``(exit code, output, children still
    alive 20 s later)``."""
    env = dict(os.environ, COLUMNS="200")
    src = str(Path(__file__).resolve().parent.parent / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)  # fmt: skip
    deadline = time.monotonic() + 120
    kids: list[int] = []
    while time.monotonic() < deadline and len(kids) < 2:
        time.sleep(0.2)
        kids = _children(proc.pid)
    assert len(kids) >= 2, "the workers never started"
    if db is None:
        time.sleep(settle)
    else:  # the run is mid-way: a fixed wait met finished runs on a fast machine
        while time.monotonic() < deadline and _songs_in(db) == 0 and proc.poll() is None:
            time.sleep(0.01)
    kids = _children(proc.pid)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    deadline = time.monotonic() + 20
    while _alive(kids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return proc.returncode, out, _alive(kids)


@pytest.fixture(scope="module")
def long_folder(tmp_path_factory) -> Path:
    # long enough that the run is still indexing when the signal comes after its first song
    # (a fast machine did 30 such songs in 0.7 s)
    folder = tmp_path_factory.mktemp("long")
    _write_songs(folder, [synth_song(10 + s, seconds=90.0) for s in range(80)])
    return folder


@pytest.mark.parametrize("how", ["kill -9", "SIGTERM"])
def test_workers_end_with_their_parent(tmp_path, long_folder, how):
    db = tmp_path / "c.db"
    cmd = [sys.executable, "-m", "aares", "fp", "index", str(long_folder), "--db", str(db)]
    sig = signal.SIGKILL if how == "kill -9" else signal.SIGTERM
    code, out, left = signal_when_workers_run([*cmd, "--jobs", "2"], sig, db=db)
    assert left == [], f"workers left running after {how}"
    assert "80 added" not in out, "the run ended before the signal: the test proves nothing"
    if how == "SIGTERM":
        assert code == 130 and "interrupted" in out and "Traceback" not in out, out
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()


def test_a_signal_during_a_pool_run_is_raised_between_files(tmp_path):
    # SIGTERM in the middle of the caller's work on a result (e.g. storing a song) does not
    # interrupt that work: the run raises KeyboardInterrupt at its next wait, and its
    # workers are gone (an interrupt raised inside a lock had hung the process at exit)
    from aares.fingerprint.catalog import _analyse_file
    from aares.fingerprint.parallel import Job, run_jobs, sigterm_as_interrupt

    paths = _write_songs(tmp_path / "m", [synth_song(s, seconds=20.0) for s in range(8)])
    jobs = [Job(str(p), f"c{i}") for i, p in enumerate(paths)]
    seen, finished_work, before = [], [], set(_children(os.getpid()))
    with sigterm_as_interrupt(), pytest.raises(KeyboardInterrupt):
        for result, job in run_jobs(jobs, "default", _analyse_file, jobs=2):
            seen.append(job.path)
            if len(seen) == 1:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.3)  # the signal arrives here: no interrupt yet
                finished_work.append(result["path"])
    assert finished_work == [seen[0]]
    assert len(seen) < len(paths)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert set(_children(os.getpid())) <= before
