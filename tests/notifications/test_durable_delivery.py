"""A process killed after the failure was recorded but before delivery: watch delivers it."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from .conftest import KILLED_AFTER_FAILURE, environment


@pytest.mark.slow
def test_watch_delivers_what_a_killed_process_left_exactly_once(
    tmp_path: Path, flowhook_slack_webhook_server
) -> None:
    env = environment(
        tmp_path, flowhook_slack_webhook_server.url, FLOWHOOK_DELIVERY_BACKOFF_SECONDS="0.05"
    )
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(KILLED_AFTER_FAILURE))
    # The killed process's delivery thread, racing its death, could send it and die before
    # marking it sent (then watch sends it again: at least once): it cannot reach the server.
    flowhook_slack_webhook_server.stop()
    job = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True)
    flowhook_slack_webhook_server.start()
    assert job.returncode == -signal.SIGKILL, job.stderr
    flowhook = str(Path(sys.executable).parent / "flowhook")
    pending = subprocess.run(
        [flowhook, "outbox", "ls", "--status", "pending"], env=env, capture_output=True, text=True
    )
    delivered_before_death = len(flowhook_slack_webhook_server.requests)
    assert delivered_before_death == 1 or "pending" in pending.stdout
    watch = subprocess.Popen(
        [flowhook, "watch", "--interval", "0.2"], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 20
        while not flowhook_slack_webhook_server.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # a second look must not send it again
    finally:
        watch.send_signal(signal.SIGINT)
        out, _ = watch.communicate(timeout=20)
    assert watch.returncode == 0
    assert len(flowhook_slack_webhook_server.requests) == 1
    assert "doomed is Failed" in flowhook_slack_webhook_server.requests[0].json()["text"]
    sent = subprocess.run(
        [flowhook, "outbox", "ls", "--status", "sent", "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert '"status": "sent"' in sent.stdout
    if delivered_before_death == 0:
        assert "Delivered 1 notification." in out


@pytest.mark.slow
def test_a_process_exiting_right_after_a_failure_drains_its_notifications(
    tmp_path: Path, flowhook_slack_webhook_server
) -> None:
    script = tmp_path / "job.py"
    script.write_text(
        "from flowhook import flow\n"
        "flow(name='etl-x', flow_run_name='quick')(lambda: 1 / 0)(return_state=True)\n"
    )
    env = environment(tmp_path, flowhook_slack_webhook_server.url)
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert len(flowhook_slack_webhook_server.requests) == 1  # sent before the process ended
    assert "quick is Failed" in flowhook_slack_webhook_server.requests[0].json()["text"]
