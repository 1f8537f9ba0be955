"""A real `aares serve` process on a free loopback port, for the live tests and the load
benchmark (`benchmarks/service.py` imports this module, as the cluster benchmark imports
`pgserver`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    db: Path, port: int, *extra: str, env: dict | None = None, log: Path, timeout: float = 180
) -> subprocess.Popen:
    """``python -m aares serve`` on 127.0.0.1:port; returns the process once /healthz answers."""
    import httpx

    env = {k: v for k, v in (env or os.environ).items() if k not in ("AARES_DATA", "AARES_TOKEN")}
    cmd = [sys.executable, "-m", "aares", "serve", "--db", str(db), "--port", str(port)]
    out = open(log, "wb")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen([*cmd, *extra], stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"aares serve exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop_server(proc)
    raise RuntimeError(f"aares serve did not answer in {timeout:.0f} s: {log.read_text()[-2000:]}")


def stop_server(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if the server has not ended in 30 s."""
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
