"""The fingerprint engine as one object: :class:`Catalog` = analysis -> store -> matching.

Example
-------
>>> from aares.fingerprint import Catalog                             # doctest: +SKIP
>>> with Catalog("songs.fp.db") as cat:                               # doctest: +SKIP
...     report = cat.add(["music/"], jobs=2)
...     for m in cat.identify("excerpt.wav"):
...         print(m.title, m.offset, m.score)
"""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import soundfile as sf

from aares.fingerprint.audio import AUDIO_EXTENSIONS, AudioError, load_audio
from aares.fingerprint.index import (
    DiskIndex,
    Index,
    IndexFolderError,
    OnProgress,
    compact,
    index_folder_for,
    index_key_bits,
    open_index,
)
from aares.fingerprint.landmarks import Profile, fingerprint, get_profile, index_landmarks
from aares.fingerprint.match import Match, MatchSettings, factor_grid, match_signal
from aares.fingerprint.parallel import Job, check_cluster, run_jobs
from aares.fingerprint.segment import SELECTIVE_MAX, SegmentError
from aares.fingerprint.store import DuplicateSong, SongInfo, Store, StoreError, open_store

__all__ = ["Catalog", "IndexReport", "Relation", "audio_files", "file_checksum", "song_tags"]

#: seconds of a query file that :meth:`Catalog.identify` reads (the rest is ignored)
QUERY_MAX_SECONDS = 60.0

#: From this many audio hours a catalog's query index holds three-point keys and queries
#: are searched in two stages (:mod:`aares.fingerprint.match`); below it the index holds
#: the pairs, searched in one stage. The one-stage search reads every posting of every query
#: pair's bucket, which grows with the catalog (at 100 h: 0.7 s of CPU a query); the two
#: stages read about 50 times fewer but verify only the first stage's candidates, which
#: under heavy reverb or against a crowd of near-identical songs (a steady beat) is not the
#: same answer (BENCHMARKS.md, "The search as the catalog grows").
TWO_STAGE_HOURS = 50.0

#: The matcher's defaults per profile (thresholds calibrated by ``aares fp bench``).
DEFAULT_SETTINGS = {
    "default": MatchSettings(wide=factor_grid(), dereverb=True),
    "course": MatchSettings(speeds=()),
}


def _warn_if_rebuilt(folder: Path, bits: int, catalog: str) -> None:
    # An index of another key width (an aares before three-point keys: 21-bit pairs) is
    # rebuilt from the catalog's pairs when it is opened (the store is unchanged); say so,
    # since for a large catalog that takes minutes once.
    old = index_key_bits(folder)
    if old and old != bits:
        warnings.warn(
            f"{folder}: the query index has {old}-bit keys, this aares uses {bits}-bit keys: "
            f"rebuilding it from the catalog's songs (once; `aares fp compact --db {catalog}` "
            "does it ahead)",
            stacklevel=5,
        )


def audio_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files to index: each path itself, or the audio files under a folder (sorted)."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(
                f
                for f in sorted(p.rglob("*"))
                if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS
            )
        else:
            out.append(p)
    return out


def file_checksum(path: str | os.PathLike) -> str:
    """BLAKE2b (128-bit) of the file's bytes, as hex: the same audio file gives the same sum."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def song_tags(path: str | os.PathLike) -> tuple[str, str]:
    """``(title, artist)`` from the file's tags, else the file name (``Artist - Title``)."""
    path = Path(path)
    title = artist = ""
    try:
        with sf.SoundFile(str(path)) as fh:
            meta = fh.copy_metadata()
        title, artist = meta.get("title", "").strip(), meta.get("artist", "").strip()
    except (sf.SoundFileError, RuntimeError, TypeError, ValueError):
        pass
    if not title:
        stem = path.stem
        if " - " in stem and not artist:
            artist, title = (s.strip() for s in stem.split(" - ", 1))
        else:
            title = stem
    return title, artist


class IndexedStore:
    """A store as the query index sees it: each song's postings are the profile's index
    keys (:func:`aares.fingerprint.landmarks.index_landmarks`: three-point keys derived
    from the stored pairs for the default profile, the pairs themselves for the course
    profile); everything else is the store's."""

    def __init__(self, store: Store, profile: Profile) -> None:
        self.store = store
        self.profile = profile

    def __getattr__(self, name):
        return getattr(self.store, name)

    def postings(self, song_id: int) -> tuple[np.ndarray, np.ndarray]:
        return index_landmarks(*self.store.postings(song_id), self.profile)

    def all_postings(self):
        for sid, h, f in self.store.all_postings():
            yield (sid, *index_landmarks(h, f, self.profile))


class PairCache:
    """The stored pairs of recently matched songs (decoded blobs), for the second stage of
    the matcher: the songs that chance brings up again and again (loud, dense ones) are
    then read from the store once. Bounded by ``max_postings``; valid for one generation
    of the store (a song id may be given again after its song was removed)."""

    def __init__(self, store: Store, generation: int, max_postings: int = 4_000_000) -> None:
        self.store, self.generation, self.max_postings = store, generation, max_postings
        self._songs: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._held = 0

    def __call__(self, song_id: int) -> tuple[np.ndarray, np.ndarray]:
        hit = self._songs.get(song_id)
        if hit is not None:
            self._songs.move_to_end(song_id)
            return hit
        h, f = self.store.postings(song_id)
        self._songs[song_id] = (h, f)
        self._held += h.size
        while self._held > self.max_postings and len(self._songs) > 1:
            _, (old, _) = self._songs.popitem(last=False)
            self._held -= old.size
        return h, f


@dataclass(frozen=True)
class Relation:
    """Two songs of a catalog that share audio (see :meth:`Catalog.related_songs`)."""

    song: SongInfo  # the song whose excerpts were searched
    other: SongInfo  # another song holding the same audio
    at: float  # seconds into ``song`` of the first excerpt found in ``other``
    match: Match  # that excerpt's match in ``other``: offset there, speed, pitch, score
    windows: int  # excerpts of ``song`` found in ``other``
    searched: int  # excerpts of ``song`` searched

    def to_dict(self) -> dict:
        return {
            "song_id": self.song.id,
            "title": self.song.title,
            "related_id": self.other.id,
            "related_title": self.other.title,
            "at": round(self.at, 3),
            "match": self.match.to_dict(),
            "windows": self.windows,
            "searched": self.searched,
        }


@dataclass
class IndexReport:
    """What an indexing run did."""

    added: list[SongInfo] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, error)
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0
    workers: int = 0  # processes that analysed the files
    where: str = ""  # which: "this process", "2 processes", "Dask cluster tcp://..."

    @property
    def realtime(self) -> float:
        """Audio indexed per second of wall time (x realtime)."""
        return self.audio_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0


def _analyse_file(path: str, profile_name: str) -> dict:
    # Runs in a worker process: decode and fingerprint one file, never raise for bad audio.
    profile = get_profile(profile_name)
    try:
        x, sr = load_audio(path, sr=profile.sr, quality=profile.resample_quality)
        hashes, frames = fingerprint(x, profile)
        if hashes.size == 0:  # silence, a click, a few samples: nothing to find it by
            return {
                "path": path,
                "error": f"{path}: no landmarks in {x.size / sr:.2f} s of audio (silent or "
                "too short to fingerprint); not added",
            }
        title, artist = song_tags(path)
        return {
            "path": path,
            "hashes": hashes,
            "frames": frames,
            "duration": x.size / sr,
            "title": title,
            "artist": artist,
        }
    except MemoryError:
        return {"path": path, "error": f"{path}: out of memory while analysing (file too long?)"}
    except (AudioError, OSError, ValueError, RuntimeError) as exc:
        return {"path": path, "error": str(exc) or type(exc).__name__}


class Catalog:
    """A catalog of songs to identify excerpts against (Wang's landmark method).

    Parameters
    ----------
    path : str or path-like
        The catalog: a file (SQLite), created when missing, or ``postgresql://...``.
    profile : str or None
        ``"default"`` (tuned) or ``"course"`` (the handout's parameters) for a new catalog;
        ``None`` opens an existing catalog with its own profile (``"default"`` when new).
    settings : MatchSettings or None
        Matching thresholds and speed search; the profile's calibrated defaults when None.
    store : Store or None
        Another storage backend (then ``path`` is ignored).
    create, readonly : bool
        Create the catalog when missing; open it for queries only.
    index : str
        ``"disk"`` (the default): the query index lives in files beside the catalog
        (``<catalog>.index/``, or a cache folder for a server store), read in place and
        brought in step with each change; ``"memory"``: rebuilt in memory by each process
        from the store (the design before the on-disk index; also the fallback when the
        index folder cannot be written).
    two_stage_hours : float or None
        Audio hours from which the index holds three-point keys and queries run in two
        stages (``TWO_STAGE_HOURS``; 0: always, None: never). The index is rebuilt once
        when the catalog crosses it.

    Examples
    --------
    >>> cat = Catalog("/tmp/demo.fp.db")                                   # doctest: +SKIP
    >>> cat.add(["songs/"]).added[0].title                                 # doctest: +SKIP
    'Carmen Prelude'
    >>> cat.identify("excerpt.wav")[0].offset                              # doctest: +SKIP
    42.016
    """

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        profile: str | None = None,
        settings: MatchSettings | None = None,
        store: Store | None = None,
        create: bool = True,
        readonly: bool = False,
        index: str = "disk",
        two_stage_hours: float | None = TWO_STAGE_HOURS,
    ) -> None:
        if index not in ("disk", "memory"):
            raise ValueError(f"index must be 'disk' or 'memory', not {index!r}")
        if store is None:
            if path is None:
                raise ValueError("Catalog needs a path (or a store)")
            params = get_profile(profile).to_dict() if profile else None
            store = open_store(path, profile, params, create=create, readonly=readonly)
        self.store = store
        self.profile: Profile = get_profile(store.profile)
        self.settings = settings or DEFAULT_SETTINGS.get(self.profile.name, MatchSettings())
        self._index: Index | DiskIndex | None = None
        self._index_kind = index
        self._generation = -1
        self._cache: PairCache | None = None
        self._two_stage_hours = two_stage_hours
        self._keyed = self.profile  # the profile as the current index is keyed

    # -- context manager ---------------------------------------------------------------------
    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- songs ---------------------------------------------------------------------------------
    def songs(self) -> list[SongInfo]:
        """Every song of the catalog."""
        return self.store.songs()

    def __len__(self) -> int:
        return len(self.store.song_ids())

    def remove(self, key: int | str) -> SongInfo:
        """Remove a song by id, path or exact title; returns it. ``KeyError`` when absent."""
        info = self._find(key)
        self.store.remove_song(info.id)
        return info

    def _find(self, key: int | str) -> SongInfo:
        # an id or a path is one indexed lookup; only a title reads every song (at 10,000 h
        # reading all 185,000 songs costs a second)
        text = str(key)
        if text.isdigit() and (by_id := self.store.song(int(text))) is not None:
            return by_id
        for path in dict.fromkeys((text, str(Path(text).resolve()) if text else text)):
            if (by_path := self.store.find_path(path)) is not None:
                return by_path
        for s in self.store.songs():
            if s.title == text:
                return s
        raise KeyError(f"no song {key!r} in the catalog (give an id, a path or a title)")

    def add_signal(self, x: np.ndarray, title: str, artist: str = "", path: str = "") -> int:
        """Add a decoded mono signal at ``profile.sr`` (no file); returns its id.

        The checksum is that of the samples, so adding the same signal twice is a no-op.
        """
        x = np.ascontiguousarray(x, dtype=np.float32)
        checksum = "pcm:" + hashlib.blake2b(x.tobytes(), digest_size=16).hexdigest()
        same = self.store.find_checksum(checksum)
        if same is not None:
            return int(same.id)
        hashes, frames = fingerprint(x, self.profile)
        info = SongInfo(path or f"<{title}>", title, artist, x.size / self.profile.sr, checksum)
        return self.store.add_song(info, hashes, frames)

    def add(
        self,
        paths: Iterable[str | os.PathLike],
        jobs: int = 1,
        on_progress: Callable[[dict], None] | None = None,
        cluster=None,
        on_index_progress: OnProgress | None = None,
    ) -> IndexReport:
        """Index audio files (folders are searched for audio files).

        Decoding and analysis run in ``jobs`` local processes (capped at the cores and the
        files), or on a Dask cluster (``cluster="local:N"``, ``"tcp://host:8786"`` or a
        ``distributed.Client``; see :mod:`aares.fingerprint.parallel`); this process alone
        writes, one transaction per song, so an interrupted run leaves every finished song
        stored and a rerun skips them. A file already indexed (same path, size and time, or
        the same content checksum under any path) is skipped; a file whose content changed at
        the same path replaces its stale song. A file that cannot be decoded is reported in
        ``failed`` and the run goes on. Another run adding the same audio at the same time is
        no error: the first to commit keeps it, the other skips it.

        ``on_progress`` is called after each file with ``{"path", "status", "seconds"}``
        (``status`` is ``"added"``, ``"skipped"`` or ``"failed"``); ``on_index_progress``
        follows the query index's update at the end (:meth:`open_index`).
        """
        if self.store.readonly:
            raise StoreError(f"{self.store.location}: the catalog is read-only here (cannot add)")
        if cluster is not None and isinstance(cluster, str):
            check_cluster(cluster)
        report = IndexReport()
        start = time.perf_counter()
        todo: list[Job] = []

        def tell(path: str, status: str, seconds: float = 0.0, message: str = "") -> None:
            if on_progress is not None:
                on_progress(
                    {"path": path, "status": status, "seconds": seconds, "message": message}
                )

        def skip(path: str, why: str) -> None:
            report.skipped.append((path, why))
            tell(path, "skipped")

        def fail(path: str, message: str) -> None:
            report.failed.append((path, message))
            tell(path, "failed", message=message)

        # files with the bytes of a file queued before them: decided by that file's result
        # (the same error when it fails, "same audio" when it is added)
        twins: dict[str, list[str]] = {}
        for p in audio_files(paths):
            path = str(p.resolve()) if p.exists() else str(p)
            try:
                st = os.stat(path)
                known = self.store.find_path(path)
                if known and known.size == st.st_size and known.mtime == st.st_mtime:
                    skip(path, f"already indexed as song {known.id}")
                    continue
                checksum = file_checksum(path)
            except OSError as exc:
                fail(path, f"{path}: cannot read ({exc.strerror or exc})")
                continue
            same = self.store.find_checksum(checksum)
            if same is not None:
                skip(path, f"same audio as song {same.id}")
            elif checksum in twins:
                twins[checksum].append(path)
            else:
                twins[checksum] = []
                todo.append(Job(path, checksum, st.st_size, st.st_mtime, known and known.id))

        def store_result(res: dict, job: Job) -> None:
            others = twins.pop(job.checksum, [])
            if "error" in res:
                fail(res["path"], res["error"])
                for other in others:
                    fail(other, f"{other}: same bytes as {job.path}, which failed")
                return
            info = SongInfo(
                res["path"], res["title"], res["artist"], res["duration"], job.checksum,
                size=job.size, mtime=job.mtime,
            )  # fmt: skip
            try:
                sid = self.store.add_song(info, res["hashes"], res["frames"], job.replaces)
            except DuplicateSong as dup:  # another run committed this audio meanwhile
                skip(res["path"], f"same audio as song {dup.song_id} (added by another run)")
                sid = None
            else:
                report.added.append(self.store.song(sid))
                report.audio_seconds += res["duration"]
                tell(res["path"], "added", res["duration"])
            for other in others:
                skip(other, f"same audio as song {sid}" if sid else "same audio twice")

        where: dict = {}
        results = run_jobs(todo, self.profile.name, _analyse_file, jobs, cluster, where)
        try:
            with closing(results):
                for res, job in results:
                    store_result(res, job)
            if report.added:  # the query index in step: one new segment
                self.open_index(on_progress=on_index_progress)
        finally:
            self.store.checkpoint()  # a copy of the .db alone is then complete
            report.wall_seconds = time.perf_counter() - start
            report.workers = where.get("workers", 0)
            report.where = where.get("where", "")
        return report

    # -- queries -------------------------------------------------------------------------------
    @property
    def index(self) -> Index | DiskIndex:
        """The query index, in step with the store (see the ``index`` parameter)."""
        return self._in_step()

    def open_index(self, on_progress: OnProgress | None = None) -> Index | DiskIndex:
        """:attr:`index`, with ``on_progress(what, done, total)`` following the songs it
        indexes when it is not in step with the store (songs added by another process, an
        index of an older format or key width rebuilt: minutes for a large catalog)."""
        return self._in_step(on_progress)

    def _in_step(self, on_progress=None) -> Index | DiskIndex:
        # (one frame below both callers: the warnings' stacklevel points at the user's line)
        gen = self.store.generation()
        if self._index is None or gen != self._generation:
            self._index = self._open_index(on_progress)
            self._generation = gen
        return self._index

    def _index_profile(self) -> Profile:
        # the profile's three-point keys from two_stage_hours of audio on, else its pairs
        prof = self.profile
        if prof.triplets:
            hours = self.store.audio_seconds() / 3600
            limit = self._two_stage_hours
            if limit is None or hours < limit:
                prof = replace(prof, index_df3_bits=0, index_dt3_bits=0)
        return prof

    def _open_index(self, on_progress=None) -> Index | DiskIndex:
        self._keyed = self._index_profile()
        keyed = IndexedStore(self.store, self._keyed)
        if self._index_kind == "memory":
            return Index.from_store(keyed)
        bits = self._keyed.index_bits
        _warn_if_rebuilt(index_folder_for(self.store), bits, self.store.location)
        stored = self._stored_max()
        try:
            return open_index(keyed, key_bits=bits, stored_max=stored, on_progress=on_progress)
        except (IndexFolderError, SegmentError) as exc:
            # the index is derived from the store: say what was wrong, then rebuild it
            warnings.warn(f"{exc}; rebuilding the index from the catalog", stacklevel=4)
            return open_index(
                keyed, key_bits=bits, rebuild=True, stored_max=stored, on_progress=on_progress
            )

    def _stored_max(self) -> int:
        # An index of three-point keys is looked up with the first stage's stop list only
        # (``MatchSettings.candidates_cap``, 64): a key of more postings is stored as one
        # stop posting, 41 % of the postings at 1,000 h (BENCHMARKS.md, "Stop postings").
        # An index of pairs is searched with its own, larger stop list: all of them.
        return SELECTIVE_MAX if self._keyed.triplets else 0

    def _postings(self):
        # the stored pairs by song id, for the matcher's second stage (three-point index)
        if not self._keyed.triplets:
            return None
        if self._cache is None or self._cache.generation != self._generation:
            self._cache = PairCache(self.store, self._generation)
        return self._cache

    def stats(self) -> dict:
        """What the catalog holds: songs, hours, postings, bytes on disk (store and index),
        bucket occupancy, formats. Opening the index builds it when it is missing or of an
        older format (an upgrade in place: the store is the record)."""
        from aares.fingerprint.index import FOLDER_FORMAT
        from aares.fingerprint.segment import VERSION
        from aares.fingerprint.store import FORMAT_VERSION

        index = self.index
        hours = self.store.audio_seconds() / 3600
        out = {
            "catalog": self.store.location,
            "profile": self.profile.name,
            "hash_bits": self.profile.hash_bits,
            "index_bits": self._keyed.index_bits,
            "songs": len(self.store.song_ids()),
            "hours": hours,
            "store_bytes": self.store.size_bytes(),
            "store_format": FORMAT_VERSION,
        }
        if isinstance(index, DiskIndex):
            info = index.stats()
            out.update(
                index="disk",
                index_folder=str(index_folder_for(self.store)),
                # (the oldest segment's: one of format 1 is read, without key filters)
                index_format=f"{FOLDER_FORMAT}.{min(info['segment_versions'], default=VERSION)}",
                **info,
            )
        else:
            out.update(index="memory", postings=len(index), bytes=index.nbytes)
        out["index_mb_per_hour"] = out["bytes"] / 1e6 / hours if hours else 0.0
        return out

    def compact(self, parts: int = 1, on_progress: OnProgress | None = None) -> DiskIndex:
        """Merge the on-disk index into one segment (removed songs dropped), or into
        ``parts`` segments of about equal size (a merge needs its output's size in free
        disk); ``on_progress(what, done, total)`` follows each merge chunk by chunk
        (:func:`aares.fingerprint.index.compact`)."""
        self._keyed = self._index_profile()
        keyed = IndexedStore(self.store, self._keyed)
        self._index = compact(
            keyed,
            key_bits=self._keyed.index_bits,
            parts=parts,
            stored_max=self._stored_max(),
            on_progress=on_progress,
        )
        self._generation = self.store.generation()
        return self._index

    def identify_signal(self, x: np.ndarray, sr: int | None = None) -> list[Match]:
        """Ranked matches for a mono signal (resampled to the profile's rate when ``sr``
        differs); an empty list means "no match"."""
        from aares.fingerprint.audio import resample

        x = np.asarray(x, dtype=np.float32)
        if sr is not None and sr != self.profile.sr:
            x = resample(x, sr, self.profile.sr, quality=self.profile.resample_quality)
        return self._named(
            match_signal(x, self.index, self.profile, self.settings, self._postings())
        )

    def identify(self, path: str | os.PathLike) -> list[Match]:
        """Ranked matches for an audio file; an empty list means "no match".

        Only the first ``QUERY_MAX_SECONDS`` (60 s) of the file are read: an excerpt of a
        few seconds names a song, and a long file would cost memory and time for nothing.

        Raises :class:`aares.fingerprint.audio.AudioError` when the file cannot be decoded.
        """
        prof = self.profile
        x, _ = load_audio(
            path, sr=prof.sr, quality=prof.resample_quality, max_seconds=QUERY_MAX_SECONDS
        )
        return self.identify_signal(x)

    def related_songs(
        self, windows: int = 4, length: float = 10.0, min_windows: int = 2
    ) -> list[Relation]:
        """Which songs of the catalog share audio: versions, remasters, sped-up copies.

        ``windows`` excerpts of ``length`` seconds, evenly spaced over each song's file, are
        identified with the whole search (every speed, stretch and pitch; ``related``
        settings); a pair ``(song, other)`` is listed when at least ``min_windows`` of the
        song's excerpts match ``other`` (one shared loop or sample is not a version). Songs
        whose file cannot be read are skipped. Costs ``windows`` full searches per song.
        """

        settings = replace(self.settings, related=True, top=max(self.settings.top, 8))
        sr = self.profile.sr
        out: list[Relation] = []
        for info in self.songs():
            try:
                x, _ = load_audio(info.path, sr=sr, quality=self.profile.resample_quality)
            except (AudioError, OSError):
                continue
            n = int(length * sr)
            starts = np.linspace(0, max(0, x.size - n), windows + 2)[1:-1].astype(int)
            found: dict[int, tuple[int, float, Match]] = {}
            for a in starts:
                matches = match_signal(
                    x[a : a + n], self.index, self.profile, settings, self._postings()
                )
                for m in matches:
                    if m.song_id != info.id:
                        k, at, first = found.get(m.song_id, (0, a / sr, m))
                        found[m.song_id] = (k + 1, at, first)
            for sid, (k, at, m) in sorted(found.items()):
                other = self.store.song(sid)
                if k >= min_windows and other is not None:
                    out.append(Relation(info, other, at, self._named([m])[0], k, len(starts)))
        return out

    def _named(self, matches: list[Match]) -> list[Match]:

        out = []
        for m in matches:
            info = self.store.song(m.song_id)
            if info is not None:
                out.append(replace(m, title=info.title, artist=info.artist, path=info.path))
        return out
