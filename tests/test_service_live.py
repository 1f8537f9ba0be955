"""`aares serve` as a user runs it: a real server on a free loopback port, and a real browser.

The server is started as ``python -m aares serve`` with a catalog of three songs built in
code. The browser tests drive Debian's Chromium through Playwright (its own browser download
cannot work here): Chromium's fake microphone plays a WAV excerpt of one song, the test
clicks ``#listen`` and reads ``#result``; a second test uploads a file. They skip when
Chromium or Playwright is missing (``.ci/run`` installs Chromium).

Set ``AARES_SCREENSHOTS=DIR`` to keep the screenshots (the README's come from here).
"""

from __future__ import annotations

import io
import os
import shutil
import socket
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

from aares.fingerprint.audio import resample
from aares.fingerprint.catalog import Catalog
from liveserver import free_port, start_server, stop_server

SR = 22050
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def songs(synth):
    return {i: synth(i) for i in range(3)}


@pytest.fixture(scope="module")
def server(tmp_path_factory, songs):
    folder = tmp_path_factory.mktemp("live")
    db = folder / "songs.fp.db"
    with Catalog(db) as cat:
        for i, x in songs.items():
            cat.add_signal(resample(x, SR, cat.profile.sr), f"Synth song {i}", "aares tests")
    port = free_port()
    proc = start_server(db, port, "--workers", "1", "--max-upload-mb", "1", log=folder / "log")
    try:
        yield f"http://127.0.0.1:{port}", folder
    finally:
        stop_server(proc)


def wav_file(path: Path, x: np.ndarray, sr: int = SR) -> Path:
    sf.write(path, x, sr, subtype="PCM_16")
    return path


def test_real_server_identifies_and_reports(server, songs):
    url, _ = server
    buf = io.BytesIO()
    sf.write(buf, songs[2][30 * SR : 38 * SR], SR, format="WAV")
    r = httpx.post(f"{url}/api/identify", files={"file": ("c.wav", buf.getvalue())}, timeout=60)
    assert r.status_code == 200
    best = r.json()["matches"][0]
    assert best["title"] == "Synth song 2" and abs(best["offset"] - 30) < 0.1
    health = httpx.get(f"{url}/healthz").json()
    assert health["songs"] == 3 and health["parts"]["genre"]["state"] == "absent"
    assert "aares_http_requests_total" in httpx.get(f"{url}/metrics").text
    assert httpx.get(f"{url}/docs").status_code == 200


def test_real_server_stops_reading_an_upload_over_the_limit(server):
    """A chunked upload (no Content-Length) gets 413 once past the limit, not at its end."""
    url, _ = server
    port = int(url.rsplit(":", 1)[1])
    sent = 0
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 << 10)  # little left in buffers
        s.settimeout(30)
        s.connect(("127.0.0.1", port))
        s.sendall(
            b"POST /api/identify HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: multipart/form-data; boundary=x\r\n\r\n"
        )
        head = b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
        s.sendall(b"%x\r\n%s\r\n" % (len(head), head))
        chunk = b"\0" * (64 << 10)
        answer = b""
        try:
            for _ in range(160):  # 10 MB offered against the 1 MB limit
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
                s.settimeout(0.01)
                try:
                    answer += s.recv(4096)
                except TimeoutError:
                    pass
                s.settimeout(30)
                if answer:
                    break
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass
        s.settimeout(30)
        while b"\r\n\r\n" not in answer:
            more = s.recv(4096)
            if not more:
                break
            answer += more
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 4 << 20  # refused after about the limit, long before the 10 MB offered


# -- the browser ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (.ci/run installs it with apt)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        yield p


def launch(p, fake_mic: Path | None = None):
    args = [
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--autoplay-policy=no-user-gesture-required",
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
    ]  # fmt: skip
    if fake_mic is not None:
        args.append(f"--use-file-for-fake-audio-capture={fake_mic}")
    return p.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=args, ignore_default_args=["--mute-audio"]
    )


def screenshot(page, tmp: Path, name: str) -> Path:
    path = tmp / name
    page.screenshot(path=str(path), full_page=True)
    keep = os.environ.get("AARES_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / name)
    return path


def test_browser_listens_through_the_microphone(server, browser, songs):
    url, folder = server
    # Chromium's fake microphone plays this file (48 kHz, as a real one records)
    mic = wav_file(folder / "mic.wav", resample(songs[1][10 * SR : 30 * SR], SR, 48000), 48000)
    b = launch(browser, mic)
    try:
        page = b.new_page(viewport={"width": 1000, "height": 900})
        page.goto(url + "/")
        page.click("#listen")
        page.wait_for_selector("#countdown:has-text('s left')", timeout=20_000)
        page.wait_for_selector("#result .song-title", timeout=60_000)
        assert page.inner_text("#result .song-title") == "Synth song 1"
        facts = page.inner_text("#result")
        assert "by aares tests" in facts and "confidence" in facts and "null" not in facts
        assert "Genre and playlist" in page.inner_text("#details")  # no --data: said in words
        screenshot(page, folder, "service-listen.png")
    finally:
        b.close()


def test_browser_uploads_a_file_on_a_narrow_screen_by_keyboard(server, browser, songs):
    url, folder = server
    clip = wav_file(folder / "clip.wav", songs[0][5 * SR : 13 * SR])
    noise = wav_file(folder / "noise.wav", 0.1 * np.random.default_rng(99).standard_normal(8 * SR))
    b = launch(browser)
    try:
        page = b.new_page(viewport={"width": 375, "height": 800})
        page.goto(url + "/")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "listen"
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.set_input_files("#file", str(clip))
        page.wait_for_selector("#result .song-title", timeout=60_000)
        assert page.inner_text("#result .song-title") == "Synth song 0"
        page.set_input_files("#file", str(noise))
        page.wait_for_selector("#result .nomatch, #status.error", timeout=60_000)
        assert page.locator("#result .nomatch").count() == 1, page.inner_text("#status")
        assert "closer to the speaker" in page.inner_text("#result")
        bad = folder / "notes.txt"
        bad.write_text("not audio\n" * 50)
        page.set_input_files("#file", str(bad))
        page.wait_for_selector("#status.error", timeout=60_000)
        status = page.inner_text("#status")
        assert "not audio" in status and "{" not in status  # words, not raw JSON
        page.wait_for_selector("#songs li", timeout=10_000)
        assert page.locator("#songs li").count() == 3
        screenshot(page, folder, "service-phone.png")
    finally:
        b.close()
