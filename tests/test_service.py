"""`aares serve`'s API through FastAPI's TestClient: identification, the catalog, errors, tokens.

One service (one worker process) serves the tests of this module; its catalog holds three
songs built in code, so these tests need no data. The Spotify parts are tested with the
real data at the end (skipped without AARES_DATA).
"""

from __future__ import annotations

import io
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # starlette's note on httpx versions
    from fastapi.testclient import TestClient

from aares.fingerprint.audio import resample
from aares.fingerprint.catalog import Catalog
from aares.service import ServiceSettings, create_app

SR = 22050
TOKEN = "test-token-123"


def wav_bytes(x: np.ndarray, sr: int = SR, subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sr, format="WAV", subtype=subtype)
    return buf.getvalue()


@pytest.fixture(scope="module")
def songs(synth):
    return {i: synth(i) for i in range(4)}  # song 3 is kept out of the catalog


@pytest.fixture(scope="module")
def catalog_db(tmp_path_factory, songs) -> Path:
    db = tmp_path_factory.mktemp("service") / "songs.fp.db"
    with Catalog(db) as cat:
        for i in range(3):
            x = resample(songs[i], SR, cat.profile.sr)
            cat.add_signal(x, f"Synth song {i}", "aares tests")
    return db


@pytest.fixture(scope="module")
def client(catalog_db):
    settings = ServiceSettings(db=catalog_db, token=TOKEN, max_upload_mb=2, workers=1)
    app = create_app(settings)
    with TestClient(app) as c:
        c.service = app.state.service
        yield c


def post_audio(client, data: bytes, name: str = "clip.wav", **kw):
    return client.post("/api/identify", files={"file": (name, data, "audio/wav")}, **kw)


def auth(token: str = TOKEN) -> dict:
    return {"Authorization": f"Bearer {token}"}


# -- identification ---------------------------------------------------------------------------
def test_identify_names_the_song_and_offset(client, songs):
    clip = songs[1][12 * SR : 20 * SR]
    r = post_audio(client, wav_bytes(clip))
    assert r.status_code == 200, r.text
    body = r.json()
    best = body["matches"][0]
    assert best["title"] == "Synth song 1" and best["artist"] == "aares tests"
    assert abs(best["offset"] - 12.0) < 0.1
    assert set(best) >= {"song_id", "title", "artist", "offset", "score", "confidence", "speed"}
    assert best["confidence"] > 0.99 and abs(best["speed"] - 1) < 1e-6
    assert body["ms"] > 0 and body["seconds"] == pytest.approx(8.0, abs=0.01)


def test_identify_flac_and_top(client, songs):
    buf = io.BytesIO()
    sf.write(buf, songs[2][5 * SR : 13 * SR], SR, format="FLAC")
    r = client.post("/api/identify?top=1", files={"file": ("c.flac", buf.getvalue())})
    assert r.status_code == 200
    assert [m["title"] for m in r.json()["matches"]] == ["Synth song 2"]


def test_noise_and_unknown_song_give_no_match(client, songs):
    noise = 0.1 * np.random.default_rng(7).standard_normal(8 * SR).astype(np.float32)
    assert post_audio(client, wav_bytes(noise)).json()["matches"] == []
    other = songs[3][10 * SR : 18 * SR]  # built like the others, not in the catalog
    assert post_audio(client, wav_bytes(other)).json()["matches"] == []


def test_long_upload_uses_the_first_60_seconds(client, synth):
    # 65 s at 8 kHz is about 1 MB: under the 2 MB limit of this service
    x = resample(synth(0, seconds=70), SR, 8000)[: 65 * 8000]
    r = post_audio(client, wav_bytes(x, 8000))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["seconds"] == pytest.approx(60.0) and body["duration"] == pytest.approx(65.0)
    assert body["matches"][0]["title"] == "Synth song 0"


# -- bad input -----------------------------------------------------------------------------------
def test_not_audio_is_415_with_what_was_expected(client):
    r = post_audio(client, b"this is not audio at all\n" * 20, name="notes.txt")
    assert r.status_code == 415
    detail = r.json()["detail"]
    assert "not audio" in detail and "WAV" in detail and "Traceback" not in detail


def test_empty_upload_and_missing_field_are_422(client):
    r = post_audio(client, b"")
    assert r.status_code == 422 and "empty" in r.json()["detail"]
    r = client.post("/api/identify")
    assert r.status_code == 422 and "'file'" in r.json()["detail"]
    header_only = wav_bytes(np.zeros(0, np.float32))
    r = post_audio(client, header_only)
    assert r.status_code == 422 and "no audio samples" in r.json()["detail"]


def test_upload_over_the_limit_is_413_before_being_read(client):
    r = post_audio(client, b"\0" * (3 << 20))
    assert r.status_code == 413 and "2 MB" in r.json()["detail"]

    def chunks():  # no Content-Length: counted as it streams in (test_service_live checks
        for _ in range(64):  # that a real server stops reading near the limit)
            yield b"\0" * (256 << 10)

    r = client.post(
        "/api/identify",
        content=chunks(),
        headers={"content-type": "multipart/form-data; boundary=x"},
    )
    assert r.status_code == 413 and "2 MB" in r.json()["detail"]


def test_uploads_are_never_written_under_the_clients_name(client, songs, tmp_path):
    evil = tmp_path / "evil.wav"
    name = str(evil)  # an absolute path as the "file name"
    r = post_audio(client, wav_bytes(songs[0][: 8 * SR]), name=name)
    assert r.status_code == 200
    r = post_audio(client, wav_bytes(songs[0][: 8 * SR]), name="../../../escape.wav")
    assert r.status_code == 200
    tmp = Path(client.service.tmp.name)
    assert not evil.exists()
    assert not any((p / "escape.wav").exists() for p in [tmp, *tmp.parents])
    assert list(tmp.iterdir()) == []  # and nothing is left behind


def test_errors_are_sentences_not_traces(client):
    r = client.post("/api/genre", json={"danceability": 3})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert (
        isinstance(detail, str) and "'danceability'" in detail and "'tempo' is required" in detail
    )
    r = client.get("/api/songs/not-a-number")
    assert r.status_code == 422 and "song_id" in r.json()["detail"]


# -- the catalog and the token ---------------------------------------------------------------
def test_songs_are_listed_paged_and_searched(client):
    body = client.get("/api/songs").json()
    assert body["total"] == 3 and [s["title"] for s in body["songs"]][:1] == ["Synth song 0"]
    page = client.get("/api/songs?limit=1&offset=1").json()
    assert page["total"] == 3 and [s["title"] for s in page["songs"]] == ["Synth song 1"]
    assert client.get("/api/songs?q=SONG 2").json()["total"] == 1
    assert client.get("/api/songs?q=nothing-like-it").json() == {
        "total": 0, "offset": 0, "limit": 50, "songs": []
    }  # fmt: skip
    one = body["songs"][0]
    assert client.get(f"/api/songs/{one['id']}").json() == one
    r = client.get("/api/songs/9999")
    assert r.status_code == 404 and "9999" in r.json()["detail"]


def test_writes_need_the_token(client, songs):
    data = {"title": "Synth song 3"}
    files = {"file": ("s.wav", wav_bytes(songs[3]))}
    r = client.post("/api/songs", data=data, files=files)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert "missing token" in r.json()["detail"]
    r = client.post("/api/songs", data=data, files=files, headers=auth("wrong"))
    assert r.status_code == 401 and "wrong token" in r.json()["detail"]
    assert client.delete("/api/songs/1", headers=auth("wrong")).status_code == 401
    assert client.get("/api/songs").json()["total"] == 3  # reads need no token


def test_without_a_configured_token_writes_are_disabled(catalog_db, songs):
    app = create_app(ServiceSettings(db=catalog_db))  # no lifespan: no workers needed
    c = TestClient(app)
    r = c.post("/api/songs", files={"file": ("s.wav", wav_bytes(songs[3]))}, headers=auth())
    assert r.status_code == 403 and "--token" in r.json()["detail"]
    assert c.delete("/api/songs/1", headers=auth()).status_code == 403


def test_a_failed_add_leaves_the_catalog_unchanged(client):
    before = client.get("/api/songs").json()
    r = client.post("/api/songs", files={"file": ("x.wav", b"RIFF garbage")}, headers=auth())
    assert r.status_code == 415
    r = client.post("/api/songs", files={"file": ("x.wav", b"")}, headers=auth())
    assert r.status_code == 422
    assert client.get("/api/songs").json() == before


def test_add_identify_remove_while_identifying(client, songs):
    """Identify requests running while a song is added and removed all succeed."""
    clip = wav_bytes(songs[1][20 * SR : 28 * SR])
    answers, stop = [], threading.Event()

    def identify_loop():
        while not stop.is_set():
            r = post_audio(client, clip)
            answers.append(
                (r.status_code, r.json()["matches"][0]["title"] if r.is_success else r.text)
            )

    threads = [threading.Thread(target=identify_loop) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        files = {"file": ("Someone - New song.wav", wav_bytes(songs[3]))}
        r = client.post("/api/songs", files=files, headers=auth())
        assert r.status_code == 201, r.text
        added = r.json()["song"]
        assert added["title"] == "New song" and added["artist"] == "Someone"
        # the new song is found at once (the worker notices the generation change)
        found = post_audio(client, wav_bytes(songs[3][3 * SR : 11 * SR])).json()["matches"]
        assert found and found[0]["song_id"] == added["id"]
        again = client.post("/api/songs", files=files, headers=auth())
        assert again.status_code == 200 and again.json()["added"] is False
        r = client.delete(f"/api/songs/{added['id']}", headers=auth())
        assert r.status_code == 200 and r.json()["removed"]["id"] == added["id"]
        assert client.delete(f"/api/songs/{added['id']}", headers=auth()).status_code == 404
        gone = post_audio(client, wav_bytes(songs[3][3 * SR : 11 * SR])).json()["matches"]
        assert gone == []
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert len(answers) >= 3
    assert all(a == (200, "Synth song 1") for a in answers), answers[:5]
    assert client.get("/api/songs").json()["total"] == 3


# -- health, metrics, page ----------------------------------------------------------------------
def test_healthz_and_metrics(client, songs):
    post_audio(client, wav_bytes(songs[0][: 8 * SR]))
    h = client.get("/healthz").json()
    assert (
        h["status"] == "ok"
        and h["songs"] == 3
        and h["hours"] == pytest.approx(120 / 3600, abs=1e-3)
    )
    text = client.get("/metrics").text
    assert 'aares_http_requests_total{method="POST",route="/api/identify",status="200"}' in text
    assert 'aares_http_request_duration_seconds_bucket{le="0.5",route="/api/identify"}' in text
    assert "aares_catalog_songs 3.0" in text and "aares_catalog_hours 0.0333" in text
    assert 'route="/api/songs/{song_id}"' in text or "/api/songs/9" not in text


def test_the_page_and_openapi_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and 'id="listen"' in page.text and 'id="result"' in page.text
    js = client.get("/static/app.js").text
    assert "echoCancellation: false" in js and "autoGainControl: false" in js
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/api/identify", "/api/songs", "/api/songs/{song_id}", "/api/songs/{song_id}/spotify",
              "/api/genre", "/api/playlist", "/healthz", "/metrics"):  # fmt: skip
        assert p in paths


def test_spotify_parts_without_data_say_what_is_missing(client):
    for r in (
        client.get("/api/songs/1/spotify"),
        client.get("/api/playlist?title=Yesterday"),
        client.post("/api/genre", json=GENRE_ROW),
    ):
        assert r.status_code == 404 and "--data" in r.json()["detail"]


GENRE_ROW = {
    "release_date": "1975-10-31", "explicit": False, "popularity": 70, "danceability": 0.39,
    "energy": 0.4, "key": 10, "loudness": -9.9, "mode": 0, "speechiness": 0.05,
    "acousticness": 0.29, "instrumentalness": 0.0, "liveness": 0.24, "valence": 0.22,
    "tempo": 143.9, "duration_ms": 354320,
}  # fmt: skip


# -- with the real data ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def data_client(data_dir, tmp_path_factory):
    songs_dir = data_dir / "songs"
    files = sorted(songs_dir.glob("*.mp3"))[:3]
    if len(files) < 3:
        pytest.skip(f"fewer than 3 songs in {songs_dir}")
    db = tmp_path_factory.mktemp("service-data") / "songs.fp.db"
    with Catalog(db) as cat:
        cat.add(files, jobs=1)
    settings = ServiceSettings(
        db=db, data=data_dir, workers=1, genre_fit="logreg", genre_sample=4000
    )
    app = create_app(settings)
    with TestClient(app) as c:
        c.files = files
        for part in app.state.service.parts.parts():
            part.wait(300)
        yield c


@pytest.mark.data
def test_identify_a_seeded_excerpt_of_a_real_song(data_client):
    from aares.fingerprint.audio import load_audio

    x, sr = load_audio(data_client.files[0], sr=SR)
    start = float(np.random.default_rng(17).uniform(10, x.size / sr - 20))
    clip = x[int(start * sr) : int((start + 8) * sr)]
    best = post_audio(data_client, wav_bytes(clip)).json()["matches"][0]
    assert "Carmen Prelude" in best["title"]
    assert abs(best["offset"] - start) < 0.1


@pytest.mark.data
def test_spotify_link_genre_set_and_playlist(data_client):
    carmen = data_client.get("/api/songs?q=carmen prelude").json()["songs"][0]
    link = data_client.get(f"/api/songs/{carmen['id']}/spotify").json()
    top = link["matches"][0]
    assert "Carmen" in top["name"] and "Georges Bizet" in top["artists"]
    assert top["score"] >= 60 and link["matches"][-1]["score"] <= top["score"]
    g = data_client.post("/api/genre", json=top["features"]).json()
    assert g["coverage"] == 0.95 and g["set"] and g["genre"] in g["set"]
    assert sum(g["probabilities"].values()) == pytest.approx(1, abs=1e-3)
    assert "95%" in g["guarantee"]
    wider = data_client.post("/api/genre?eps=0.01", json=top["features"]).json()["set"]
    assert set(g["set"]) <= set(wider)
    p = data_client.get(f"/api/playlist?id={top['id']}&n=10").json()
    assert len(p["playlist"]) == 10 and all(s["why"] for s in p["playlist"])
    assert top["id"] not in {s["id"] for s in p["playlist"]}
    r = data_client.get("/api/playlist?title=no such song at all xyz")
    assert r.status_code == 404 and "no song titled" in r.json()["detail"]
    assert data_client.get("/api/playlist?id=nope").status_code == 404


def test_changes_by_another_process_are_noticed(client, catalog_db, songs):
    """Another writer (here this test's own connection) adds and removes a song: the
    workers see the catalog's generation change at the next request and reload."""
    clip = wav_bytes(songs[3][20 * SR : 28 * SR])
    assert post_audio(client, clip).json()["matches"] == []
    with Catalog(catalog_db) as cat:
        sid = cat.add_signal(resample(songs[3], SR, cat.profile.sr), "Added elsewhere", "cli")
    try:
        best = post_audio(client, clip).json()["matches"][0]
        assert best["song_id"] == sid and best["title"] == "Added elsewhere"
        assert client.get("/api/songs").json()["total"] == 4
    finally:
        with Catalog(catalog_db) as cat:
            cat.remove(sid)
    assert post_audio(client, clip).json()["matches"] == []


def test_serve_brings_a_lagging_index_in_step_before_it_starts(tmp_path, songs):
    # `aares serve` indexes what the catalog's index lacks in its own process (with a
    # progress bar), so that its workers open the index in O(1) instead of rebuilding it
    from aares.fingerprint.index import IndexFolderError, open_index
    from aares.service.cli import _index_in_step

    db = tmp_path / "lag.fp.db"
    with Catalog(db) as cat:  # a song stored, its index not yet written (as after an upgrade)
        cat.add_signal(resample(songs[0], SR, cat.profile.sr), "Synth song 0", "aares tests")
    with Catalog(db) as cat, pytest.raises(IndexFolderError, match="lags the catalog"):
        open_index(cat.store, update=False)
    _index_in_step(str(db))
    with Catalog(db) as cat:
        assert len(open_index(cat.store, update=False, key_bits=cat.profile.hash_bits)) > 0
