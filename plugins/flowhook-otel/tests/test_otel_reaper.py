"""A run whose process was killed: `flowhook runs reap` ends it Crashed, and flowhook-otel in the
reaper's process exports a stand-in span for it (the killed process's open span died with it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from otlp_receiver import OTLPReceiver, attributes

PROGRAM = textwrap.dedent(
    """
    import pathlib, sys, time
    import flowhook

    @flowhook.task
    def quick() -> int:
        return 1

    @flowhook.flow
    def stuck(marker: str) -> None:
        quick()
        pathlib.Path(marker).write_text("started")
        time.sleep(120)

    stuck(sys.argv[1])
    """
)


def _task_spans(receiver: OTLPReceiver) -> list[Any]:
    return [span for _, span in receiver.spans() if span.name == "task quick"]


def test_the_reaper_exports_a_crashed_stand_in_span(tmp_path: Path) -> None:
    script, marker = tmp_path / "program.py", tmp_path / "started"
    script.write_text(PROGRAM)
    with OTLPReceiver() as receiver:
        env = {
            **{key: value for key, value in os.environ.items() if not key.startswith("OTEL_")},
            "FLOWHOOK_HOME": str(tmp_path / "home"),
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "10",
        }
        process = subprocess.Popen([sys.executable, str(script), str(marker)], env=env)
        try:
            # Killed once its task's span is exported (in the background, 10 ms after it ends).
            deadline = time.monotonic() + 60
            while not (marker.exists() and _task_spans(receiver)):
                assert process.poll() is None, "the program exited before it was killed"
                assert time.monotonic() < deadline, "waited 60 s for the task's span"
                time.sleep(0.05)
        finally:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
        flowhook = str(Path(sys.executable).with_name("flowhook"))
        reaped = subprocess.run(
            [flowhook, "runs", "reap"], env=env, capture_output=True, text=True, timeout=60
        )
        assert reaped.returncode == 0, reaped.stderr
        spans = [span for _, span in receiver.spans()]

    [task_span] = _task_spans(receiver)
    [stand_in] = [span for span in spans if span.name == "flow stuck"]
    found = attributes(stand_in)
    assert found["flowhook.state"] == "Crashed"
    assert found["flowhook.run.reaped"] is True
    assert stand_in.status.code == 2  # ERROR
    assert [event.name for event in stand_in.events] == ["Crashed"]
    assert stand_in.start_time_unix_nano < task_span.start_time_unix_nano
    # The run's recorded trace stays the one its own process started (where its task is).
    shown = subprocess.run(
        [flowhook, "runs", "show", found["flowhook.run.id"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "Trace" in shown and task_span.trace_id.hex() in shown
