"""Where a catalog keeps its songs and postings: a small interface and two backends.

A catalog holds, for each song, its facts (:class:`SongInfo`: path, title, artist, duration,
content checksum, profile) and its *postings*, the landmark hashes with the anchor frame of
each (``hash -> (song, frame)``). :class:`Store` is the interface the engine uses.
:class:`SQLiteStore` is the default: one file, no server. :class:`~aares.fingerprint.pgstore.
PostgresStore` (``postgresql://...``) is the shared one: several indexing runs, on one machine
or many, add to it at once while readers query it. :func:`open_store` picks by location.

Layout (both backends)
----------------------
``meta(key, value)``
    the profile's name and parameters (JSON), the format version, a *generation* counter
    bumped in the transaction of every change (so that a query index knows when it is stale).
``songs(id, path, title, artist, duration, checksum UNIQUE, profile, n_hashes, size, mtime)``
``postings(song_id PRIMARY KEY, data BLOB/bytea)``
    one blob per song: the song's hashes (``uint32``, little-endian) then its anchor frames
    delta-coded (``uint32``), zlib-compressed. About 4-5 bytes per posting; the frames cost
    almost nothing since they grow slowly. Reading every blob and sorting once gives the
    inverted index that answers queries in milliseconds; a per-row SQL lookup would cost far
    more per hash. The blob is the same in both backends, so a copy is byte for byte.

Every song is written in one transaction (its row and its blob together), so an indexing run
killed at any moment (Ctrl-C, ``kill -9``, power loss) leaves the catalog as it was after the
last complete song, and rerunning the run skips the songs already there (by checksum). The
unique checksum also settles two writers that analysed the same file: the second gets
:class:`DuplicateSong` and nothing is stored twice.

Example
-------
>>> import numpy as np, tempfile, pathlib
>>> db = SQLiteStore(pathlib.Path(tempfile.mkdtemp()) / "c.db", profile="default")
>>> info = SongInfo(path="a.wav", title="A", artist="", duration=1.0, checksum="x")
>>> sid = db.add_song(info, np.array([5, 7], np.uint32), np.array([0, 3], np.uint32))
>>> [s.title for s in db.songs()], db.postings(sid)[0].tolist()
(['A'], [5, 7])
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import quote

import numpy as np

__all__ = [
    "FORMAT_VERSION",
    "DuplicateSong",
    "SQLiteStore",
    "SongInfo",
    "Store",
    "StoreError",
    "copy_store",
    "open_store",
]

FORMAT_VERSION = 1


class StoreError(ValueError):
    """A catalog file that cannot be used (wrong format, other profile, not a catalog)."""


@dataclass(frozen=True)
class SongInfo:
    """The facts about one song of a catalog (``id`` is set by the store)."""

    path: str
    title: str
    artist: str
    duration: float
    checksum: str
    profile: str = ""
    n_hashes: int = 0
    size: int = 0
    mtime: float = 0.0
    id: int | None = field(default=None)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "artist": self.artist,
            "duration": round(self.duration, 3),
            "path": self.path,
            "checksum": self.checksum,
            "profile": self.profile,
            "n_hashes": self.n_hashes,
        }


class DuplicateSong(StoreError):
    """The audio is in the catalog already (another run may have added it meanwhile)."""

    def __init__(self, location: str, song_id: int) -> None:
        super().__init__(f"{location}: same audio as song {song_id}")
        self.song_id = song_id


class Store(ABC):
    """What the engine needs from a catalog's storage.

    Implementations write :meth:`add_blob` atomically (the song and its postings, or nothing)
    and keep checksums unique even when several writers race (the loser gets
    :class:`DuplicateSong`). Every failure of the storage itself (read-only, disk full, server
    gone, corrupt data) is a :class:`StoreError` whose message names the catalog.
    """

    #: the profile name this catalog was built with
    profile: str
    #: the catalog's file or (password-free) URL, for messages
    location: str
    #: True when this process may only read the catalog
    readonly: bool = False

    def add_song(
        self,
        info: SongInfo,
        hashes: np.ndarray,
        frames: np.ndarray,
        replaces: int | None = None,
    ) -> int:
        """Store a song and its postings in one transaction; return its id.

        ``replaces`` names a song (a stale entry of the same path) deleted in the same
        transaction. Raises :class:`DuplicateSong` when the checksum is there already.
        """
        info = replace(info, n_hashes=int(np.asarray(hashes).size))
        return self.add_blob(info, encode_postings(hashes, frames), replaces=replaces)

    @abstractmethod
    def add_blob(
        self,
        info: SongInfo,
        blob: bytes,
        song_id: int | None = None,
        replaces: int | None = None,
    ) -> int:
        """:meth:`add_song` with the postings already encoded; ``song_id`` keeps an id (copy)."""

    @abstractmethod
    def remove_song(self, song_id: int) -> bool:
        """Delete a song and its postings; ``False`` when there was no such song."""

    @abstractmethod
    def songs(self) -> list[SongInfo]:
        """Every song, by id."""

    @abstractmethod
    def song(self, song_id: int) -> SongInfo | None:
        """One song by id."""

    @abstractmethod
    def find_checksum(self, checksum: str) -> SongInfo | None:
        """The song with this content checksum, if any."""

    @abstractmethod
    def find_path(self, path: str) -> SongInfo | None:
        """The song indexed from this path, if any (the latest when several)."""

    @abstractmethod
    def postings_blob(self, song_id: int) -> bytes:
        """One song's encoded postings (:func:`encode_postings`); ``KeyError`` when absent."""

    def postings(self, song_id: int) -> tuple[np.ndarray, np.ndarray]:
        """``(hashes uint32, frames uint32)`` of one song."""
        return self._decode(song_id, self.postings_blob(song_id))

    @abstractmethod
    def all_postings(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """``(song_id, hashes, frames)`` for every song."""

    @abstractmethod
    def generation(self) -> int:
        """A number that changes whenever songs are added or removed."""

    @abstractmethod
    def size_bytes(self) -> int:
        """Storage used, in bytes."""

    def song_ids(self) -> np.ndarray:
        """Every song id, ascending (``int64``); override with a cheaper query."""
        return np.array([s.id for s in self.songs()], dtype=np.int64)

    def audio_seconds(self) -> float:
        """Total duration of the songs, in seconds; override with a cheaper query."""
        return float(sum(s.duration for s in self.songs()))

    def catalog_id(self) -> str:
        """A stable name of this catalog (keys its query index when it has no file)."""
        return ""

    @abstractmethod
    def postings_bytes(self) -> int:
        """Bytes of the postings blobs alone (the index proper, without the database's pages)."""

    def checkpoint(self) -> None:  # noqa: B027 (a server database has nothing to fold)
        """Make every committed song part of the main storage (SQLite: fold the WAL back)."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- shared by the backends ----------------------------------------------------------------
    def _decode(self, song_id: int, blob: bytes) -> tuple[np.ndarray, np.ndarray]:
        try:
            return decode_postings(bytes(blob))
        except (StoreError, zlib.error, ValueError, IndexError) as exc:
            raise StoreError(
                f"{self.location}: song {song_id}: corrupt postings ({exc}); "
                f"remove the song and index it again"
            ) from None

    def _read_only_error(self) -> StoreError:
        return StoreError(f"{self.location}: the catalog is read-only here (cannot change it)")

    def _check_meta(self, meta: dict[str, str], profile: str | None) -> str:
        # The catalog's profile, after checking its format, profile and generation.
        if "profile" not in meta or "format" not in meta:
            raise StoreError(f"{self.location}: not an aares catalog (no profile or format)")
        try:
            fmt = int(meta["format"])
        except ValueError:
            raise StoreError(
                f"{self.location}: catalog format {meta['format']!r} is not a number"
            ) from None
        if fmt != FORMAT_VERSION:
            raise StoreError(
                f"{self.location}: catalog format {fmt} is not supported "
                f"(this aares reads format {FORMAT_VERSION}; index the songs into a new catalog)"
            )
        if profile is not None and meta["profile"] != profile:
            raise StoreError(
                f"{self.location}: catalog was built with profile {meta['profile']!r}, "
                f"not {profile!r} (use --profile {meta['profile']} or another --db)"
            )
        self._parse_generation(meta.get("generation", "0"))
        return meta["profile"]

    def _parse_generation(self, value: str | None) -> int:
        try:
            return int(value) if value is not None else 0
        except ValueError:
            raise StoreError(
                f"{self.location}: the catalog's generation {value!r} is not a number "
                f"(the meta table was edited)"
            ) from None


def encode_postings(hashes: np.ndarray, frames: np.ndarray) -> bytes:
    """Pack a song's postings (frames in ascending order) into one compressed blob."""
    hashes = np.asarray(hashes, dtype="<u4")
    frames = np.asarray(frames, dtype=np.int64)
    if hashes.shape != frames.shape:
        raise ValueError(f"hashes {hashes.shape} and frames {frames.shape} differ in shape")
    if frames.size and (np.diff(frames) < 0).any():
        order = np.argsort(frames, kind="stable")
        hashes, frames = hashes[order], frames[order]
    deltas = np.diff(frames, prepend=0).astype("<u4")
    header = np.array([hashes.size], dtype="<u4").tobytes()
    return zlib.compress(header + hashes.tobytes() + deltas.tobytes(), 6)


def decode_postings(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`encode_postings`: ``(hashes uint32, frames uint32)``."""
    raw = zlib.decompress(blob)
    n = int(np.frombuffer(raw[:4], dtype="<u4")[0])
    body = np.frombuffer(raw[4:], dtype="<u4")
    if body.size != 2 * n:
        raise StoreError(f"corrupt postings blob: expected {2 * n} words, got {body.size}")
    hashes = body[:n].astype(np.uint32)
    frames = np.cumsum(body[n:], dtype=np.int64).astype(np.uint32)
    return hashes, frames


_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE songs (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    title TEXT NOT NULL,
    artist TEXT NOT NULL,
    duration REAL NOT NULL,
    checksum TEXT NOT NULL UNIQUE,
    profile TEXT NOT NULL,
    n_hashes INTEGER NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    mtime REAL NOT NULL DEFAULT 0
);
CREATE INDEX songs_path ON songs(path);
CREATE TABLE postings (
    song_id INTEGER PRIMARY KEY REFERENCES songs(id) ON DELETE CASCADE,
    data BLOB NOT NULL
);
"""

_COLS = "id, path, title, artist, duration, checksum, profile, n_hashes, size, mtime"


def song_values(info: SongInfo, song_id: int | None = None) -> list:
    """The values of ``_COLS`` for an INSERT (both backends); ``song_id=None`` lets the
    database choose the id."""
    return [
        song_id, info.path, info.title, info.artist, float(info.duration), info.checksum,
        info.profile, int(info.n_hashes), int(info.size), float(info.mtime),
    ]  # fmt: skip


_TABLES = {"meta", "songs", "postings"}


def song_from_row(row) -> SongInfo:
    """A :class:`SongInfo` from a ``SELECT {_COLS}`` row (both backends)."""
    sid, path, title, artist, duration, checksum, profile, n, size, mtime = row
    return SongInfo(
        path, title, artist, float(duration), checksum, profile, int(n), int(size), float(mtime),
        int(sid),
    )  # fmt: skip


def initial_meta(profile: str, profile_params: dict | None) -> dict[str, str]:
    """The ``meta`` rows of a new catalog (both backends)."""
    return {
        "format": str(FORMAT_VERSION),
        "profile": profile,
        "profile_params": json.dumps(profile_params or {}),
        "generation": "0",
        "catalog_id": uuid.uuid4().hex,  # names the catalog's query index (and its copies' own)
    }


class SQLiteStore(Store):
    """A catalog in one SQLite file (WAL journal, one transaction per song).

    An existing file is first opened read-only and checked (aares's tables, format, profile):
    another program's database is refused and left as it was. A catalog that this process
    cannot write (read-only media, another user's file, ``readonly=True``) still answers
    every query; changing it raises :class:`StoreError`.

    Parameters
    ----------
    path : str or path-like
        The catalog file; created (with its folder) only where no file exists, or the file
        is empty.
    profile : str or None
        The profile to create the catalog with. Opening an existing catalog with another
        profile is an error (its hashes would not be comparable); ``None`` accepts the
        catalog's own profile.
    profile_params : dict or None
        The profile's parameters, kept in ``meta`` for reference.
    create : bool
        Create the file when it does not exist (else :class:`StoreError`).
    readonly : bool
        Never write (queries only).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        profile: str | None = None,
        profile_params: dict | None = None,
        create: bool = True,
        readonly: bool = False,
    ) -> None:
        self.path = Path(path).expanduser()
        self.location = str(self.path)
        self._db: sqlite3.Connection | None = None
        if self.path.exists() and not self.path.is_file():
            raise StoreError(f"{self.path}: not a file (a catalog is one SQLite file)")
        if not self.path.exists() or self.path.stat().st_size == 0:
            if not create or readonly:
                raise StoreError(f"{self.path}: no such catalog (index some songs into it first)")
            self._create(profile or "default", profile_params)
            self.profile = profile or "default"
            self.readonly = False
            return
        self._db, self.readonly = self._open_existing(readonly)
        try:
            names = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
            if not _TABLES <= names:
                raise StoreError(
                    f"{self.path}: not an aares catalog (an SQLite file without aares's "
                    f"tables; it was left as it was)"
                )
            meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            self.close()
            raise StoreError(f"{self.path}: not an aares catalog ({exc})") from None
        except StoreError:
            self.close()
            raise
        try:
            self.profile = self._check_meta(meta, profile)
        except StoreError:
            self.close()
            raise
        if not self.readonly:
            self.checkpoint()  # songs a killed writer left in the -wal file join the .db

    # -- opening -------------------------------------------------------------------------------
    def _connect(self, mode: str) -> sqlite3.Connection:
        uri = f"file:{quote(str(self.path.resolve()))}?mode={mode}"
        db = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=60.0)
        db.execute("PRAGMA foreign_keys=ON")
        return db

    def _create(self, profile: str, profile_params: dict | None) -> None:
        from aares.io import created_path

        try:
            if self.path.exists():  # an empty file: the catalog is written into it
                self._fill(self._connect("rw"), profile, profile_params)
            else:
                # Built aside, then linked into place: a process that looks meanwhile sees
                # no file or a whole catalog, never one whose tables are still being made
                # (it would refuse that as another program's file); of two processes that
                # create it at once, the first one's catalog stays and both use it.
                with created_path(self.path) as tmp:
                    fresh = sqlite3.connect(str(tmp), isolation_level=None)
                    try:
                        self._fill(fresh, profile, profile_params)
                    finally:
                        fresh.close()
                self._db = self._connect("rw")
                self._db.execute("PRAGMA synchronous=NORMAL")
        except (OSError, sqlite3.Error) as exc:
            self.close()
            raise StoreError(f"{self.path}: cannot create the catalog ({_reason(exc)})") from None

    def _fill(self, db: sqlite3.Connection, profile: str, profile_params: dict | None) -> None:
        # aares's tables and meta in ``db``, unless another process has put them there
        self._db = db
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        with self._tx():
            names = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
            if not names:
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        db.execute(stmt)
                for key, value in initial_meta(profile, profile_params).items():
                    self._set_meta(key, value)

    def _open_existing(self, readonly: bool) -> tuple[sqlite3.Connection, bool]:
        # Look before writing: mode=ro never changes the file. Keep a writable connection
        # only once the file is known to be ours (the caller checks, then may reopen).
        try:
            probe = self._connect("ro")
            probe.execute("SELECT name FROM sqlite_master").fetchall()
        except sqlite3.DatabaseError as exc:
            if "not a database" in str(exc) or "malformed" in str(exc):
                raise StoreError(f"{self.path}: not an aares catalog ({exc})") from None
            # a WAL catalog on read-only media: no -shm can be made, read it as immutable
            try:
                probe = sqlite3.connect(
                    f"file:{quote(str(self.path.resolve()))}?immutable=1",
                    uri=True,
                    isolation_level=None,
                )
                probe.execute("SELECT name FROM sqlite_master").fetchall()
            except sqlite3.DatabaseError as exc2:
                raise StoreError(f"{self.path}: cannot open the catalog ({exc2})") from None
            return probe, True
        names = {r[0] for r in probe.execute("SELECT name FROM sqlite_master")}
        if readonly or not _TABLES <= names or not _writable(self.path):
            return probe, True
        probe.close()
        try:
            db = self._connect("rw")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            return db, False
        except sqlite3.OperationalError:
            return self._connect("ro"), True

    # -- helpers -------------------------------------------------------------------------
    def _tx(self):
        return _Transaction(self._db)

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta(key, value) VALUES(?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def _bump(self) -> None:
        gen = self._db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        value = self._parse_generation(gen[0] if gen else None) + 1
        self._set_meta("generation", str(value))

    def _write(self):
        if self.readonly:
            raise self._read_only_error()
        return _Errors(self, self._tx())

    def _read(self):
        return _Errors(self, None)

    # -- interface -------------------------------------------------------------------------
    def add_blob(
        self,
        info: SongInfo,
        blob: bytes,
        song_id: int | None = None,
        replaces: int | None = None,
    ) -> int:
        info = replace(info, profile=self.profile)
        with self._write():
            # BEGIN IMMEDIATE holds the write lock: no other writer can slip in between
            same = self._db.execute("SELECT id FROM songs WHERE checksum = ?", (info.checksum,))
            same = same.fetchone()
            if same is not None:
                raise DuplicateSong(self.location, int(same[0]))
            if replaces is not None:
                self._db.execute("DELETE FROM postings WHERE song_id = ?", (int(replaces),))
                self._db.execute("DELETE FROM songs WHERE id = ?", (int(replaces),))
            cur = self._db.execute(
                f"INSERT INTO songs({_COLS}) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                song_values(info, song_id),
            )
            sid = int(cur.lastrowid)
            self._db.execute("INSERT INTO postings(song_id, data) VALUES(?, ?)", (sid, blob))
            self._bump()
        return sid

    def remove_song(self, song_id: int) -> bool:
        with self._write():
            cur = self._db.execute("DELETE FROM songs WHERE id = ?", (int(song_id),))
            self._db.execute("DELETE FROM postings WHERE song_id = ?", (int(song_id),))
            if cur.rowcount:
                self._bump()
        return cur.rowcount > 0

    def songs(self) -> list[SongInfo]:
        with self._read():
            rows = self._db.execute(f"SELECT {_COLS} FROM songs ORDER BY id").fetchall()
        return [song_from_row(r) for r in rows]

    def song(self, song_id: int) -> SongInfo | None:
        return self._one(f"SELECT {_COLS} FROM songs WHERE id = ?", int(song_id))

    def find_checksum(self, checksum: str) -> SongInfo | None:
        return self._one(f"SELECT {_COLS} FROM songs WHERE checksum = ?", checksum)

    def find_path(self, path: str) -> SongInfo | None:
        return self._one(f"SELECT {_COLS} FROM songs WHERE path = ? ORDER BY id DESC", path)

    def _one(self, sql: str, arg) -> SongInfo | None:
        with self._read():
            row = self._db.execute(sql, (arg,)).fetchone()
        return song_from_row(row) if row else None

    def postings_blob(self, song_id: int) -> bytes:
        with self._read():
            row = self._db.execute("SELECT data FROM postings WHERE song_id = ?", (int(song_id),))
            row = row.fetchone()
        if row is None:
            raise KeyError(f"no song with id {song_id} in {self.path}")
        return bytes(row[0])

    def all_postings(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        with self._read():
            rows = self._db.execute("SELECT song_id, data FROM postings ORDER BY song_id")
            for sid, blob in rows:
                h, f = self._decode(int(sid), blob)
                yield int(sid), h, f

    def generation(self) -> int:
        with self._read():
            row = self._db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return self._parse_generation(row[0] if row else None)

    def size_bytes(self) -> int:
        with self._read():
            page = self._db.execute("PRAGMA page_size").fetchone()[0]
            count = self._db.execute("PRAGMA page_count").fetchone()[0]
        return int(page * count)

    def song_ids(self) -> np.ndarray:
        with self._read():
            rows = self._db.execute("SELECT id FROM songs ORDER BY id").fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def audio_seconds(self) -> float:
        with self._read():
            row = self._db.execute("SELECT COALESCE(SUM(duration), 0) FROM songs").fetchone()
        return float(row[0])

    def catalog_id(self) -> str:
        with self._read():
            row = self._db.execute("SELECT value FROM meta WHERE key = 'catalog_id'").fetchone()
        if row is not None:
            return row[0]
        if self.readonly:
            return "file:" + str(self.path.resolve())
        try:  # catalogs made before the id existed get one when first opened for writing
            with self._tx():
                self._set_meta("catalog_id", uuid.uuid4().hex)
        except sqlite3.OperationalError:
            return "file:" + str(self.path.resolve())
        return self.catalog_id()

    def postings_bytes(self) -> int:
        with self._read():
            row = self._db.execute("SELECT COALESCE(SUM(LENGTH(data)), 0) FROM postings")
            return int(row.fetchone()[0])

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the file, so that copying the ``.db`` alone is a
        complete copy (a busy reader may keep part of it for later: no error then)."""
        if self.readonly or self._db is None:
            return
        with _Errors(self, None):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def close(self) -> None:
        if getattr(self, "_db", None) is not None:
            try:
                self.checkpoint()
            except StoreError:
                pass  # closing must not fail; the WAL is folded in on the next open
            self._db.close()
            self._db = None


def _writable(path: Path) -> bool:
    # A writer needs the file and its folder (for the -wal and -shm files).
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


class _Errors:
    # Turn SQLite's failures into one-line StoreErrors naming the catalog; optionally
    # wrap a transaction.
    def __init__(self, store: SQLiteStore, tx: _Transaction | None) -> None:
        self.store, self.tx = store, tx

    def __enter__(self):
        if self.store._db is None:
            raise StoreError(f"{self.store.location}: the catalog is closed")
        if self.tx is not None:
            try:
                self.tx.__enter__()
            except sqlite3.Error as exc:
                raise self._translate(exc) from None
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self.tx is not None:
            try:
                self.tx.__exit__(exc_type, exc, tb)
            except sqlite3.Error as exc2:
                if exc is None:
                    raise self._translate(exc2) from None
        if isinstance(exc, sqlite3.Error):
            raise self._translate(exc) from None
        return False

    def _translate(self, exc: sqlite3.Error) -> StoreError:
        name = getattr(exc, "sqlite_errorname", "") or ""
        where = self.store.location
        if name.startswith("SQLITE_READONLY") or "readonly" in str(exc):
            return StoreError(f"{where}: the catalog is read-only here ({exc})")
        if name == "SQLITE_FULL" or "full" in str(exc):
            return StoreError(
                f"{where}: disk full while writing the catalog (nothing of the "
                f"current song was kept; free some space and run again)"
            )
        if name.startswith("SQLITE_BUSY") or "locked" in str(exc):
            return StoreError(f"{where}: the catalog stayed locked by another process ({exc})")
        if name.startswith("SQLITE_CORRUPT") or "malformed" in str(exc):
            return StoreError(f"{where}: the catalog file is damaged ({exc})")
        return StoreError(f"{where}: {exc}")


class _Transaction:
    # BEGIN IMMEDIATE ... COMMIT, rolled back on any exception (also KeyboardInterrupt)
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.db.execute("COMMIT")
        elif self.db.in_transaction:
            self.db.execute("ROLLBACK")


def copy_store(
    source: Store, dest: Store, on_song: Callable[[SongInfo], None] | None = None
) -> int:
    """Copy every song of ``source`` into ``dest`` (any backends, same profile): the same ids,
    facts and postings blobs byte for byte, so the copy identifies exactly as the original.

    ``dest`` must be empty or an interrupted copy of ``source`` (songs with the same ids and
    checksums): then the copy goes on where it stopped. Each song is one transaction.
    Returns the number of songs copied.
    """
    if dest.profile != source.profile:
        raise StoreError(
            f"{dest.location}: profile {dest.profile!r} differs from {source.location}'s "
            f"{source.profile!r}"
        )
    if dest.readonly:
        raise dest._read_only_error()
    wanted = {s.id: s for s in source.songs()}
    have = dest.songs()
    for s in have:
        if s.id not in wanted or wanted[s.id].checksum != s.checksum:
            raise StoreError(
                f"{dest.location}: already holds {len(have)} songs that are not a copy of "
                f"{source.location} (copy into a new catalog)"
            )
    done = {s.id for s in have}
    n = 0
    for sid, info in wanted.items():
        if sid in done:
            continue
        dest.add_blob(info, source.postings_blob(sid), song_id=sid)
        n += 1
        if on_song is not None:
            on_song(info)
    dest.checkpoint()
    return n


def is_url(location: str | os.PathLike) -> bool:
    """Whether ``location`` names a server catalog (``scheme://...``) rather than a file."""
    return "://" in os.fspath(location)


def open_store(
    location: str | os.PathLike,
    profile: str | None = None,
    profile_params: dict | None = None,
    create: bool = True,
    readonly: bool = False,
) -> Store:
    """Open a catalog by location: ``postgresql://user@host/dbname`` gives a
    :class:`aares.fingerprint.pgstore.PostgresStore`, a file path a :class:`SQLiteStore`
    (``~`` expanded)."""
    text = os.fspath(location)
    if is_url(text):
        scheme = text.split("://", 1)[0].lower()
        if scheme in ("postgresql", "postgres"):
            try:
                from aares.fingerprint.pgstore import PostgresStore
            except ImportError as exc:
                raise StoreError(
                    f"{text.split('@')[-1]}: PostgreSQL catalogs need psycopg ({exc}); "
                    "pip install 'aares[shared]'"
                ) from None

            return PostgresStore(text, profile, profile_params, create=create, readonly=readonly)
        raise StoreError(
            f"{text.split('@')[-1]}: no catalog backend for {scheme!r} "
            f"(use a file path or postgresql://user@host/dbname)"
        )
    return SQLiteStore(text, profile, profile_params, create=create, readonly=readonly)
