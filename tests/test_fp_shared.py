"""A shared catalog: a real throwaway PostgreSQL server and a real Dask LocalCluster.

Skipped when PostgreSQL's binaries (initdb, pg_ctl) are missing; `.ci/run` installs them.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aares.fingerprint.catalog import Catalog
from aares.fingerprint.store import open_store
from pgserver import PostgresServer, free_port, postgres_bin
from test_fp_engine import SR, _write_songs, synth_song
from test_fp_store import _cli, _one_line_error, signal_when_workers_run


@pytest.fixture(scope="session")
def pg_server():
    folder = postgres_bin()
    if folder is None:
        pytest.skip("PostgreSQL's initdb/pg_ctl not installed (apt-get install postgresql)")
    server = PostgresServer(folder).start()
    yield server
    server.stop()


@pytest.fixture()
def pg_url(pg_server) -> str:
    return pg_server.new_database()


@pytest.fixture(scope="module")
def client():
    from distributed import Client

    from aares.fingerprint.parallel import local_cluster

    cluster = local_cluster(2)
    with Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def songs() -> list[np.ndarray]:
    return [synth_song(40 + s, seconds=20.0) for s in range(6)]


def _env() -> dict:
    env = dict(os.environ, COLUMNS="200")
    src = str(Path(__file__).resolve().parent.parent / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _matches(cat: Catalog, excerpts) -> list:
    return [[(m.song_id, m.title, round(m.offset, 3), m.score) for m in cat.identify_signal(x)]
            for x in excerpts]  # fmt: skip


def test_sqlite_and_postgres_hold_the_same_catalog_and_copy_both_ways(
    tmp_path, songs, pg_server, pg_url
):
    folder = tmp_path / "m"
    _write_songs(folder, songs[:3])
    lite = tmp_path / "c.db"
    Catalog(lite).add([folder])
    code, out = _cli("fp", "index", str(folder), "--db", pg_url, "--cluster", "local:2")
    assert code == 0, out
    assert "3 added" in out and "local Dask cluster of 2 processes" in out

    excerpts = [x[5 * SR : 11 * SR] for x in songs[:4]]  # the last is not in the catalogs
    with Catalog(lite) as a, Catalog(pg_url) as b:
        # the cluster stores songs as they finish: the same songs, maybe under other ids
        by_sum = {s.checksum: s for s in b.songs()}
        assert sorted(by_sum) == sorted(s.checksum for s in a.songs())
        for s in a.songs():
            other = by_sum[s.checksum]
            assert (s.title, s.n_hashes, s.duration) == (
                other.title,
                other.n_hashes,
                other.duration,
            )
            assert a.store.postings_blob(s.id) == b.store.postings_blob(other.id)
        want = _matches(a, excerpts)
        drop_ids = [[m[1:] for m in ms] for ms in want]
        assert [[m[1:] for m in ms] for ms in _matches(b, excerpts)] == drop_ids
        assert [m[0][1] for m in want[:3]] == ["Title 0", "Title 1", "Title 2"] and want[3] == []

    to_pg = pg_server.new_database()
    back = tmp_path / "back.db"
    for src, dst in ((lite, to_pg), (to_pg, back)):
        code, out = _cli("fp", "copy", "--from", str(src), "--to", str(dst))
        assert code == 0 and "copied 3 songs" in out, out
    for copy in (to_pg, back):
        with Catalog(copy) as c:
            assert _matches(c, excerpts) == want
    listed = [_cli("fp", "list", "--db", str(db), "--json")[1] for db in (lite, to_pg, back)]
    assert listed[0] == listed[1] == listed[2]
    code, out = _cli("fp", "copy", "--from", str(lite), "--to", str(back))  # resumes: nothing new
    assert code == 0 and "copied 0 songs" in out
    other = tmp_path / "other.db"
    with Catalog(other) as c:
        c.add_signal(songs[5], "Another")
    msg = _one_line_error(_cli("fp", "copy", "--from", str(lite), "--to", str(other)))
    assert "not a copy" in msg and str(other) in msg


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_runs_at_once_over_overlapping_folders_store_each_song_once(
    tmp_path, songs, backend, request
):
    one, two = tmp_path / "one", tmp_path / "two"
    _write_songs(one, songs[:4])
    two.mkdir()
    for p in sorted(one.iterdir())[1:]:  # songs 1-3 again under other paths, and song 4
        shutil.copy(p, two / f"copy of {p.name}")
    _write_songs(tmp_path / "x", songs[4:5])
    shutil.copy(next((tmp_path / "x").iterdir()), two / "new.wav")
    db = request.getfixturevalue("pg_url") if backend == "postgresql" else str(tmp_path / "c.db")
    cmd = [sys.executable, "-m", "aares", "fp", "index"]
    runs = [
        subprocess.Popen([*cmd, str(folder), "--db", db], env=_env(), text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for folder in (one, two)
    ]  # fmt: skip
    outs = [r.communicate(timeout=300)[0] for r in runs]
    for r, out in zip(runs, outs, strict=True):
        assert r.returncode == 0 and "Traceback" not in out, out
    with Catalog(db) as cat:
        songs_in = cat.songs()
    assert len(songs_in) == 5 and len({s.checksum for s in songs_in}) == 5


def test_a_worker_killed_mid_run_loses_nothing(tmp_path, songs, client, pg_url):
    folder = tmp_path / "m"
    _write_songs(folder, songs)
    pids = client.run(os.getpid)
    victim = next(iter(pids.values()))
    killed = []

    def on_progress(ev: dict) -> None:
        if ev["status"] == "added" and not killed:
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    with Catalog(pg_url) as cat:
        report = cat.add([folder], cluster=client, on_progress=on_progress)
        assert killed and report.failed == []
        assert len(report.added) == 6
        assert sorted(s.title for s in cat.songs()) == [f"Title {i}" for i in range(6)]
    client.wait_for_workers(2, timeout=60)  # the nanny starts a new one


def test_workers_read_shared_paths_or_get_the_bytes(tmp_path, songs, client):
    from aares.fingerprint.catalog import _analyse_file, file_checksum
    from aares.fingerprint.parallel import analyse_on_worker

    (path,) = _write_songs(tmp_path / "m", songs[:1])
    checksum = file_checksum(path)
    seen = client.submit(analyse_on_worker, _analyse_file, str(path), checksum, "default").result()
    assert seen["hashes"].size > 100
    # a worker that finds another file at the path (another machine) asks for the bytes
    ask = client.submit(analyse_on_worker, _analyse_file, str(path), "0" * 32, "default").result()
    assert ask == {"path": str(path), "need_bytes": True}
    sent = client.submit(
        analyse_on_worker, _analyse_file, "/elsewhere/song.wav", checksum, "default",
        path.read_bytes(),
    ).result()  # fmt: skip
    assert sent["path"] == "/elsewhere/song.wav"
    assert sent["hashes"].tolist() == seen["hashes"].tolist()


def test_a_reader_follows_a_writer(tmp_path, songs, pg_url):
    writer = Catalog(pg_url)
    writer.add_signal(songs[0], "first")
    reader = Catalog(pg_url)
    assert reader.identify_signal(songs[1][2 * SR : 8 * SR]) == []
    writer.add_signal(songs[1], "second")
    assert reader.identify_signal(songs[1][2 * SR : 8 * SR])[0].title == "second"
    writer.remove(writer.songs()[0].id)
    assert reader.identify_signal(songs[0][2 * SR : 8 * SR]) == []
    writer.close()
    reader.close()


def test_bad_urls_and_servers_that_are_down_name_the_server_and_write_nothing(tmp_path, songs):
    folder = tmp_path / "m"
    _write_songs(folder, songs[:1])
    port = free_port()
    cases = {
        f"postgresql://aares:s3cret@127.0.0.1:{port}/music": f"127.0.0.1:{port}",
        "postgresql://127.0.0.1/music?nosuchoption=1": "bad catalog URL",
        "mysql://127.0.0.1/music": "no catalog backend for 'mysql'",
    }
    for url, expected in cases.items():
        msg = _one_line_error(_cli("fp", "index", str(folder), "--db", url))
        assert expected in msg and "s3cret" not in msg
    db = tmp_path / "c.db"
    for cluster, expected in (
        (f"tcp://127.0.0.1:{port}", f"tcp://127.0.0.1:{port}: cannot reach the Dask scheduler"),
        ("local:0", "expected local:N"),
        ("127.0.0.1", "expected local:N or the scheduler's address"),
    ):
        args = ["fp", "index", str(folder), "--db", str(db), "--cluster", cluster]
        assert expected in _one_line_error(_cli(*args))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no catalog was created


def test_local_cluster_workers_end_with_their_parent(tmp_path):
    folder = tmp_path / "long"
    _write_songs(folder, [synth_song(60 + s, seconds=90.0) for s in range(4)])
    cmd = [sys.executable, "-m", "aares", "fp", "index", str(folder), "--db", str(tmp_path / "c")]
    _, _, left = signal_when_workers_run([*cmd, "--cluster", "local:2"], signal.SIGKILL, 2.0)
    assert left == [], "Dask worker processes left running after kill -9"


def test_postgres_store_is_the_same_store(pg_url):
    from aares.fingerprint.store import FORMAT_VERSION, DuplicateSong, SongInfo, StoreError

    st = open_store(pg_url, profile="default")
    h = np.array([9, 3, 3, 7], dtype=np.uint32)
    f = np.array([0, 2, 2, 40], dtype=np.uint32)
    sid = st.add_song(SongInfo("a.wav", "A", "X", 3.0, "sum1"), h, f)
    assert st.postings(sid)[0].tolist() == h.tolist() and st.find_path("a.wav").id == sid
    with pytest.raises(DuplicateSong):
        st.add_song(SongInfo("b.wav", "B", "", 1.0, "sum1"), h, f)
    g = st.generation()
    new = st.add_song(SongInfo("a.wav", "A2", "X", 3.0, "sum2"), h, f, replaces=sid)
    assert [s.id for s in st.songs()] == [new] and st.generation() == g + 1
    assert st.audio_seconds() == 3.0
    st.close()
    with pytest.raises(StoreError, match="profile 'default'"):
        open_store(pg_url, profile="course")
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute("UPDATE aares.postings SET data = '\\x00ff'::bytea")
        con.execute("UPDATE aares.meta SET value = '99' WHERE key = 'format'")
    with pytest.raises(StoreError, match="format 99 is not supported"):
        open_store(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute("UPDATE aares.meta SET value = %s WHERE key = 'format'", (str(FORMAT_VERSION),))
    with pytest.raises(StoreError, match="corrupt postings"):
        list(open_store(pg_url).all_postings())


def test_a_select_only_role_reads_the_catalog_and_cannot_change_it(pg_url):
    import psycopg

    from aares.fingerprint.store import SongInfo, StoreError

    with open_store(pg_url, profile="default") as st:
        st.add_song(SongInfo("a.wav", "A", "", 1.0, "sum1"), np.arange(3, dtype=np.uint32),
                    np.arange(3, dtype=np.uint32))  # fmt: skip
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute("CREATE ROLE reader LOGIN")
        con.execute("GRANT USAGE ON SCHEMA aares TO reader")
        con.execute("GRANT SELECT ON ALL TABLES IN SCHEMA aares TO reader")
    with open_store(pg_url.replace("aares@", "reader@")) as ro:
        assert ro.readonly and [s.title for s in ro.songs()] == ["A"]
        with pytest.raises(StoreError, match="read-only"):
            ro.remove_song(1)


def test_first_writers_racing_create_the_schema_once(pg_url):
    import threading

    barrier, errors, stores = threading.Barrier(4), [], []

    def first_open() -> None:
        barrier.wait()
        try:
            stores.append(open_store(pg_url, profile="default"))
        except Exception as exc:  # noqa: BLE001 (the test reports whatever went wrong)
            errors.append(exc)

    threads = [threading.Thread(target=first_open) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and len(stores) == 4
    assert len({s.catalog_id() for s in stores}) == 1
    for s in stores:
        s.close()
