"""Pausing and resuming flow runs in their process, as Prefect's ``pause_flow_run`` does.

Prefect's behaviour is cited from its source (PrefectHQ/prefect at ce79dd3d6c):
``src/prefect/flow_runs.py`` (pause_flow_run, suspend_flow_run, resume_flow_run) and the
server's rules ``HandlePausingFlows`` / ``HandleResumingPausedFlows`` in
``src/prefect/server/orchestration/core_policy.py`` (lines 1343-1480).
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

import flowhook
from flowhook import CancelledRun, flow, task
from flowhook.exceptions import FlowPauseTimeout, NotPausedError
from flowhook.flow_runs import pause_flow_run, resume_flow_run, suspend_flow_run
from flowhook.states import (
    LEGAL_TRANSITIONS,
    Late,
    Paused,
    PauseDetails,
    Scheduled,
    State,
    StateType,
    Suspended,
)
from flowhook.testing import HookRecorder


def _paused_run_id(timeout: float = 10.0) -> uuid.UUID:
    """The id of the flow run paused in this process, once there is one."""
    from flowhook._engine.pausing import paused_in_this_process

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        paused = paused_in_this_process()
        if paused:
            return paused[0]
        time.sleep(0.01)
    raise AssertionError("no flow run paused")


def _resume_soon() -> threading.Thread:
    """A thread that resumes the first flow run that pauses, with the public function."""
    thread = threading.Thread(target=lambda: resume_flow_run(_paused_run_id()), daemon=True)
    thread.start()
    return thread


def test_a_paused_flow_waits_until_another_thread_resumes_it(
    recorder: HookRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    after: list[str] = []
    running_hooks: list[str] = []

    @flow(on_running=[lambda f, r, s: running_hooks.append(s.name)])
    def approval() -> str:
        flowhook.pause_flow_run(timeout=30)
        after.append("went on")
        return "done"

    _resume_soon()
    with caplog.at_level(logging.INFO):
        state = approval(return_state=True)
    assert state.result() == "done" and after == ["went on"]
    lines = [r.getMessage() for r in caplog.records if r.name == "flowhook.flow_runs"]
    assert any(
        line.endswith("Pausing flow, execution will continue when this flow run is resumed.")
        for line in lines
    )
    assert any(line.endswith("Resuming flow run execution!") for line in lines)
    assert recorder.state_names() == ["Pending", "Running", "Paused", "Running", "Completed"]
    paused = recorder.called("on_flow_run_state_change")[2].kwargs["new_state"]
    assert paused.is_paused() and not paused.is_final()
    assert isinstance(paused.data, PauseDetails) and paused.data.pause_key == "1"
    assert paused.scheduled_time is not None  # when its pause would time out
    # Every entry into Running fires on_running, the resume's too (see docs/prefect.md).
    assert running_hooks == ["Running", "Running"]


def test_a_pause_that_times_out_fails_the_run_as_prefect_does(recorder: HookRecorder) -> None:
    """flow_runs.py:469 raises ``FlowPauseTimeout("Flow run was paused and never resumed.")``
    in the body; the engine then proposes Failed from Paused, which the server's
    HandleResumingPausedFlows (core_policy.py:1462-1472) replaces by ``Failed("The flow was
    failed and never resumed.")``. RetryFailedFlows only retries from RUNNING
    (core_policy.py:1059), so a flow with retries does not retry."""
    ran_after = []

    @flow(retries=2)
    def gate() -> None:
        pause_flow_run(timeout=0.2)
        ran_after.append(True)

    with pytest.raises(FlowPauseTimeout, match=r"Flow run was paused and never resumed\."):
        gate()
    assert ran_after == []
    assert recorder.state_names() == ["Pending", "Running", "Paused", "Failed"]
    failed = recorder.called("on_flow_run_failure")[0].state
    assert failed.message == "The flow was failed and never resumed."


def test_a_pause_key_fires_once_per_run(recorder: HookRecorder) -> None:
    """HandlePausingFlows rejects a pause whose key the run used (core_policy.py:1379-1383):
    ``pause_flow_run`` then returns at once (flow_runs.py:421-430)."""

    @flow
    def twice() -> int:
        pause_flow_run(timeout=30, key="do-not-repeat")
        pause_flow_run(timeout=30, key="do-not-repeat")
        return 2

    _resume_soon()
    assert twice() == 2
    assert recorder.state_names().count("Paused") == 1


def test_a_task_pauses_its_flow_run(recorder: HookRecorder) -> None:
    @task
    def ask() -> str:
        pause_flow_run(timeout=30)
        return "approved"

    @flow
    def outer() -> str:
        return ask()

    _resume_soon()
    assert outer() == "approved"
    assert recorder.state_names() == ["Pending", "Running", "Paused", "Running", "Completed"]
    assert recorder.state_names("on_task_run_state_change")[-1] == "Completed"


def test_an_async_flow_awaits_its_pause_and_is_resumed_from_a_coroutine(
    recorder: HookRecorder,
) -> None:
    @flow
    async def waits() -> int:
        await pause_flow_run(timeout=30)
        return 3

    async def main() -> int:
        running = asyncio.ensure_future(waits())
        while True:
            from flowhook._engine.pausing import paused_in_this_process

            if paused_in_this_process():
                break
            await asyncio.sleep(0.01)
        await resume_flow_run(paused_in_this_process()[0])
        return await running

    assert asyncio.run(main()) == 3
    assert recorder.state_names().count("Running") == 2


def test_cancelling_a_paused_run_ends_it_cancelled_and_the_body_stops(
    recorder: HookRecorder,
) -> None:
    after = []

    @flow
    def gate() -> None:
        pause_flow_run(timeout=30)
        after.append("deployed")

    canceller = threading.Thread(target=lambda: flowhook.cancel_flow_run(_paused_run_id()))
    canceller.start()
    with pytest.raises(CancelledRun):
        gate()
    canceller.join()
    assert after == []
    assert recorder.state_names() == ["Pending", "Running", "Paused", "Cancelling", "Cancelled"]


def test_the_flow_timeout_ends_a_pause_sync_and_async(recorder: HookRecorder) -> None:
    from flowhook._engine.pausing import paused_in_this_process

    @flow(timeout_seconds=0.3)
    def slow_gate() -> None:
        pause_flow_run(timeout=30)

    @flow(timeout_seconds=0.3)
    async def slow_gate_async() -> None:
        await pause_flow_run(timeout=30)

    started = time.monotonic()
    assert slow_gate(return_state=True).name == "TimedOut"
    assert asyncio.run(slow_gate_async(return_state=True)).name == "TimedOut"
    assert time.monotonic() - started < 10
    deadline = time.monotonic() + 5
    while paused_in_this_process() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert paused_in_this_process() == []  # no thread is left waiting
    assert recorder.state_names() == ["Pending", "Running", "Paused", "TimedOut"] * 2


def test_suspend_is_a_pause_named_suspended(recorder: HookRecorder) -> None:
    @flow
    def later() -> str:
        suspend_flow_run()
        return "resumed"

    _resume_soon()
    assert later() == "resumed"
    assert recorder.state_names()[2] == "Suspended"
    suspended = recorder.called("on_flow_run_state_change")[2].kwargs["new_state"]
    assert suspended.type is StateType.PAUSED and suspended.scheduled_time is None
    assert suspended.data.pause_reschedule is True


def test_where_pausing_is_refused() -> None:
    with pytest.raises(RuntimeError, match="Flow runs can only be paused from within a flow run"):
        pause_flow_run()

    @task
    def inner() -> None:
        suspend_flow_run()

    @flow
    def outer() -> None:
        inner()

    with pytest.raises(RuntimeError, match=r"Cannot suspend task runs\."):
        outer()

    @flow
    def with_input() -> None:
        pause_flow_run(wait_for_input=int)

    with pytest.raises(NotImplementedError, match="wait_for_input is not supported"):
        with_input()


def test_resuming_a_run_that_is_not_paused() -> None:
    seen: list[BaseException] = []

    @flow
    def busy() -> None:
        run_id = flowhook.get_run_context().flow_run.id  # type: ignore[union-attr]
        try:
            resume_flow_run(run_id)
        except NotPausedError as exc:
            seen.append(exc)

    busy()
    assert [str(exc) for exc in seen] == ["Cannot resume a run that isn't paused!"]
    with pytest.raises(ValueError, match=r"no flow run .* is recorded in"):
        resume_flow_run(uuid.uuid4())


def test_without_a_store_a_pause_is_resumed_from_another_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLOWHOOK_STORE", "off")

    @flow
    def offline() -> int:
        pause_flow_run(timeout=30)
        return 4

    _resume_soon()
    assert offline() == 4
    with pytest.raises(ValueError, match="without a store"):
        resume_flow_run(uuid.uuid4())


# -- the state constructors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("made", "type_", "name"),
    [
        (Scheduled(), StateType.SCHEDULED, "Scheduled"),
        (Late(), StateType.SCHEDULED, "Late"),
        (Paused(), StateType.PAUSED, "Paused"),
        (Suspended(), StateType.PAUSED, "Suspended"),
        (Paused(reschedule=True), StateType.PAUSED, "Suspended"),
    ],
)
def test_prefect_constructors_give_type_and_name(made: State, type_: StateType, name: str) -> None:
    assert (made.type, made.name) == (type_, name)


def test_prefect_constructors_take_prefects_positional_and_keyword_forms() -> None:
    """Prefect's constructors take the class first: ``Paused(cls=State, timeout_seconds=None,
    pause_expiration_time=None, reschedule=False, pause_key=None, **kwargs)``
    (states.py:742-954)."""
    due = Scheduled().timestamp
    assert Scheduled(State, due).scheduled_time == due
    assert Late(cls=State, scheduled_time=due).scheduled_time == due
    paused = Paused(State, 60, None, False, "k", message="wait")
    assert paused.message == "wait" and paused.data.pause_key == "k"
    assert paused.scheduled_time is not None
    assert 59 < (paused.scheduled_time - paused.timestamp).total_seconds() <= 60
    assert Paused(pause_expiration_time=due).scheduled_time == due
    assert Paused("flowhook's form: the message first").message.startswith("flowhook's")
    with pytest.raises(ValueError, match="Cannot supply both a pause_expiration_time"):
        Paused(timeout_seconds=1, pause_expiration_time=due)
    with pytest.raises(TypeError, match="must be flowhook's State"):
        Paused(dict)


def test_the_transition_table_lets_a_running_flow_pause_and_leave_the_pause() -> None:
    assert StateType.PAUSED in LEGAL_TRANSITIONS[StateType.RUNNING]
    assert LEGAL_TRANSITIONS[StateType.PAUSED] == {
        StateType.RUNNING,
        StateType.FAILED,
        StateType.CRASHED,
        StateType.CANCELLING,
    }


def test_pausing_modules_load_only_when_used(flowhook_home: Path) -> None:
    script = (
        "import sys\n"
        "from flowhook import flow\n"
        "flow(lambda: 1)()\n"
        "print(sorted(m for m in sys.modules if m.endswith(('pausing', 'flow_runs', 'resuming'))))\n"
        "import flowhook\n"
        "flowhook.pause_flow_run\n"
        "print(sorted(m for m in sys.modules if m.endswith(('pausing', 'flow_runs', 'resuming'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.splitlines() == ["[]", "['flowhook._engine.pausing', 'flowhook.flow_runs']"]
