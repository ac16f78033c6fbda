"""The life of a run, attempt by attempt: one state machine, and its sync and async drivers.

:func:`run_attempts` decides every transition of a run, from Pending to a final state, and yields
what takes time (the body, a wait before a retry, waiting for submitted task runs) to a driver:
:func:`drive` in this thread, :func:`drive_async` on the event loop. One state machine serves
both, so sync and async runs cannot drift apart.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, NamedTuple

from flowhook_hookspec import states
from flowhook_hookspec.runners import RemoteTaskRunner
from flowhook_hookspec.runs import FlowRun
from flowhook_hookspec.states import FINAL_TYPES, State

from .._plugins.manager import blocking_hooks
from . import context
from .bodies import call_body, call_body_async
from .outcomes import retry_state
from .parameters import ParameterTypeError, convert_arguments
from .transitions import (
    CANCELLED,
    FAILED,
    FLOW,
    HOOKS_BY_TYPE,
    NO_GUARD,
    TASK,
    Run,
    RunKind,
    advance,
    crash_message,
    now,
    set_state,
)

if TYPE_CHECKING:
    import inspect

    from .runnables import Runnable
    from .transactions import Transaction

__all__ = [
    "BODY",
    "Attempts",
    "Start",
    "Wait",
    "attempt_task",
    "drive",
    "drive_async",
    "run_attempts",
    "step_attempts",
]


def _cancelled_before(run: Run) -> State:
    """The state of an attempt whose flow run (the task's, or a flow run itself, or a subflow's
    parent) was cancelled before it started."""
    whose = "parent flow run" if isinstance(run, FlowRun) else "flow run"
    return states.Cancelled(f"its {whose} was cancelled before it started", run_id=run.id)


class _Body:
    """Request to the driver: run the body once and send back the State it leads to."""


BODY = _Body()


class Start(NamedTuple):
    """Request to the driver: start the body on ``runner`` and send back the state to enter
    once it started there (``entering`` with the start time), or the final state it led to."""

    entering: State
    runner: RemoteTaskRunner


class Wait(NamedTuple):
    """Request to the driver: wait before the next attempt (cut short by cancellation)."""

    seconds: float
    scope: context.FlowScope | None


class _Drain(NamedTuple):
    """Request to the driver: wait for the task runs the flow run submitted."""

    scope: context.FlowScope


_Request = _Body | Start | Wait | _Drain
Attempts = Generator[_Request, "State | None", State]


def run_attempts(
    kind: RunKind,
    owner: Runnable[..., Any],
    run: Run,
    bound: inspect.BoundArguments,
    scope: context.FlowScope | None,
    guard: AbstractContextManager[Any],
    txn: Transaction | None = None,
    remote: RemoteTaskRunner | None = None,
    outcome: State | None = None,
) -> Attempts:
    """The life of a run, from Pending to a final state, as a generator.

    ``txn`` is a task run's own transaction, when it has one: if its key is committed already
    (a cached result), the first attempt enters ``Cached`` instead of running the body; a failed
    attempt rolls the enclosing transaction back. It decides every transition and yields what
    takes time (the body, waits) to a driver (:func:`drive`, :func:`drive_async`). With a
    ``remote`` runner, the body runs there and Running is entered once it reports the start.
    ``outcome`` is the state the first attempt's body led to, when :func:`attempt_task` ran it.
    """
    try:
        if outcome is None:
            ended = _begin(kind, owner, run, bound, guard)
            if ended is not None:
                return ended
        while True:
            if outcome is None:
                entering = _next_attempt(run, scope)
                if remote is not None and entering.type is not CANCELLED:
                    started = yield Start(entering, remote)
                    assert started is not None
                    entering = started
                entered = _enter(kind, owner, run, entering, guard, txn)
                if entered.type in FINAL_TYPES:  # entered.is_final(), without its frame
                    return entered
                state = yield BODY
                assert state is not None
                if kind is FLOW and scope is not None and scope.futures:
                    yield _Drain(scope)
            else:
                state, outcome = outcome, None
            if state.type is FAILED:
                retry = _after_failure(owner, run, state, txn)
                if retry is not None:
                    entered = advance(kind, owner, run, retry, guard)
                    if entered.is_final():
                        return entered
                    assert retry.scheduled_time is not None
                    yield Wait(max(0.0, (retry.scheduled_time - now()).total_seconds()), scope)
                    continue
            return advance(kind, owner, run, state, guard)
    except BaseException as exc:
        _crash(kind, owner, run, exc, guard)
        raise


def attempt_task(
    task: Runnable[..., Any],
    run: Run,
    bound: inspect.BoundArguments,
    scope: context.FlowScope | None,
    txn: Transaction | None,
) -> State:
    """A task run in this thread: :func:`run_attempts` driven by :func:`drive`, the same
    transitions, with its first attempt made here without the generator (the hot path of every
    task run); a failed attempt goes on in the generator, which decides on a retry."""
    try:
        ended = _begin(TASK, task, run, bound, NO_GUARD)
        if ended is not None:
            return ended
        entered = _enter(TASK, task, run, _next_attempt(run, scope), NO_GUARD, txn)
        if entered.type in FINAL_TYPES:
            return entered
        state = call_body(TASK, task, run, bound)
        if state.type is not FAILED:
            return advance(TASK, task, run, state, NO_GUARD)
    except BaseException as exc:
        _crash(TASK, task, run, exc, NO_GUARD)
        raise
    attempts = run_attempts(TASK, task, run, bound, scope, NO_GUARD, txn, outcome=state)
    return drive(TASK, task, run, bound, attempts)


def _begin(
    kind: RunKind,
    owner: Runnable[..., Any],
    run: Run,
    bound: inspect.BoundArguments,
    guard: AbstractContextManager[Any],
) -> State | None:
    """Enter the run's first state (Pending) if it is new; its final state if its parameters
    are invalid."""
    if not run.state_history:
        set_state(kind, owner, run, run.state)
    invalid = _invalid_parameters(kind, owner, run, bound)
    return None if invalid is None else advance(kind, owner, run, invalid, guard)


def _next_attempt(run: Run, scope: context.FlowScope | None) -> State:
    """The state the next attempt enters: Running (Retrying after the first), or Cancelled if
    its flow run was cancelled in the meantime."""
    if scope is not None and scope.cancel_event.is_set():
        return _cancelled_before(run)
    run.run_count += 1
    attempt = states.Running if run.run_count == 1 else states.Retrying
    return attempt(run_id=run.id)


def _enter(
    kind: RunKind,
    owner: Runnable[..., Any],
    run: Run,
    entering: State,
    guard: AbstractContextManager[Any],
    txn: Transaction | None,
) -> State:
    """Enter an attempt's state; ``Cached`` instead of the body when the first attempt finds
    its transaction's key committed already."""
    entered = advance(kind, owner, run, entering, guard)
    if (
        entered.type not in FINAL_TYPES
        and txn is not None
        and run.run_count == 1
        and txn.is_committed()
    ):
        return advance(kind, owner, run, _cached(txn, run), guard)
    return entered


def _after_failure(
    owner: Runnable[..., Any], run: Run, failed: State, txn: Transaction | None
) -> State | None:
    """A failed attempt rolls the enclosing transaction back (Prefect's per-attempt transaction
    does); the AwaitingRetry state to enter, if a retry is left."""
    if txn is not None:
        txn.roll_back_attempt()
    return retry_state(owner, run, failed)


def _crash(
    kind: RunKind,
    owner: Runnable[..., Any],
    run: Run,
    exc: BaseException,
    guard: AbstractContextManager[Any],
) -> None:
    """A BaseException ends a run that started and is not final yet Crashed."""
    with guard:
        if run.state_history and not run.state.is_final():
            crashed = states.Crashed(crash_message(exc), data=exc, run_id=run.id)
            set_state(kind, owner, run, crashed)


def _invalid_parameters(
    kind: RunKind, owner: Runnable[..., Any], run: Run, bound: inspect.BoundArguments
) -> State | None:
    """Failed when the arguments do not match the annotations (they are coerced otherwise)."""
    if not owner.validate_parameters:
        return None
    pairs = owner.coercions
    if not pairs:
        return None
    try:
        convert_arguments(bound.arguments, pairs)
    except ParameterTypeError as exc:
        return states.Failed(
            f"{kind.label} run parameters are invalid: {exc}", data=exc, run_id=run.id
        )
    return None


def _cached(txn: Transaction, run: Run) -> State:
    """The Cached state of a run whose transaction's key is committed already."""
    return states.Completed(
        f"Result of cache key {txn.key!r}", name="Cached", data=txn.read(), run_id=run.id
    )


def step_attempts(
    attempts: Attempts, response: State | None, error: BaseException | None
) -> tuple[bool, Any]:
    """Advance the generator: (True, final state) when it returned, else (False, request)."""
    try:
        if error is not None:
            return False, attempts.throw(error)
        return False, attempts.send(response)
    except StopIteration as stop:
        return True, stop.value


def drive(
    kind: RunKind,
    owner: Runnable[..., Any],
    run: Run,
    bound: inspect.BoundArguments,
    attempts: Attempts,
) -> State:
    """Run the state machine in this thread.

    The generator is stepped here rather than through :func:`step_attempts`: the same steps,
    without a frame that only forwards, twice per task run.
    """
    send, throw = attempts.send, attempts.throw
    try:
        value: Any = send(None)
        while True:
            error: BaseException | None = None
            response: State | None = None
            try:
                if value is BODY:
                    response = call_body(kind, owner, run, bound)
                elif isinstance(value, Wait):
                    _wait(value)
                else:
                    _drain(value.scope)
            except BaseException as exc:
                error = exc
            value = send(response) if error is None else throw(error)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


def _wait(request: Wait) -> None:
    if request.scope is not None:
        request.scope.cancel_event.wait(request.seconds)
    else:
        time.sleep(request.seconds)


def _has_hooks(kind: RunKind, owner: Runnable[..., Any]) -> bool:
    """Whether any hook, the run's own or a plugin's, or a retry condition, may be called for a
    run of ``owner``: user code that may block, to keep off the event loop. Plugin hooks whose
    every implementation says it never blocks (``flowhook_nonblocking``) do not count."""
    if owner.retry_condition_fn is not None:
        return True
    if any(getattr(owner, hooks) for hooks in HOOKS_BY_TYPE.values()):
        return True
    return not kind.plugin_hooks.isdisjoint(blocking_hooks())


async def drive_async(
    kind: RunKind,
    owner: Runnable[..., Any],
    run: Run,
    bound: inspect.BoundArguments,
    attempts: Attempts,
) -> State:
    """Run the state machine on the event loop, awaiting the body.

    Transitions fire hooks synchronously; when any hook may fire, each step of the state
    machine runs in a worker thread so that a slow sync hook never blocks the event loop.
    """
    import asyncio

    offload = _has_hooks(kind, owner)

    async def step(response: State | None, error: BaseException | None) -> tuple[bool, Any]:
        if offload:
            return await asyncio.to_thread(step_attempts, attempts, response, error)
        return step_attempts(attempts, response, error)

    done, value = await step(None, None)
    while not done:
        response: State | None = None
        error: BaseException | None = None
        try:
            if value is BODY:
                if owner.is_async:
                    response = await call_body_async(kind, owner, run, bound)
                else:
                    response = call_body(kind, owner, run, bound)
            elif isinstance(value, Wait):
                if value.scope is not None:
                    await asyncio.to_thread(_wait, value)
                else:
                    await asyncio.sleep(value.seconds)
            else:
                await asyncio.to_thread(_drain, value.scope)
        except BaseException as exc:
            error = exc
        done, value = await step(response, error)
    return value  # type: ignore[no-any-return]


def _drain(scope: context.FlowScope) -> None:
    """Wait until every task run the flow run submitted is final and its hooks have run."""
    while True:
        with scope.lock:
            pending = [f for f in scope.futures if not f.done()]
            never_started = [f for f in scope.futures if f.done() and not f.state.is_final()]
        for future in never_started:  # cancelled by the task runner before they started
            cancelled = states.Cancelled(
                "its flow run was cancelled before it started", run_id=future.task_run_id
            )
            advance(TASK, future.task, future.task_run, cancelled, NO_GUARD)
        if not pending:
            return
        scope.task_runner.wait([f._future for f in pending])
