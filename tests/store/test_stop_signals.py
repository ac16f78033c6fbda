"""The commands that loop until Ctrl-C (``watch``, ``runs logs --follow``) stop on it wherever
the signal finds their main thread: a handler that set a ``threading.Event`` hung for good when
the signal came while that thread was inside the event's ``wait``, holding its lock."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from store_helpers import (
    dead_pid,
    environment,
    fake_flow_run,
    fake_process,
    write_module,
)

from flowhook.store import RunLog, Store

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]

#: Runs ``flowhook <argv>`` in this process, with a SIGINT raised inside the first
#: ``threading.Event.wait`` that the command's loop itself calls, on a line run while the
#: event's lock is held: where a real Ctrl-C can land. The command's waits that are not an
#: event's are left alone.
UNDER_A_SIGNAL = """
    import signal, sys, threading
    from flowhook.cli import main

    LOOPS = {"watch", "_follow"}
    raised = []

    def in_wait(frame, event, arg):
        held = frame.f_locals["self"]._cond._lock.locked()
        if event == "line" and held and not raised:
            raised.append(frame.f_lineno)
            print("signal raised in Event.wait", file=sys.stderr, flush=True)
            signal.raise_signal(signal.SIGINT)
        return in_wait

    def calls(frame, event, arg):
        caller = frame.f_back
        if frame.f_code is threading.Event.wait.__code__ and caller.f_code.co_name in LOOPS:
            return in_wait
        return None

    sys.settrace(calls)
    sys.argv = ["flowhook", *sys.argv[1:]]
    sys.exit(main())
"""


def _stop(
    modules: Path, arguments: list[str], started: str
) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run the command under :data:`UNDER_A_SIGNAL` until its output holds ``started``, then
    press Ctrl-C as a user would (if the raised signal has not stopped it already); return
    the finished process and its output."""
    script = write_module(modules, "under_a_signal", UNDER_A_SIGNAL)
    command = subprocess.Popen(
        [sys.executable, str(script), *arguments],
        env=environment(modules),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert command.stdout is not None
        first = command.stdout.readline()
        assert started in first, first
        time.sleep(1)  # the loop goes round a few times: the raised signal lands in one
        if command.poll() is None:
            command.send_signal(signal.SIGINT)
        out, err = command.communicate(timeout=30)  # a hang fails here
    finally:
        if command.poll() is None:
            command.kill()
            command.communicate()
    return subprocess.CompletedProcess(command.args, command.returncode, out, err), first + out


def test_watch_stops_on_ctrl_c_wherever_it_lands(store: Store, modules: Path) -> None:
    done, out = _stop(modules, ["watch", "--interval", "0.05"], "Watching ")
    assert done.returncode == 0, done.stderr
    assert out.rstrip().endswith("Stopped.")
    assert "Traceback" not in done.stderr


def test_runs_logs_follow_stops_on_ctrl_c_wherever_it_lands(store: Store, modules: Path) -> None:
    # A run left Running: --follow would print its records until it ends, which it never does.
    flow_run_id, _ = fake_flow_run(store, fake_process(store, pid=dead_pid()))
    now = time.time()
    store.write([RunLog(flow_run_id, None, logging.INFO, now, "still going", "flowhook.flow_runs")])
    done, _ = _stop(modules, ["runs", "logs", flow_run_id, "--follow"], "still going")
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr
