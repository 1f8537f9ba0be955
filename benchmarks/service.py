"""`aares serve` under load: 50 concurrent clients posting real excerpts for 60 s.

`python -m benchmarks service --data DIR` indexes the course songs and the Singularity
tracks into a temporary catalog, starts `aares serve` (2 identification workers) on a free
loopback port, and measures, in one run so that the ratios share the machine's load:

1. one client at a time (20 s): requests/s and latency;
2. 50 concurrent clients (60 s): requests/s, p50/p95/p99 latency, errors, wrong answers;
3. the server's memory (its process and workers, RSS) sampled every second, and the CPU
   load of the machine (load average and busy share of all cores) during each phase;
4. `aares fp identify EXCERPT` in a fresh process (what a user without the service pays).

Every answer is checked: the top match must be the excerpt's song, at its offset (0.5 s).
The traffic goes to 127.0.0.1 only; request count and time are bounded; the server is
stopped at the end.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from aares.markdown import markdown_table
from benchmarks._common import ROOT, stamp, write_section

sys.path.insert(0, str(ROOT / "tests"))
from liveserver import free_port, start_server, stop_server  # noqa: E402 (the live tests' server)

CLIENTS = 50
LOAD_SECONDS = 60.0
SINGLE_SECONDS = 20.0
EXCERPT_SECONDS = 8.0
SR = 22050  # the excerpts are sent as 16-bit mono WAV at this rate (~350 KB each)
MAX_REQUESTS = 20_000  # a hard bound on top of the time limits


def _rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its child processes, in MB."""
    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
            for task in Path(f"/proc/{p}/task").iterdir():
                kids = (task / "children").read_text().split()
                todo.extend(int(k) for k in kids)
        except (OSError, ValueError):
            continue
    return total


def _cpu_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all cores, from /proc/stat."""
    fields = [float(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


class Sampler:
    """Samples the server's RSS every second while a phase runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, float]] = []

    async def run(self, stop: asyncio.Event) -> None:
        t0 = time.perf_counter()
        while not stop.is_set():
            self.samples.append((time.perf_counter() - t0, _rss_mb(self.pid)))
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except TimeoutError:
                pass


def _excerpts(files: list[Path], n: int, seed: int = 0) -> list[dict]:
    from aares.fingerprint.audio import load_audio
    from aares.fingerprint.catalog import song_tags

    rng = np.random.default_rng(seed)
    out = []
    decoded = {}
    for i in range(n):
        f = files[i % len(files)]
        if f not in decoded:  # each file is decoded once
            decoded[f] = load_audio(f, sr=SR)[0]
        x = decoded[f]
        start = float(rng.uniform(0, max(0.0, x.size / SR - EXCERPT_SECONDS - 1)))
        clip = x[int(start * SR) : int((start + EXCERPT_SECONDS) * SR)]
        buf = io.BytesIO()
        sf.write(buf, clip, SR, format="WAV", subtype="PCM_16")
        out.append({"title": song_tags(f)[0], "start": start, "wav": buf.getvalue(), "file": f})
    return out


async def _client(http, url, excerpts, rng, deadline, results, budget) -> None:
    import httpx

    while time.perf_counter() < deadline and budget[0] > 0:
        budget[0] -= 1
        ex = excerpts[int(rng.integers(len(excerpts)))]
        t0 = time.perf_counter()
        try:
            r = await http.post(url, files={"file": ("excerpt.wav", ex["wav"], "audio/wav")})
            ok = r.status_code == 200
            body = r.json() if ok else {}
        except (httpx.HTTPError, ValueError) as exc:
            ok, body = False, {"error": str(exc)}
        ms = (time.perf_counter() - t0) * 1e3
        best = (body.get("matches") or [None])[0]
        right = bool(
            ok and best and best["title"] == ex["title"] and abs(best["offset"] - ex["start"]) < 0.5
        )
        results.append({"ms": ms, "ok": ok, "right": right, "end": time.perf_counter()})


async def _phase(base: str, pid: int, excerpts, clients: int, seconds: float) -> dict:
    import httpx

    results: list[dict] = []
    stop = asyncio.Event()
    sampler = Sampler(pid)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    busy0, total0 = _cpu_busy()
    load0 = os.getloadavg()[0]
    cpu0 = _server_cpu(pid)
    async with httpx.AsyncClient(timeout=30.0, limits=limits) as http:
        sampling = asyncio.create_task(sampler.run(stop))
        t0 = time.perf_counter()
        deadline = t0 + seconds
        budget = [MAX_REQUESTS]
        await asyncio.gather(
            *(
                _client(http, f"{base}/api/identify", excerpts, np.random.default_rng(k), deadline,
                        results, budget)
                for k in range(clients)
            )
        )  # fmt: skip
        wall = time.perf_counter() - t0
        stop.set()
        await sampling
    busy1, total1 = _cpu_busy()
    ms = np.array([r["ms"] for r in results])
    rss = [m for _, m in sampler.samples]
    third = max(1, len(rss) // 3)
    return {
        "clients": clients,
        "requests": len(results),
        "seconds": round(wall, 1),
        "rps": round(len(results) / wall, 2),
        "errors": sum(not r["ok"] for r in results),
        "wrong": sum(r["ok"] and not r["right"] for r in results),
        "p50": round(float(np.percentile(ms, 50)), 1),
        "p95": round(float(np.percentile(ms, 95)), 1),
        "p99": round(float(np.percentile(ms, 99)), 1),
        "max": round(float(ms.max()), 1),
        "rss_first_mb": round(statistics.mean(rss[:third]), 1),
        "rss_last_mb": round(statistics.mean(rss[-third:]), 1),
        "rss_max_mb": round(max(rss), 1),
        "load_avg": [round(load0, 2), round(os.getloadavg()[0], 2)],
        "cpu_busy": round((busy1 - busy0) / max(total1 - total0, 1), 3),
        "server_cpu_s_per_request": round((_server_cpu(pid) - cpu0) / max(len(results), 1), 4),
    }


def _server_cpu(pid: int) -> float:
    """CPU seconds (user + system) of the server and its workers so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            stat = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(stat[11]) + int(stat[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(k) for k in (task / "children").read_text().split())
        except (OSError, ValueError, IndexError):
            continue
    return total


def _fresh_identify(db: Path, excerpt: Path, runs: int = 3) -> dict:
    """Wall time of `aares fp identify` in a new process (median of ``runs``)."""
    exe = [sys.executable, "-m", "aares", "fp", "identify", str(excerpt), "--db", str(db), "--json"]
    walls, inner = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run(exe, capture_output=True, text=True, check=True).stdout
        walls.append(time.perf_counter() - t0)
        inner.append(json.loads(out.strip().splitlines()[-1])["ms"])
    return {
        "wall_s": round(statistics.median(walls), 2),
        "match_ms": round(statistics.median(inner), 1),
    }


def run(data_dir: Path, work: Path) -> dict:
    from aares.fingerprint.catalog import Catalog, audio_files

    files = audio_files([data_dir / "songs", data_dir / "music" / "singularity"])
    files = [f for f in files if sf.info(str(f)).duration >= 30]
    if not files:
        raise SystemExit(f"no songs under {data_dir}/songs or music/singularity")
    db = work / "songs.fp.db"
    t0 = time.perf_counter()
    with Catalog(db) as cat:
        cat.add(files, jobs=2)
        hours = sum(s.duration for s in cat.songs()) / 3600
    index_s = time.perf_counter() - t0
    excerpts = _excerpts(files, 46)
    one = work / "excerpt.wav"
    one.write_bytes(excerpts[0]["wav"])
    port = free_port()
    extra = ("--workers", "2", "--log-level", "warning")
    proc = start_server(db, port, *extra, log=work / "server.log", timeout=300)
    try:
        base = f"http://127.0.0.1:{port}"
        asyncio.run(_phase(base, proc.pid, excerpts, 2, 5.0))  # warm-up: both workers
        single = asyncio.run(_phase(base, proc.pid, excerpts, 1, SINGLE_SECONDS))
        load = asyncio.run(_phase(base, proc.pid, excerpts, CLIENTS, LOAD_SECONDS))
    finally:
        stop_server(proc)
    fresh = _fresh_identify(db, one)
    return {
        "songs": len(files),
        "hours": round(hours, 2),
        "index_s": round(index_s, 1),
        "single": single,
        "load": load,
        "fresh": fresh,
    }


def report(r: dict) -> str:
    s, lo, f = r["single"], r["load"], r["fresh"]
    speedup = lo["rps"] / s["rps"] if s["rps"] else float("nan")
    fresh_ratio = f["wall_s"] * 1e3 / s["p50"] if s["p50"] else float("nan")
    table = pd.DataFrame(
        [
            {"clients": name, "requests": p["requests"], "req/s": p["rps"], "p50 ms": p["p50"],
             "p95 ms": p["p95"], "p99 ms": p["p99"], "errors": p["errors"], "wrong": p["wrong"],
             "server CPU s/request": p["server_cpu_s_per_request"],
             "machine CPU busy": f"{p['cpu_busy']:.0%}",
             "load avg (start, end)": f"{p['load_avg'][0]:.1f}, {p['load_avg'][1]:.1f}"}
            for name, p in (("1 at a time", s), (f"{lo['clients']} concurrent", lo))
        ]
    )  # fmt: skip
    formats = {"req/s": "{:.2f}", "p50 ms": "{:.0f}", "p95 ms": "{:.0f}", "p99 ms": "{:.0f}",
               "server CPU s/request": "{:.3f}"}  # fmt: skip
    return "\n".join(
        [
            "## Service under load (`aares serve`)",
            "",
            stamp(),
            "Command: `python -m benchmarks service --data ../shared/data`.",
            "",
            f"Catalog: {r['songs']} songs ({r['hours']:.2f} h: the course songs and the "
            f"Singularity tracks), indexed in {r['index_s']:.0f} s. One `aares serve` process "
            "with 2 identification workers on this 2-core machine, on 127.0.0.1. Each request "
            f"posts an {EXCERPT_SECONDS:.0f} s excerpt (16-bit mono WAV at {SR} Hz, ~350 KB) "
            "cut at a random offset of a random catalog song; an answer is right when its top "
            "match is that song at that offset (+-0.5 s).",
            "",
            markdown_table(table, formats),
            "",
            f"- Throughput with {lo['clients']} clients: **{speedup:.2f}x** that of one client "
            "at a time (target >= 1.6x), same run.",
            f"- p99 latency under load: **{lo['p99'] / 1e3:.2f} s** (target < 2 s); "
            f"{lo['errors']} errors and {lo['wrong']} wrong answers in {lo['requests']} requests.",
            f"- Memory of the server and its workers (RSS) over the 60 s: "
            f"{lo['rss_first_mb']:.0f} MB in the first third, {lo['rss_last_mb']:.0f} MB in the "
            f"last third, {lo['rss_max_mb']:.0f} MB at most.",
            f"- `aares fp identify EXCERPT` in a fresh process: {f['wall_s']:.2f} s wall "
            f"(its own matching {f['match_ms']:.0f} ms; the rest is start-up and reading the "
            f"catalog), **{fresh_ratio:.0f}x** the service's median latency with one client.",
            "- Other jobs may share the machine: the load average and the busy share of both "
            "cores above say how much; the ratios compare phases of one run.",
            f"- The server spent {lo['server_cpu_s_per_request'] * 1e3:.0f} ms of CPU per request "
            f"under load ({s['server_cpu_s_per_request'] * 1e3:.0f} ms alone), which suffers "
            "less from contention than wall time: two otherwise idle cores serve at most about "
            f"{2 / lo['server_cpu_s_per_request']:.0f} requests/s (an upper bound from the CPU "
            "time).",
        ]
    )


def rewrite(json_path: Path = Path("out/benchmarks/service.json")) -> None:
    """Rewrite the BENCHMARKS.md section from a run's JSON (no new measurement)."""
    write_section("service", report(json.loads(Path(json_path).read_text())))


def main(data_dir: Path) -> None:
    if shutil.which("ffmpeg") is None:
        print("note: ffmpeg missing; the catalog's MP3/Ogg files decode with soundfile")
    with tempfile.TemporaryDirectory(prefix="aares-bench-service-") as tmp:
        r = run(Path(data_dir), Path(tmp))
    out = Path("out/benchmarks")
    out.mkdir(parents=True, exist_ok=True)
    (out / "service.json").write_text(json.dumps(r, indent=2))
    text = report(r)
    print(text)
    write_section("service", text)
