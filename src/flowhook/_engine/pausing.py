"""Pausing a flow run in its own process until it is resumed, as Prefect's ``pause_flow_run``.

The run enters Paused and the thread that paused it waits. :func:`resume_here` wakes it, from
any thread of the process (a request from another process reaches it through the store, which
the runtime reads). When the pause times out, :class:`FlowPauseTimeout` is raised in the paused
body and the run fails as in Prefect (see :func:`timed_out_state`).
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime
from typing import Any

import attrs

from flowhook_hookspec import paused_states, states
from flowhook_hookspec.errors import CancelledRun, FlowPauseTimeout, NotPausedError
from flowhook_hookspec.runs import FlowRun
from flowhook_hookspec.states import State, StateType

from . import context
from .cancellation import active_flow_run
from .logs import flow_run_logger
from .transitions import FLOW, now, set_state

__all__ = [
    "pause_flow_run",
    "paused_in_this_process",
    "resume_here",
    "suspend_flow_run",
    "timed_out_state",
]

#: How often a paused thread looks whether its flow run was cancelled meanwhile, in seconds.
_CANCEL_CHECK = 0.1


@attrs.define(eq=False)
class _Pause:
    """One pause of one flow run: woken by a resume; ``outcome`` says which ended it."""

    deadline: datetime | None
    woken: threading.Event = attrs.field(factory=threading.Event)
    lock: threading.Lock = attrs.field(factory=threading.Lock)
    outcome: str | None = None  # "resumed", "timed out" or "cancelled"

    def settle(self, outcome: str) -> str:
        """End the pause with ``outcome`` unless it already ended; the outcome that holds."""
        with self.lock:
            if self.outcome is None:
                self.outcome = outcome
                self.woken.set()
            return self.outcome


_lock = threading.Lock()
_paused: dict[uuid.UUID, _Pause] = {}


def paused_in_this_process() -> list[uuid.UUID]:
    """The ids of the flow runs paused in this process now."""
    with _lock:
        return list(_paused)


@attrs.define(eq=False)
class _Book:
    """The pauses a flow run made: Prefect's counter (the default key) and the keys used."""

    count: int = 0
    keys: set[str] = attrs.field(factory=set)


def _current_flow_run(verb: str) -> context.RunContext:
    found = context.current.get()
    if found is None or found.flow_run is None or found.scope is None:
        raise RuntimeError(f"Flow runs can only be {verb} from within a flow run.")
    return found


def _is_async_body(found: context.RunContext) -> bool:
    owner = found.task if found.task is not None else found.flow
    return bool(getattr(owner, "is_async", False))


def pause_flow_run(
    wait_for_input: Any = None,
    timeout: float | None = 3600,
    poll_interval: float = 10,
    key: str | None = None,
) -> Any:
    """Pause the current flow run until it is resumed: the run enters Paused and this call
    waits; it returns once the run is Running again.

    Call it in a flow run, or in a task run of one (the flow run pauses, the task waits). In an
    ``async def`` body it returns an awaitable, as Prefect's does: ``await pause_flow_run()``.

    - ``timeout``: seconds to wait (None: no limit). Once they pass, :class:`FlowPauseTimeout`
      is raised here and the run ends Failed ("The flow was failed and never resumed.").
    - ``key``: a pause whose key this run used already returns at once without pausing (by
      default each call has a key of its own: the number of pauses so far).
    - ``poll_interval`` is accepted for Prefect's sake: a resume is seen within a second.
    - ``wait_for_input`` (Prefect's run input forms) is not supported: it needs Prefect's API.

    Resume it with ``flowhook.resume_flow_run(id)``, ``flowhook runs resume ID`` or the run page of
    ``flowhook ui``. Cancelling a paused run wakes it: this call raises :class:`CancelledRun`.
    """
    return _pause_dispatch("paused", wait_for_input, timeout, key, reschedule=False)


def suspend_flow_run(
    wait_for_input: Any = None,
    flow_run_id: uuid.UUID | None = None,
    timeout: float | None = None,
    key: str | None = None,
) -> Any:
    """Prefect's suspend, as a pause: the run enters Paused (named Suspended) and waits in this
    process until it is resumed (Prefect would end the process and start the run again).

    The default ``timeout`` is None: no limit. Only the current flow run can be suspended
    (``flow_run_id`` other than its own is refused), and not from inside a task run.
    """
    found = _current_flow_run("suspended")
    if found.task_run is not None:
        raise RuntimeError("Cannot suspend task runs.")
    assert found.flow_run is not None
    if flow_run_id is not None and uuid.UUID(str(flow_run_id)) != found.flow_run.id:
        raise RuntimeError(
            "suspend_flow_run(flow_run_id=...) can only suspend the current flow run in "
            "flowhook: a run of another process keeps running until it pauses itself"
        )
    return _pause_dispatch("suspended", wait_for_input, timeout, key, reschedule=True)


def _pause_dispatch(
    verb: str, wait_for_input: Any, timeout: float | None, key: str | None, *, reschedule: bool
) -> Any:
    found = _current_flow_run(verb)
    if wait_for_input is not None:
        raise NotImplementedError(
            "wait_for_input is not supported: flowhook has no API to send run input through; "
            "pause without it and read what the run needs once it is resumed"
        )
    if _is_async_body(found):
        return _pause_async(found, timeout, key, reschedule)
    _pause(found, timeout, key, reschedule)
    return None


async def _pause_async(
    found: context.RunContext, timeout: float | None, key: str | None, reschedule: bool
) -> None:
    """The pause of an ``async def`` body, waited for in a worker thread; the body's task
    cancelled (its timeout, say) ends the wait, rather than leaving the thread waiting."""
    import asyncio

    try:
        await asyncio.to_thread(_pause, found, timeout, key, reschedule)
    except asyncio.CancelledError:
        assert found.flow_run is not None
        with _lock:
            pause = _paused.get(found.flow_run.id)
        if pause is not None:
            pause.settle("cancelled")
        raise


def _pause(
    found: context.RunContext, timeout: float | None, key: str | None, reschedule: bool
) -> None:
    flow, run, scope = found.flow, found.flow_run, found.scope
    assert flow is not None and run is not None and scope is not None
    with scope.lock:
        if scope.pauses is None:
            scope.pauses = _Book()
        book: _Book = scope.pauses
        book.count += 1
        key = key or str(book.count)
        if key in book.keys:
            return  # Prefect refuses a pause that already fired: the run goes on
        if run.state.is_cancelling() or run.state.is_final():
            raise CancelledRun(f"flow run {run.name!r} is {run.state.name}: it cannot pause")
        book.keys.add(key)
        make = paused_states.Suspended if reschedule else paused_states.Paused
        paused = make(timeout_seconds=timeout, pause_key=key, run_id=run.id)
        pause = _Pause(paused.scheduled_time)
        with _lock:
            _paused[run.id] = pause
        logger = flow_run_logger(run, flow)
        logger.info(
            "Suspending flow run, execution will be rescheduled when this flow run is resumed."
            if reschedule
            else "Pausing flow, execution will continue when this flow run is resumed."
        )
        try:
            set_state(FLOW, flow, run, paused)
        except BaseException:
            _forget(run.id)
            raise
    try:
        outcome = _wait(pause, scope)
    finally:
        _forget(run.id)
    _after_pause(flow, run, scope, outcome)


def _forget(run_id: uuid.UUID) -> None:
    with _lock:
        _paused.pop(run_id, None)


def _wait(pause: _Pause, scope: context.FlowScope) -> str:
    """Wait until the pause is resumed, times out, or its flow run is cancelled."""
    while True:
        left = _CANCEL_CHECK
        if pause.deadline is not None:
            left = min(left, (pause.deadline - now()).total_seconds())
        if left <= 0:
            return pause.settle("timed out")
        if pause.woken.wait(left):
            return pause.outcome or "resumed"
        if scope.cancel_event.is_set():
            return pause.settle("cancelled")


def _after_pause(flow: Any, run: FlowRun, scope: context.FlowScope, outcome: str) -> None:
    logger = flow_run_logger(run, flow)
    if outcome == "timed out":
        raise FlowPauseTimeout("Flow run was paused and never resumed.")
    if outcome == "resumed":
        with scope.lock:
            if run.state.is_paused():
                logger.info("Resuming flow run execution!")
                set_state(FLOW, flow, run, states.Running(run_id=run.id))
                return
    raise CancelledRun(f"flow run {run.name!r} was cancelled while it was paused")


def resume_here(flow_run_id: uuid.UUID) -> bool:
    """Resume the flow run ``flow_run_id`` if it is paused in this process (from any thread);
    False when it is not running here. :class:`NotPausedError` when it runs here unpaused;
    :class:`FlowPauseTimeout` when its pause timed out already."""
    with _lock:
        pause = _paused.get(flow_run_id)
    if pause is None:
        if active_flow_run(flow_run_id) is not None:
            raise NotPausedError("Cannot resume a run that isn't paused!")
        return False
    if pause.settle("resumed") != "resumed":
        raise FlowPauseTimeout("Flow run can no longer be resumed.")
    return True


def timed_out_state(paused: State, proposed: State) -> State | None:
    """Prefect's rule for a flow run that leaves Paused after its pause timed out (the server's
    ``HandleResumingPausedFlows``): it ends Failed, whatever it proposed, named after it.

    None when the rule does not apply: the pause has not timed out, or the run crashes or is
    being cancelled.
    """
    if paused.scheduled_time is None or paused.scheduled_time > now():
        return None
    if proposed.type in (StateType.CRASHED, StateType.CANCELLING, StateType.CANCELLED):
        return None
    # Prefect names the state it was offered; the engine offers Failed (a retry is the
    # server's answer to Failed in Prefect, never the client's proposal).
    offered = "failed" if proposed.type is StateType.SCHEDULED else proposed.name.lower()
    return states.Failed(
        f"The flow was {offered} and never resumed.",
        data=proposed.exception,
        run_id=proposed.run_id,
    )
