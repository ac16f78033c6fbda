"""The attempts of a task run whose body runs on a remote task runner (another process or
host): the state machine of :mod:`.attempts`, stepped as the runner's work item."""

from __future__ import annotations

import inspect
from typing import Any

import attrs

from flowhook_hookspec import states
from flowhook_hookspec.errors import CrashedRun
from flowhook_hookspec.runners import BodyHandle, BodyOutcome, RemoteWork, TaskBody
from flowhook_hookspec.states import State

from .attempts import BODY, Attempts, Start, Wait, step_attempts
from .outcomes import failure_state, result_to_state, timed_out_state
from .parameters import split_bound
from .runnables import Runnable
from .transitions import Run, RunKind

__all__ = ["drive_remote"]


def drive_remote(
    kind: RunKind,
    owner: Runnable[..., Any],
    run: Run,
    bound: inspect.BoundArguments,
    attempts: Attempts,
) -> RemoteWork:
    """Run the state machine as a remote runner's stepped work item: it pauses, never blocks,
    on a body until the body started (or ended), then until it ended, and before a retry."""
    done, value = step_attempts(attempts, None, None)
    handle: BodyHandle | None = None
    while not done:
        response: State | None = None
        error: BaseException | None = None
        if isinstance(value, Start):
            try:
                handle = value.runner.start_body(_task_body(owner, run, bound))
            except Exception as exc:  # the body could not be sent: the attempt fails
                error = exc
            else:
                while handle.started() is None and handle.outcome() is None:
                    yield handle
                response = _started_state(kind, owner, run, value.entering, handle)
        elif value is BODY:
            assert handle is not None, "a remote attempt starts its body first"
            while (outcome := handle.outcome()) is None:
                yield handle
            response, handle = _remote_state(kind, owner, run, outcome), None
        else:
            assert isinstance(value, Wait), "only a flow run drains, and flows run here"
            if value.scope is None or not value.scope.cancel_event.is_set():
                yield value.seconds
        done, value = step_attempts(attempts, response, error)
    return value  # type: ignore[no-any-return]


def _task_body(owner: Runnable[..., Any], run: Run, bound: inspect.BoundArguments) -> TaskBody:
    args, kwargs = split_bound(bound, owner.positional_names)
    return TaskBody(
        key=f"{owner.name}-{run.id}-{run.run_count}",
        fn=owner.fn,
        args=args,
        kwargs=kwargs,
        timeout_seconds=owner.timeout_seconds,
    )


def _started_state(
    kind: RunKind, owner: Runnable[..., Any], run: Run, entering: State, handle: BodyHandle
) -> State:
    """``entering`` as of the body's start where it runs; the final state if it never started."""
    started = handle.started()
    if started is None:
        outcome = handle.outcome()
        assert outcome is not None
        if outcome.started is None:
            return _remote_state(kind, owner, run, outcome)
        started = outcome.started, outcome.location  # the result came before the start
    timestamp, location = started
    message = f"on {location}" if location else entering.message
    return attrs.evolve(entering, timestamp=max(timestamp, entering.timestamp), message=message)


def _remote_state(
    kind: RunKind, owner: Runnable[..., Any], run: Run, outcome: BodyOutcome
) -> State:
    """The state a body that ran elsewhere leads to."""
    if outcome.status == "returned":
        return result_to_state(kind, run, outcome.value)
    if outcome.status == "raised":
        return failure_state(kind, run, outcome.value)
    if outcome.status == "timed_out":
        return timed_out_state(kind, owner, run)
    if outcome.status == "cancelled":
        return states.Cancelled(outcome.message, run_id=run.id)
    return states.Crashed(outcome.message, data=CrashedRun(outcome.message), run_id=run.id)
