"""Submit and map, timeouts, cancellation, and signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from flowhook import (
    CancelledRun,
    ThreadPoolTaskRunner,
    cancel_flow_run,
    flow,
    get_run_context,
    task,
    unmapped,
)

ROOT = Path(__file__).resolve().parents[1]


@task
def add(x: int, y: int) -> int:
    return x + y


@task
def boom() -> None:
    raise ValueError("upstream broke")


def test_submitted_tasks_run_in_parallel() -> None:
    @task
    def sleepy(i: int) -> int:
        time.sleep(0.5)
        return i

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=8))
    def fan_out() -> list[int]:
        return [f.result() for f in [sleepy.submit(i) for i in range(8)]]

    started = time.monotonic()
    assert fan_out() == list(range(8))
    assert time.monotonic() - started < 2.5  # sequentially it would take 4 s


def test_future_api_and_map_with_unmapped() -> None:
    @flow
    def f() -> tuple:
        future = add.submit(1, 2)
        future.wait()
        mapped = add.map([1, 2, 3], unmapped(10))
        return (
            future.result(),
            future.state.name,
            type(future.task_run_id).__name__,
            [m.result() for m in mapped],
        )

    assert f() == (3, "Completed", "UUID", [11, 12, 13])


def test_map_argument_errors_are_clear() -> None:
    @flow
    def f(case: str) -> None:
        if case == "scalar":
            add.map([1, 2], 3)
        else:
            add.map([1, 2], [1, 2, 3])

    with pytest.raises(TypeError, match="unmapped"):
        f("scalar")
    with pytest.raises(ValueError, match="one length"):
        f("lengths")


def test_futures_as_arguments_are_resolved() -> None:
    @flow
    def f() -> int:
        a = add.submit(1, 2)
        b = add.submit(a, [a][0])
        return add(b, 1)

    assert f() == 7


def test_upstream_failure_skips_the_task_and_fires_its_failure_hooks(recorder) -> None:
    failures = []
    guarded = add.with_options(on_failure=[lambda t, r, s: failures.append(s)])

    @flow
    def f() -> tuple:
        bad = boom.submit()
        by_argument = guarded.submit(bad, 1)
        by_wait_for = guarded.submit(1, 2, wait_for=[bad])
        by_wait_for.wait()
        return by_argument.result(raise_on_failure=False), by_wait_for.state

    _, state = f()
    assert state.type.value == "FAILED" and state.name == "UpstreamFailed"
    assert "boom-" in state.message and "ended Failed" in state.message
    assert [s.name for s in failures] == ["UpstreamFailed", "UpstreamFailed"]
    # the skipped tasks never ran
    running = [c.kwargs["task_run"].task_name for c in recorder.called("on_task_run_running")]
    assert running == ["boom"]


def test_flow_waits_for_submitted_tasks_and_completes_despite_an_unread_failure(recorder) -> None:
    done = []

    @task
    def slow() -> None:
        time.sleep(0.2)
        done.append(1)

    @flow
    def f() -> str:
        slow.submit()
        boom.submit()
        return "finished"

    assert f() == "finished"
    assert done == [1]
    assert len(recorder.called("on_task_run_failure")) == 1
    flow_states = recorder.state_names()
    assert flow_states[-1] == "Completed"
    # every task run was final before the flow run completed
    last_flow_event = max(
        i for i, c in enumerate(recorder.calls) if c.name == "on_flow_run_state_change"
    )
    task_finals = [
        i
        for i, c in enumerate(recorder.calls)
        if c.name.startswith("on_task_run_") and c.state.is_final()
    ]
    assert task_finals and max(task_finals) < last_flow_event


def test_submit_outside_a_flow_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="inside a flow run"):
        add.submit(1, 2)


# -- timeouts ----------------------------------------------------------------------------------


def test_task_timeout_stops_the_body_and_fires_on_failure_after_retries(recorder) -> None:
    progress = []

    @task(timeout_seconds=0.2, retries=1)
    def spin() -> None:
        while True:
            progress.append(1)
            time.sleep(0.01)

    state = spin(return_state=True)
    assert state.name == "TimedOut" and state.type.value == "FAILED"
    error = state.result(raise_on_failure=False)
    assert isinstance(error, TimeoutError)
    assert "spin-" in str(error) and "0.2 s" in str(error)
    assert len(recorder.called("on_task_run_retry")) == 1
    assert [c.state.name for c in recorder.called("on_task_run_failure")] == ["TimedOut"]
    seen = len(progress)
    time.sleep(0.1)
    assert len(progress) == seen  # the body really stopped


def test_flow_timeout_raises_builtin_timeout_error() -> None:
    @flow(timeout_seconds=0.2)
    def hang() -> None:
        while True:
            pass

    with pytest.raises(TimeoutError, match=r"exceeded its timeout of 0\.2 s"):
        hang()


def test_a_fast_body_is_not_timed_out() -> None:
    assert task(timeout_seconds=5)(lambda: 1)() == 1
    time.sleep(0.05)


# -- cancellation -----------------------------------------------------------------------------


def test_cancel_from_another_thread(recorder) -> None:
    started = []
    run_ids = []

    @task
    def step(i: int) -> None:
        started.append(i)
        # Another thread cancels the flow run while this task runs (a timer might fire before
        # the task starts, or after it ends, on a loaded machine).
        operator = threading.Thread(target=cancel_flow_run, args=(run_ids[0], "operator said stop"))
        operator.start()
        operator.join(30)

    @flow
    def f() -> None:
        run_ids.append(get_run_context().flow_run.id)
        step(1)
        step(2)

    with pytest.raises(CancelledRun):
        f()
    assert started == [1]  # the second task never started
    assert recorder.state_names() == ["Pending", "Running", "Cancelling", "Cancelled"]
    assert len(recorder.called("on_flow_run_cancellation")) == 1
    assert recorder.called("on_flow_run_cancellation")[0].state.message == "operator said stop"
    task_states = recorder.state_names("on_task_run_state_change")
    assert task_states[-3:] == ["Pending", "Cancelling", "Cancelled"]


def test_cancel_from_a_hook_and_return_state() -> None:
    @task
    def first() -> None: ...

    @task
    def second() -> None:
        raise AssertionError("must not run")

    @first.on_completion
    def stop(task, task_run, state) -> None:
        cancel_flow_run(get_run_context().flow_run.id)

    @flow
    def f() -> None:
        first()
        second()

    state = f(return_state=True)
    assert state.is_cancelled()


def test_cancelling_an_unknown_run_is_an_error() -> None:
    import uuid

    with pytest.raises(ValueError, match="no flow run"):
        cancel_flow_run(uuid.uuid4())


# -- signals, for real ------------------------------------------------------------------------

SCRIPT = """
import sys, time
from flowhook import flow, task

log = open(sys.argv[1], "a", buffering=1)

def record(label):
    return lambda owner, run, state: log.write(f"{label} {state.name}\\n")

@task(on_running=[record("task")], on_crashed=[record("task")], on_completion=[record("task")])
def step(i):
    log.write(f"step {i}\\n")
    time.sleep(1.5)

@flow(on_cancellation=[record("flow")], on_crashed=[record("flow")])
def long_flow():
    for i in range(20):
        step(i)

print("ready", flush=True)
long_flow()
"""


def run_and_signal(tmp_path: Path, signum: int) -> tuple[int, list[str]]:
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(SCRIPT))
    log = tmp_path / "log.txt"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(log)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "FLOWHOOK_HOME": str(tmp_path / "home")},
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    # Signal while the first task runs: once it has started (a loaded machine may take longer
    # than the task's 0.6 s to get there), and well before it ends.
    deadline = time.monotonic() + 30
    while "step 0" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "the first task never started"
        time.sleep(0.01)
    time.sleep(0.1)
    proc.send_signal(signum)
    code = proc.wait(timeout=20)
    return code, log.read_text().splitlines()


@pytest.mark.slow
def test_sigterm_cancels_the_flow_and_exits_143(tmp_path) -> None:
    code, lines = run_and_signal(tmp_path, signal.SIGTERM)
    assert code == 143
    assert lines.count("flow Cancelling") == 1
    assert "step 0" in lines and "step 1" not in lines  # no new task started
    assert "task Completed" in lines  # the running task finished


@pytest.mark.slow
def test_sigint_crashes_task_and_flow(tmp_path) -> None:
    code, lines = run_and_signal(tmp_path, signal.SIGINT)
    assert code != 0
    assert lines[:2] == ["step 0", "task Running"] or lines[:2] == ["task Running", "step 0"]
    assert lines.count("task Running") == 1  # on_running exactly once per attempt
    assert lines[-2:] == ["task Crashed", "flow Crashed"]


def test_the_futures_of_map_give_all_their_results_at_once() -> None:
    @task
    def explode(x: int) -> int:
        if x == 2:
            raise ValueError("two")
        return x

    @flow
    def f() -> tuple:
        mapped = add.map([1, 2, 3], unmapped(10))
        failing = explode.map([1, 2, 3])
        failing.wait()
        with pytest.raises(ValueError, match="two"):
            failing.result()
        partial = failing.result(raise_on_failure=False)
        return mapped.result(), isinstance(mapped, list), partial[0], type(partial[1]).__name__

    assert f() == ([11, 12, 13], True, 1, "ValueError")
