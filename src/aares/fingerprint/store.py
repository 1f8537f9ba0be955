"""Where a catalog keeps its songs and postings: a small interface and its SQLite backend.

A catalog holds, for each song, its facts (:class:`SongInfo`: path, title, artist, duration,
content checksum, profile) and its *postings*, the landmark hashes with the anchor frame of
each (``hash -> (song, frame)``). :class:`Store` is the interface the engine uses; it is small
on purpose so that a server database (PostgreSQL, with ``bytea`` for the postings) can be a
second backend later. :class:`SQLiteStore` is the default: one file, no server.

Layout (SQLite)
---------------
``meta(key, value)``
    the profile's name and parameters (JSON), the format version, a *generation* counter
    bumped by every change (so that an in-memory index knows when it is stale).
``songs(id, path, title, artist, duration, checksum UNIQUE, profile, n_hashes, size, mtime)``
``postings(song_id PRIMARY KEY, data BLOB)``
    one blob per song: the song's hashes (``uint32``, little-endian) then its anchor frames
    delta-coded (``uint32``), zlib-compressed. About 4-5 bytes per posting; the frames cost
    almost nothing since they grow slowly. Reading every blob and sorting once gives the
    in-memory inverted index (:class:`aares.fingerprint.match.Index`), which is what
    answers queries in milliseconds; a per-row SQL lookup would cost far more per hash.

Every song is written in one transaction (its row and its blob together), so an indexing run
killed at any moment (Ctrl-C, ``kill -9``, power loss) leaves the catalog as it was after the
last complete song, and rerunning the run skips the songs already there (by checksum).

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
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

__all__ = ["SongInfo", "Store", "SQLiteStore", "StoreError", "open_store", "FORMAT_VERSION"]

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


class Store(ABC):
    """What the engine needs from a catalog's storage.

    Implementations must write :meth:`add_song` atomically (the song and all its postings,
    or nothing) and keep checksums unique.
    """

    #: the profile name this catalog was built with
    profile: str

    @abstractmethod
    def add_song(self, info: SongInfo, hashes: np.ndarray, frames: np.ndarray) -> int:
        """Store a song and its postings in one transaction; return its id."""

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
        """The song indexed from this path, if any."""

    @abstractmethod
    def postings(self, song_id: int) -> tuple[np.ndarray, np.ndarray]:
        """``(hashes uint32, frames uint32)`` of one song."""

    @abstractmethod
    def all_postings(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """``(song_id, hashes, frames)`` for every song."""

    @abstractmethod
    def generation(self) -> int:
        """A number that changes whenever songs are added or removed."""

    @abstractmethod
    def size_bytes(self) -> int:
        """Storage used, in bytes."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


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
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS songs (
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
CREATE INDEX IF NOT EXISTS songs_path ON songs(path);
CREATE TABLE IF NOT EXISTS postings (
    song_id INTEGER PRIMARY KEY REFERENCES songs(id) ON DELETE CASCADE,
    data BLOB NOT NULL
);
"""

_COLS = "id, path, title, artist, duration, checksum, profile, n_hashes, size, mtime"


class SQLiteStore(Store):
    """A catalog in one SQLite file (WAL journal, one transaction per song).

    Parameters
    ----------
    path : str or path-like
        The catalog file; created when missing (its folder too).
    profile : str or None
        The profile to create the catalog with. Opening an existing catalog with another
        profile is an error (its hashes would not be comparable); ``None`` accepts the
        catalog's own profile.
    profile_params : dict or None
        The profile's parameters, kept in ``meta`` for reference.
    create : bool
        Create the file when it does not exist (else :class:`StoreError`).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        profile: str | None = None,
        profile_params: dict | None = None,
        create: bool = True,
    ) -> None:
        self.path = Path(path)
        exists = self.path.is_file() and self.path.stat().st_size > 0
        if not exists and not create:
            raise StoreError(f"{self.path}: no such catalog (index some songs into it first)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(str(self.path), isolation_level=None, timeout=30.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
            meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not an aares catalog ({exc})") from None
        if "profile" not in meta:
            if profile is None:
                profile = "default"
            with self._tx():
                self._set_meta("format", str(FORMAT_VERSION))
                self._set_meta("profile", profile)
                self._set_meta("profile_params", json.dumps(profile_params or {}))
                self._set_meta("generation", "0")
            meta["profile"] = profile
        elif int(meta.get("format", "0")) != FORMAT_VERSION:
            raise StoreError(
                f"{self.path}: catalog format {meta.get('format')} is not supported "
                f"(this aares reads format {FORMAT_VERSION})"
            )
        elif profile is not None and meta["profile"] != profile:
            raise StoreError(
                f"{self.path}: catalog was built with profile {meta['profile']!r}, "
                f"not {profile!r} (use --profile {meta['profile']} or another --db)"
            )
        self.profile = meta["profile"]

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
        self._db.execute(
            "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'"
        )

    @staticmethod
    def _info(row) -> SongInfo:
        sid, path, title, artist, duration, checksum, profile, n, size, mtime = row
        return SongInfo(path, title, artist, duration, checksum, profile, n, size, mtime, sid)

    # -- interface -------------------------------------------------------------------------
    def add_song(self, info: SongInfo, hashes: np.ndarray, frames: np.ndarray) -> int:
        blob = encode_postings(hashes, frames)
        info = replace(info, profile=self.profile, n_hashes=int(np.asarray(hashes).size))
        with self._tx():
            cur = self._db.execute(
                "INSERT INTO songs(path, title, artist, duration, checksum, profile, n_hashes,"
                " size, mtime) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    info.path,
                    info.title,
                    info.artist,
                    float(info.duration),
                    info.checksum,
                    info.profile,
                    info.n_hashes,
                    int(info.size),
                    float(info.mtime),
                ),
            )
            sid = int(cur.lastrowid)
            self._db.execute("INSERT INTO postings(song_id, data) VALUES(?, ?)", (sid, blob))
            self._bump()
        return sid

    def remove_song(self, song_id: int) -> bool:
        with self._tx():
            cur = self._db.execute("DELETE FROM songs WHERE id = ?", (int(song_id),))
            self._db.execute("DELETE FROM postings WHERE song_id = ?", (int(song_id),))
            if cur.rowcount:
                self._bump()
        return cur.rowcount > 0

    def songs(self) -> list[SongInfo]:
        rows = self._db.execute(f"SELECT {_COLS} FROM songs ORDER BY id").fetchall()
        return [self._info(r) for r in rows]

    def song(self, song_id: int) -> SongInfo | None:
        row = self._db.execute(f"SELECT {_COLS} FROM songs WHERE id = ?", (int(song_id),))
        row = row.fetchone()
        return self._info(row) if row else None

    def find_checksum(self, checksum: str) -> SongInfo | None:
        row = self._db.execute(f"SELECT {_COLS} FROM songs WHERE checksum = ?", (checksum,))
        row = row.fetchone()
        return self._info(row) if row else None

    def find_path(self, path: str) -> SongInfo | None:
        row = self._db.execute(f"SELECT {_COLS} FROM songs WHERE path = ?", (path,)).fetchone()
        return self._info(row) if row else None

    def postings(self, song_id: int) -> tuple[np.ndarray, np.ndarray]:
        row = self._db.execute("SELECT data FROM postings WHERE song_id = ?", (int(song_id),))
        row = row.fetchone()
        if row is None:
            raise KeyError(f"no song with id {song_id} in {self.path}")
        return decode_postings(row[0])

    def all_postings(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        for sid, blob in self._db.execute("SELECT song_id, data FROM postings ORDER BY song_id"):
            h, f = decode_postings(blob)
            yield int(sid), h, f

    def generation(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return int(row[0]) if row else 0

    def size_bytes(self) -> int:
        page = self._db.execute("PRAGMA page_size").fetchone()[0]
        count = self._db.execute("PRAGMA page_count").fetchone()[0]
        return int(page * count)

    def postings_bytes(self) -> int:
        """Bytes of the postings blobs alone (the index proper, without SQLite's pages)."""
        row = self._db.execute("SELECT COALESCE(SUM(LENGTH(data)), 0) FROM postings").fetchone()
        return int(row[0])

    def close(self) -> None:
        if getattr(self, "_db", None) is not None:
            self._db.close()
            self._db = None


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
        else:
            self.db.execute("ROLLBACK")


def open_store(
    path: str | os.PathLike,
    profile: str | None = None,
    profile_params: dict | None = None,
    create: bool = True,
) -> Store:
    """Open a catalog by location: a file path gives a :class:`SQLiteStore`.

    Other schemes (``postgresql://...``) are the place for future backends.
    """
    text = os.fspath(path)
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise StoreError(f"{text}: no catalog backend for {scheme!r} yet (use a file path)")
    return SQLiteStore(path, profile=profile, profile_params=profile_params, create=create)
