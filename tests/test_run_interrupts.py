"""A second Ctrl-C under ``flowhook run`` exits 130 with one line, never a traceback (issue 25,
item 5), whatever it interrupts: the run's crash hooks, the end of the display, or the
interpreter's shutdown joining a thread the flow left running. A real pseudo-terminal, real
SIGINTs."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

FLOWHOOK = str(Path(sys.executable).with_name("flowhook"))

FLOWS = """
import threading
import time
from pathlib import Path

from flowhook import flow, task


@task
def tick(i: int) -> int:
    if i == 1:
        Path("started").touch()
    time.sleep(0.02)
    return i


@flow
def lingering_hook(n: int = 2000) -> None:
    for i in range(n):
        tick(i)


@lingering_hook.on_crashed
def linger(flow, flow_run, state):
    Path("in-hook").touch()
    time.sleep(5)


@flow
def leaves_a_thread(n: int = 2000) -> None:
    threading.Thread(target=time.sleep, args=(5,)).start()
    for i in range(n):
        tick(i)


@leaves_a_thread.on_crashed
def mark(flow, flow_run, state):
    Path("in-hook").touch()
"""

LINE = "flowhook: interrupted again: exiting now"


def run_interrupted_twice(workdir: Path, flow: str, wait_for: str | None, delay: float) -> str:
    """Start ``flow`` on a terminal, Ctrl-C once it started, again once ``wait_for`` exists
    (plus ``delay``); the whole output once it exited 130."""
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "FLOWHOOK_DISABLE_PLUGINS": "all"}
    process = subprocess.Popen(
        [FLOWHOOK, "run", f"flows.py:{flow}"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=workdir,
        env=env,
    )
    os.close(slave)
    output = b""
    try:
        wait_file(workdir / "started", process)
        process.send_signal(signal.SIGINT)
        if wait_for is not None:
            wait_file(workdir / wait_for, process)
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    break
                if not data:
                    break
                output += data
            elif process.poll() is not None:
                break
        assert process.wait(timeout=10) == 130, output.decode(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
        os.close(master)
    return output.decode(errors="replace")


def wait_file(path: Path, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        assert process.poll() is None, f"exited {process.returncode} before {path.name}"
        assert time.monotonic() < deadline, f"no {path.name}"
        time.sleep(0.01)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "flows.py").write_text(FLOWS)
    (tmp_path / "flowhook.toml").write_text("")
    monkeypatch.setenv("FLOWHOOK_CONFIG", str(tmp_path / "flowhook.toml"))
    return tmp_path


@pytest.mark.parametrize(
    ("flow", "wait_for", "delay"),
    [
        # Right after the first (two signals before Python handles one are one signal).
        ("lingering_hook", None, 0.05),
        ("lingering_hook", "in-hook", 0.2),  # during the run's on_crashed hook
        ("leaves_a_thread", "in-hook", 0.8),  # during the shutdown's join of the flow's thread
    ],
    ids=["just-after", "in-a-hook", "at-shutdown"],
)
def test_a_second_ctrl_c_exits_130_with_one_line(
    workdir: Path, flow: str, wait_for: str | None, delay: float
) -> None:
    output = run_interrupted_twice(workdir, flow, wait_for, delay)
    assert "Traceback" not in output and "Exception ignored" not in output
    assert output.count(LINE) == 1
    assert output.rstrip().endswith("`flowhook runs reap` records what was left unrecorded)")
    assert "\x1b[?25h" in output  # the cursor the live display hid is shown again
