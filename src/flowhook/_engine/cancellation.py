"""Cancelling flow runs of this process: from any thread, a hook, or SIGTERM."""

from __future__ import annotations

import signal
import threading
import uuid
from typing import TYPE_CHECKING, Any

from flowhook_hookspec import states
from flowhook_hookspec.runs import FlowRun

from .context import FlowScope
from .transitions import FLOW, set_state

if TYPE_CHECKING:
    from .flows import Flow

__all__ = [
    "SigtermCanceller",
    "active_flow_run",
    "cancel_flow_run",
    "track",
    "untrack",
]

_active_lock = threading.Lock()
_active: dict[uuid.UUID, tuple[Flow[..., Any], FlowRun, FlowScope]] = {}


def track(flow: Flow[..., Any], run: FlowRun, scope: FlowScope) -> None:
    """A flow run started in this process: it can be cancelled until :func:`untrack`."""
    with _active_lock:
        _active[run.id] = (flow, run, scope)


def untrack(run_id: uuid.UUID) -> None:
    with _active_lock:
        _active.pop(run_id, None)


def active_flow_run(run_id: uuid.UUID) -> FlowRun | None:
    """The flow run of this process with this id while it runs, else None."""
    with _active_lock:
        entry = _active.get(run_id)
    return entry[1] if entry is not None else None


def cancel_flow_run(flow_run_id: uuid.UUID | str, message: str | None = None) -> None:
    """Cancel a flow run of this process, from any thread (a hook included).

    The run enters Cancelling now (its on_cancellation hooks fire), task runs that have not
    started never start, running ones finish, and the run ends Cancelled; the flow call raises
    :class:`~flowhook.CancelledRun`. Cancelling a run that is already final or cancelling does
    nothing. ``ValueError`` if no such flow run is running in this process.
    """
    run_id = flow_run_id if isinstance(flow_run_id, uuid.UUID) else uuid.UUID(str(flow_run_id))
    with _active_lock:
        found = _active.get(run_id)
    if found is None:
        raise ValueError(f"no flow run {run_id} is running in this process")
    _cancel(*found, message or "Cancellation requested")


def _cancel(flow: Flow[..., Any], run: FlowRun, scope: FlowScope, message: str) -> None:
    """Cancel one flow run, its running subflows first (their on_cancellation fire before its
    own, as in Prefect); no new task run or subflow starts once its event is set."""
    with scope.lock:
        if run.state.is_final() or run.state.is_cancelling():
            return
        scope.cancel_event.set()
    with _active_lock:
        children = [found for found in _active.values() if found[1].parent_flow_run_id == run.id]
    for child in children:
        _cancel(*child, message)
    with scope.lock:
        if run.state.is_final() or run.state.is_cancelling():
            return
        set_state(FLOW, flow, run, states.Cancelling(message, run_id=run.id))
    scope.task_runner.cancel_all()


class SigtermCanceller:
    """While a top-level flow runs in the main thread, SIGTERM cancels it; the process then
    exits with status 143 (128 + SIGTERM), as a terminated process conventionally does."""

    def __init__(self, run_id: uuid.UUID) -> None:
        self.run_id = run_id
        self.received = False
        self.previous: Any = None

    @classmethod
    def install(cls, run_id: uuid.UUID) -> SigtermCanceller | None:
        if threading.current_thread() is not threading.main_thread():
            return None
        canceller = cls(run_id)
        canceller.previous = signal.signal(signal.SIGTERM, canceller._handle)
        return canceller

    def _handle(self, signum: int, frame: Any) -> None:
        self.received = True
        # Not from the handler itself: it may interrupt a transition holding the run's lock.
        threading.Thread(
            target=cancel_flow_run, args=(self.run_id, "Terminated by SIGTERM"), daemon=True
        ).start()

    def restore(self) -> None:
        signal.signal(signal.SIGTERM, self.previous)
