"""The aares web service: a FastAPI application over the fingerprint catalog and the Spotify data.

:func:`create_app` builds the application from :class:`ServiceSettings`; ``aares serve``
runs it under uvicorn. The routes, their fields and their errors are the contract of
issue 17 (README "Service and page"); FastAPI documents them at ``/docs``.

Where the work runs:

- identification (decode + analyse + match) in :class:`~aares.service.identify.IdentifyPool`,
  processes that each keep the catalog's index warm;
- every use of this process's own catalog connection (list, add, remove, size) in one
  dedicated thread: SQLite connections must stay in the thread that opened them, and one
  writer serialises adds and removes (the workers keep reading meanwhile: WAL journal);
- the Spotify parts in a background thread at start-up (:mod:`aares.service.spotify`).

Example
-------
>>> from aares.service import ServiceSettings, create_app           # doctest: +SKIP
>>> app = create_app(ServiceSettings(db="songs.fp.db"))              # doctest: +SKIP
>>> # uvicorn.run(app, host="127.0.0.1", port=8000)
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, File, Form, Header, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from aares.fingerprint.audio import AUDIO_EXTENSIONS
from aares.service.identify import IdentifyPool, UploadError
from aares.service.metrics import Metrics
from aares.service.spotify import Part, SpotifyParts, genre_frame, link_candidates
from aares.service.uploads import UploadLimit

__all__ = ["ServiceSettings", "create_app"]

log = logging.getLogger("aares.service")

STATIC = resources.files("aares.service") / "static"


@dataclass
class ServiceSettings:
    """What ``aares serve`` is started with.

    Parameters
    ----------
    db : the fingerprint catalog (must exist: index songs with ``aares fp index``).
    data : the data folder with the Spotify files (genre, links, playlists); ``None``
        leaves those parts out (404) and identification works alone.
    genre_model : a genre model file with its calibration; ``None`` fits ``genre_fit`` at
        start-up when ``data`` is given.
    token : the bearer token that allows adding and removing songs; ``None`` disables both.
    max_upload_mb : uploads above this size are refused (413) before being read whole.
    max_seconds : only the first ``max_seconds`` of an excerpt are analysed.
    workers : identification processes (one per core).
    top : matches returned by default.
    cache : folder for the parsed Spotify catalogue (Parquet), or ``None``.
    """

    db: str | os.PathLike
    data: str | os.PathLike | None = None
    genre_model: str | os.PathLike | None = None
    token: str | None = None
    max_upload_mb: float = 20.0
    max_seconds: float = 60.0
    workers: int = 2
    top: int = 3
    genre_fit: str = "lightgbm"
    genre_sample: int | None = None
    cache: str | os.PathLike | None = None
    extra: dict = field(default_factory=dict)


class GenreRequest(BaseModel):
    """One song's Spotify features: the course columns (``time_signature`` optional)."""

    release_date: str = Field(pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$", examples=["1975-10-31"])
    explicit: bool = False
    popularity: int = Field(ge=0, le=100)
    danceability: float = Field(ge=0, le=1)
    energy: float = Field(ge=0, le=1)
    key: int = Field(ge=-1, le=11)
    loudness: float = Field(ge=-80, le=10)
    mode: int = Field(ge=0, le=1)
    speechiness: float = Field(ge=0, le=1)
    acousticness: float = Field(ge=0, le=1)
    instrumentalness: float = Field(ge=0, le=1)
    liveness: float = Field(ge=0, le=1)
    valence: float = Field(ge=0, le=1)
    tempo: float = Field(ge=0, le=300)
    duration_ms: int = Field(gt=0)
    time_signature: int | None = Field(default=None, ge=0, le=7)
    eps: float | None = Field(default=None, gt=0, lt=1)


class Service:
    """The state behind the routes (one per application)."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.db = Path(settings.db)
        if "://" not in str(settings.db) and not self.db.is_file():
            raise FileNotFoundError(
                f"{self.db}: no such catalog (index songs into it first: aares fp index "
                f"SONGS --db {self.db})"
            )
        self.metrics = Metrics()
        self.parts = SpotifyParts(
            settings.data,
            settings.genre_model,
            settings.genre_fit,
            settings.genre_sample,
            settings.cache,
        )
        self._db_thread = ThreadPoolExecutor(1, thread_name_prefix="aares-catalog")
        self.catalog = None
        self.pool: IdentifyPool | None = None
        self.tmp: tempfile.TemporaryDirectory | None = None

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> None:
        from aares.fingerprint.catalog import Catalog

        self.tmp = tempfile.TemporaryDirectory(prefix="aares-serve-")
        opened = self._db_thread.submit(lambda: Catalog(self.settings.db, create=False))
        self.catalog = opened.result()
        self.pool = IdentifyPool(self.settings.db, self.settings.workers, self.settings.max_seconds)
        self.pool.warm()
        self.parts.start()

    def stop(self) -> None:
        if self.pool is not None:
            self.pool.close()
        if self.catalog is not None:
            self._db_thread.submit(self.catalog.close).result()
        self._db_thread.shutdown(wait=True)
        if self.tmp is not None:
            self.tmp.cleanup()

    async def in_db(self, fn, *args):
        """Run ``fn(catalog, *args)`` in the catalog's own thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db_thread, lambda: fn(self.catalog, *args))

    # -- uploads ---------------------------------------------------------------------------
    async def save(self, upload: UploadFile) -> Path:
        """Copy an upload to a file the service names (never the client's name)."""
        suffix = Path(upload.filename or "").suffix.lower()
        suffix = suffix if suffix in AUDIO_EXTENSIONS else ".upload"
        fd, name = tempfile.mkstemp(prefix="upload-", suffix=suffix, dir=self.tmp.name)
        loop = asyncio.get_running_loop()
        with os.fdopen(fd, "wb") as out:
            await loop.run_in_executor(None, shutil.copyfileobj, upload.file, out, 1 << 20)
        path = Path(name)
        if path.stat().st_size == 0:
            path.unlink(missing_ok=True)
            raise HTTPException(422, "the uploaded file is empty (0 bytes); expected audio")
        return path

    async def run(self, future):
        try:
            return await asyncio.wrap_future(future)
        except UploadError as exc:
            raise HTTPException(exc.status, str(exc)) from None
        except BrokenProcessPool:
            raise HTTPException(
                503, "the identification workers restarted; try again in a few seconds"
            ) from None

    def check_token(self, authorization: str | None) -> None:
        want = self.settings.token
        if not want:
            raise HTTPException(
                403,
                "adding and removing songs is disabled: start the service with --token "
                "(or AARES_TOKEN) to allow it",
            )
        given = ""
        if authorization and authorization.lower().startswith("bearer "):
            given = authorization[7:].strip()
        if not given or not hmac.compare_digest(given.encode(), want.encode()):
            why = "missing" if not given else "wrong"
            raise HTTPException(
                401,
                f"{why} token: send the header 'Authorization: Bearer <token>' with the "
                "service's token",
                headers={"WWW-Authenticate": "Bearer"},
            )

    def part(self, part: Part):
        if part.state == "ready":
            return part.value
        if part.state == "loading":
            raise HTTPException(
                503,
                f"the {part.name} part is still being built ({part.message}); try again soon",
                headers={"Retry-After": "10"},
            )
        if part.state == "absent":
            raise HTTPException(404, f"no {part.name}: {part.message}")
        raise HTTPException(503, f"the {part.name} part could not be built: {part.message}")


def _song(info) -> dict:
    # the API's view of a song: no server path, no checksum
    d = info.to_dict()
    return {k: d[k] for k in ("id", "title", "artist", "duration")} | {"hashes": d["n_hashes"]}


def _songs(cat) -> list:
    return cat.songs()


def _find_song(cat, song_id: int):
    for s in cat.songs():
        if s.id == song_id:
            return s
    return None


def _one_line(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        where = ".".join(loc) or "request"
        msg = err.get("msg", "invalid")
        if err.get("type") == "missing":
            msg = "is required"
            if where == "file":
                msg += " (a multipart form upload of an audio file)"
        else:
            got = err.get("input")
            if got is not None and not isinstance(got, dict | list):
                msg = f"{msg} (got {str(got)[:40]!r})"
        parts.append(f"field {where!r} {msg}" if msg == "is required" or msg.startswith("is ")
                     else f"field {where!r}: {msg}")  # fmt: skip
    return "; ".join(parts) or "invalid request"


def create_app(settings: ServiceSettings) -> FastAPI:
    """The FastAPI application for ``settings`` (workers start with its lifespan)."""
    service = Service(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await asyncio.get_running_loop().run_in_executor(None, service.start)
        try:
            yield
        finally:
            await asyncio.get_running_loop().run_in_executor(None, service.stop)

    app = FastAPI(
        title="aares",
        summary="Name a song from a recording, then its genre set and a playlist.",
        version="1",
        lifespan=lifespan,
    )
    app.state.service = service

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        return JSONResponse({"detail": _one_line(exc)}, status_code=422)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):
        log.exception("internal error on %s", request.url.path)
        return JSONResponse(
            {"detail": "internal error (the server log has the details)"}, status_code=500
        )

    # -- identification ------------------------------------------------------------------------
    @app.post("/api/identify", tags=["identify"])
    async def identify(
        file: Annotated[UploadFile, File(description="The recording: WAV, FLAC, Ogg, MP3, WebM")],
        top: Annotated[int | None, Form(ge=1, le=20)] = None,
        top_q: Annotated[int | None, Query(alias="top", ge=1, le=20)] = None,
    ) -> dict:
        """Name the song a recording comes from. ``matches: []`` means no match.

        Only the first ``max_seconds`` (60 s by default) of a longer upload are analysed;
        ``seconds`` says how much was, ``duration`` how long the upload was.
        """
        t0 = time.perf_counter()
        path = await service.save(file)
        try:
            n = top or top_q or settings.top
            answer = await service.run(service.pool.identify(str(path), n))
        finally:
            path.unlink(missing_ok=True)
        answer["ms"] = round((time.perf_counter() - t0) * 1e3, 1)
        return answer

    # -- the catalog ---------------------------------------------------------------------------
    @app.get("/api/songs", tags=["catalog"])
    async def list_songs(
        q: str = "",
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict:
        """The catalog's songs, paged; ``q`` keeps those whose title or artist contains it."""
        songs = await service.in_db(_songs)
        if q:
            needle = q.casefold()
            songs = [s for s in songs if needle in f"{s.title}\n{s.artist}".casefold()]
        page = [_song(s) for s in songs[offset : offset + limit]]
        return {"total": len(songs), "offset": offset, "limit": limit, "songs": page}

    async def _get(song_id: int):
        info = await service.in_db(_find_song, song_id)
        if info is None:
            raise HTTPException(404, f"no song with id {song_id} in the catalog")
        return info

    @app.get("/api/songs/{song_id}", tags=["catalog"])
    async def get_song(song_id: int) -> dict:
        """One song of the catalog."""
        return _song(await _get(song_id))

    @app.post("/api/songs", tags=["catalog"], status_code=201)
    async def add_song(
        response: Response,
        file: Annotated[UploadFile, File(description="The whole song")],
        title: Annotated[str, Form(max_length=300)] = "",
        artist: Annotated[str, Form(max_length=300)] = "",
        authorization: Annotated[str | None, Header()] = None,
    ) -> dict:
        """Add a song (needs the token). The same audio twice is stored once (200)."""
        service.check_token(authorization)
        path = await service.save(file)
        try:
            prof = service.catalog.profile
            x, _ = await service.run(service.pool.decode(str(path), prof.sr, prof.resample_quality))
        finally:
            path.unlink(missing_ok=True)
        if x.size < 5 * prof.sr:
            raise HTTPException(422, "the song is shorter than 5 s; upload the whole song")
        name = Path(file.filename or "").stem
        if not title:
            title = name.split(" - ", 1)[1] if " - " in name and not artist else name or "untitled"
            if " - " in name and not artist:
                artist = name.split(" - ", 1)[0]
        before = {s.id for s in await service.in_db(_songs)}
        song_id = await service.in_db(lambda cat: cat.add_signal(x, title.strip(), artist.strip()))
        info = await _get(song_id)
        added = song_id not in before
        if not added:
            response.status_code = 200
        return {"added": added, "song": _song(info)}

    @app.delete("/api/songs/{song_id}", tags=["catalog"])
    async def remove_song(
        song_id: int, authorization: Annotated[str | None, Header()] = None
    ) -> dict:
        """Remove a song (needs the token)."""
        service.check_token(authorization)
        info = await _get(song_id)
        await service.in_db(lambda cat: cat.remove(info.id))
        return {"removed": _song(info)}

    # -- the Spotify parts ---------------------------------------------------------------------
    @app.get("/api/songs/{song_id}/spotify", tags=["spotify"])
    async def song_spotify(song_id: int, limit: Annotated[int, Query(ge=1, le=50)] = 5) -> dict:
        """Spotify catalogue rows matching the song's title and artist (fuzzy, ranked)."""
        info = await _get(song_id)
        index = service.part(service.parts.catalogue)
        loop = asyncio.get_running_loop()
        rows = await loop.run_in_executor(
            None, link_candidates, index, info.title, info.artist, limit
        )
        return {"song": _song(info), "matches": rows}

    @app.post("/api/genre", tags=["spotify"])
    async def genre(
        features: GenreRequest, eps: Annotated[float, Query(gt=0, lt=1)] = 0.05
    ) -> dict:
        """The genre of one song from its Spotify features, with a conformal prediction set."""
        model = service.part(service.parts.genre)
        frame = genre_frame(features.model_dump())
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            None, model.predict, frame, features.eps if features.eps is not None else eps
        )

    @app.get("/api/playlist", tags=["spotify"])
    async def playlist(
        title: str = "",
        artist: str = "",
        id: str = "",
        n: Annotated[int, Query(ge=1, le=100)] = 10,
    ) -> dict:
        """The Exercise 3 playlist for a catalogue song (``title`` [+ ``artist``], or ``id``)."""
        from aares.recommend.catalog import AmbiguousSeed, SeedNotFound

        rec, rows = service.part(service.parts.playlist)
        if id:
            if id not in rows:
                raise HTTPException(404, f"no catalogue row with id {id!r}")
            seed = rows[id]
        elif title:
            try:
                seed = rec.find(title, artist or None)
            except SeedNotFound as exc:
                raise HTTPException(404, str(exc)) from None
            except AmbiguousSeed as exc:
                raise HTTPException(409, str(exc).replace("--artist", "artist=")) from None
        else:
            raise HTTPException(422, "give title= (and artist=) or id= of a catalogue song")
        loop = asyncio.get_running_loop()
        table = await loop.run_in_executor(None, lambda: rec.recommend([seed], n=n))
        cols = ["rank", "id", "name", "artists", "year", "popularity", "similarity", "why"]
        return {
            "seed": {"id": str(rec.ids_[seed]), "label": rec.seed_index_.label(seed)},
            "playlist": table[cols].to_dict(orient="records"),
        }

    # -- health and metrics --------------------------------------------------------------------
    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict:
        """200 with the catalog's size and the state of each part."""
        songs = await service.in_db(_songs)
        return {
            "status": "ok",
            "songs": len(songs),
            "hours": round(sum(s.duration for s in songs) / 3600, 3),
            "workers": settings.workers,
            "parts": {p.name: p.to_dict() for p in service.parts.parts()},
        }

    @app.get("/metrics", tags=["health"])
    async def metrics() -> Response:
        """Prometheus text format: requests and latency per route, catalog songs and hours."""
        songs = await service.in_db(_songs)
        body, kind = service.metrics.render(len(songs), sum(s.duration for s in songs) / 3600)
        return Response(body, media_type=kind)

    # -- the page ----------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"), media_type="text/html")

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.add_middleware(UploadLimit, max_bytes=int(settings.max_upload_mb * 1024 * 1024))
    app.add_middleware(service.metrics.middleware)
    return app
