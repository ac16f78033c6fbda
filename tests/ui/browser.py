"""The UI's test tools, shared by its tests and docs/screenshots.py: the browser (Debian's
``chromium``, driven by Playwright, never a downloaded one) and a ``flowhook ui`` server."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import Browser, Playwright

CHROMIUM = "/usr/bin/chromium"
#: Without the background-networking switches Chromium's own connections are refused here,
#: and its start waits for them.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FLOWHOOK = str(Path(sys.executable).parent / "flowhook")


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_ui(env: dict[str, str], port: int, timeout: float = 30.0) -> subprocess.Popen[str]:
    """``flowhook ui --port PORT`` in a subprocess, once it answers."""
    server = subprocess.Popen(
        [FLOWHOOK, "ui", "--port", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(
                f"flowhook ui exited: {server.stdout.read() if server.stdout else ''}"
            )
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/plugins")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise RuntimeError(f"flowhook ui did not answer on port {port} within {timeout} s")


def stop(server: subprocess.Popen[str]) -> None:
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
