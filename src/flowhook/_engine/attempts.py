"""The life of a run, attempt by attempt: one state machine, and its sync and async drivers.

:func:`run_attempts` decides every transition of a run, from Pending to a final state, and yields
what takes time (the body, a wait before a retry, waiting for submitted task runs) to a driver:
:func:`drive` in this thread, :func:`drive_async` on the event loop. One state machine serves
both, so sync and async runs cannot drift apart.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Generator
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

import attrs

from flowhook_hookspec import states
from flowhook_hookspec.errors import CrashedRun
from flowhook_hookspec.runners import (
    BodyHandle,
    BodyOutcome,
    RemoteTaskRunner,
    RemoteWork,
    TaskBody,
)
from flowhook_hookspec.runs import FlowRun
from flowhook_hookspec.states import State

from .._plugins.isolation import resolve_awaitable
from .._plugins.manager import implemented_hooks
from . import context
from .futures import TaskRunFuture, states_of_futures
from .logs import log_prints_enabled, reset_log_prints, run_logger
from .parameters import ParameterTypeError, call_bound, coerce_arguments, split_bound
from .retries import condition_allows_retry, retry_delay
from .timeouts import RunTimeout, Watchdog
from .transitions import (
    CANCELLING,
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

__all__ = ["Attempts", "drive", "drive_async", "drive_remote", "run_attempts"]


def _result_to_state(kind: RunKind, run: Run, result: Any) -> State:
    """The final state a body's return value leads to, by Prefect's rules.

    A plain value: Completed with it. A state the body made itself (no run id): that state, a
    returned Cancelling ending Cancelled. A state of another run, or a non-empty list, tuple or
    set of them (futures count as their states): the aggregate, whose data is what was returned.
    """
    if not isinstance(result, _MAY_HOLD_STATES):  # a plain value: the hot path
        return states.Completed(data=result, run_id=run.id)
    result = states_of_futures(result)
    if not isinstance(result, State):
        if (
            type(result) in _STATE_COLLECTIONS
            and result
            and all(isinstance(item, State) for item in result)
        ):
            return _aggregate(run, list(result), result)
        return states.Completed(data=result, run_id=run.id)
    if result.run_id is not None and result.run_id != run.id:
        return _aggregate(run, [result], result)
    if result.type is CANCELLING:
        return states.Cancelled(result.message, data=result.data, run_id=run.id)
    if not result.is_final():
        return states.Failed(
            f"{kind.label} run returned the state {result.name!r}, which is not final; return a "
            "final state (Completed, Failed, Cancelled) or a plain value",
            run_id=run.id,
        )
    return attrs.evolve(result, run_id=run.id, timestamp=now())


_STATE_COLLECTIONS = (list, tuple, set, frozenset)
_MAY_HOLD_STATES = (State, TaskRunFuture, *_STATE_COLLECTIONS)


def _aggregate(run: Run, group: list[State], returned: Any) -> State:
    """Prefect's rule for returned states: Completed if all completed, Cancelled if any was
    cancelled, else Failed; the data is what the body returned."""
    total = len(group)
    if all(state.is_completed() for state in group):
        return states.Completed("All states completed.", data=returned, run_id=run.id)
    cancelled = sum(state.is_cancelled() for state in group)
    if cancelled:
        return states.Cancelled(
            f"{cancelled}/{total} states cancelled.", data=returned, run_id=run.id
        )
    failed = sum(state.is_failed() or state.is_crashed() for state in group)
    if failed:
        message = f"{failed}/{total} states failed."
    else:
        message = f"{total - sum(s.is_final() for s in group)}/{total} states are not final."
    return states.Failed(message, data=returned, run_id=run.id)


def _failure_state(kind: RunKind, run: Run, exc: Exception) -> State:
    return states.Failed(
        f"{kind.label} run encountered an exception: {type(exc).__name__}: {exc}",
        data=exc,
        run_id=run.id,
    )


def _retry_state(owner: Runnable[..., Any], run: Run, failed: State) -> State | None:
    """The AwaitingRetry state to enter instead of ``failed``, or None when no retry is left."""
    if run.run_count > owner.retries:
        if owner.retries:
            run_logger(owner, run).error(
                "%s run failed with %s - Retries are exhausted",
                type(owner).__name__,
                _failure_of(failed),
            )
        return None
    if not condition_allows_retry(owner.retry_condition_fn, owner, run, failed):
        return None
    delay = retry_delay(
        owner.retry_delay_seconds, owner.retries, run.run_count, owner.retry_jitter_factor
    )
    run_logger(owner, run).info(
        "%s run failed with %s - Retry %s/%s will start %s",
        type(owner).__name__,
        _failure_of(failed),
        run.run_count,
        owner.retries,
        f"{delay:g} second(s) from now" if delay else "immediately",
    )
    failed_at = now()
    return states.AwaitingRetry(
        f"Attempt {run.run_count} failed ({failed.message}); retry {run.run_count}/{owner.retries} "
        f"in {delay:.3g} s",
        data=failed.data,
        run_id=run.id,
        timestamp=failed_at,
        scheduled_time=failed_at + timedelta(seconds=delay),
    )


def _failure_of(failed: State) -> str:
    """What failed, as Prefect's retry lines say it: ``exception: ValueError('x')`` or the state."""
    if failed.exception is not None:
        return f"exception: {failed.exception!r}"
    return f"state: {failed!r}"


def _timed_out_state(kind: RunKind, owner: Runnable[..., Any], run: Run) -> State:
    error = TimeoutError(
        f"{kind.owner_argument} run {run.name!r} exceeded its timeout of {owner.timeout_seconds} s"
    )
    return states.TimedOut(str(error), data=error, run_id=run.id)


def _call_body(
    kind: RunKind, owner: Runnable[..., Any], run: Run, bound: inspect.BoundArguments
) -> State:
    """Run a body in this thread; an ``async def`` body is run to completion."""
    if owner.is_async:
        return resolve_awaitable(_call_body_async(kind, owner, run, bound))  # type: ignore[no-any-return]
    if owner.log_prints is not None:
        token = log_prints_enabled(owner.log_prints)
        try:
            return _call_sync(kind, owner, run, bound)
        finally:
            reset_log_prints(token)
    return _call_sync(kind, owner, run, bound)


def _call_sync(
    kind: RunKind, owner: Runnable[..., Any], run: Run, bound: inspect.BoundArguments
) -> State:
    try:
        if owner.timeout_seconds is None:
            result = call_bound(owner.fn, bound, owner.positional_names)
        else:
            with Watchdog(owner.timeout_seconds):
                result = call_bound(owner.fn, bound, owner.positional_names)
    except RunTimeout:
        return _timed_out_state(kind, owner, run)
    except Exception as exc:
        return _failure_state(kind, run, exc)
    return _result_to_state(kind, run, result)


async def _call_body_async(
    kind: RunKind, owner: Runnable[..., Any], run: Run, bound: inspect.BoundArguments
) -> State:
    token = None if owner.log_prints is None else log_prints_enabled(owner.log_prints)
    try:
        return await _await_body(kind, owner, run, bound)
    finally:
        if token is not None:
            reset_log_prints(token)


async def _await_body(
    kind: RunKind, owner: Runnable[..., Any], run: Run, bound: inspect.BoundArguments
) -> State:
    body = call_bound(owner.fn, bound, owner.positional_names)
    try:
        if owner.timeout_seconds is None:
            # Awaited right here: a task of its own would be cancelled with this one just the
            # same, and would double the event loop's work per task run.
            finished, result = True, await body
        else:
            finished, result = await _await_within(body, owner.timeout_seconds)
    except Exception as exc:
        return _failure_state(kind, run, exc)
    if not finished:
        return _timed_out_state(kind, owner, run)
    return _result_to_state(kind, run, result)


async def _await_within(body: Awaitable[Any], seconds: float) -> tuple[bool, Any]:
    """``(True, result)`` of ``body``; ``(False, None)`` when it did not finish within
    ``seconds`` and was cancelled. The body's own exception propagates."""
    import asyncio

    future = asyncio.ensure_future(body)
    try:
        done, _ = await asyncio.wait({future}, timeout=seconds)
    except BaseException:
        future.cancel()
        raise
    if not done:
        future.cancel()
        with contextlib.suppress(BaseException):
            await future
        return False, None
    return True, future.result()


def _cancelled_before(scope: context.FlowScope | None, run: Run) -> State | None:
    """Cancelled when the flow run (the task's, or a flow run itself, or a subflow's parent) was
    cancelled before the attempt starts."""
    if scope is None or not scope.cancel_event.is_set():
        return None
    whose = "parent flow run" if isinstance(run, FlowRun) else "flow run"
    return states.Cancelled(f"its {whose} was cancelled before it started", run_id=run.id)


class _Body:
    """Request to the driver: run the body once and send back the State it leads to."""


_BODY = _Body()


class _Start(NamedTuple):
    """Request to the driver: start the body on ``runner`` and send back the state to enter
    once it started there (``entering`` with the start time), or the final state it led to."""

    entering: State
    runner: RemoteTaskRunner


class _Wait(NamedTuple):
    """Request to the driver: wait before the next attempt (cut short by cancellation)."""

    seconds: float
    scope: context.FlowScope | None


class _Drain(NamedTuple):
    """Request to the driver: wait for the task runs the flow run submitted."""

    scope: context.FlowScope


_Request = _Body | _Start | _Wait | _Drain
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
) -> Attempts:
    """The life of a run, from Pending to a final state, as a generator.

    ``txn`` is a task run's own transaction, when it has one: if its key is committed already
    (a cached result), the first attempt enters ``Cached`` instead of running the body.

    It decides every transition and yields what takes time (the body, waits) to a driver: a
    sync one (:func:`_drive`) or an async one (:func:`_drive_async`). One state machine serves
    both, so sync and async runs cannot drift apart. With a ``remote`` runner, the body runs
    there and Running is entered once it reports the start.
    """
    try:
        if not run.state_history:
            set_state(kind, owner, run, run.state)
        if owner.validate_parameters and owner.type_hints:
            try:
                coerce_arguments(bound, owner.type_hints)
            except ParameterTypeError as exc:
                failed = states.Failed(
                    f"{kind.label} run parameters are invalid: {exc}", data=exc, run_id=run.id
                )
                return advance(kind, owner, run, failed, guard)
        while True:
            cancelled = _cancelled_before(scope, run)
            if cancelled is not None:
                return advance(kind, owner, run, cancelled, guard)
            run.run_count += 1
            attempt = states.Running if run.run_count == 1 else states.Retrying
            entering = attempt(run_id=run.id)
            if remote is not None:
                started = yield _Start(entering, remote)
                assert started is not None
                entering = started
            entered = advance(kind, owner, run, entering, guard)
            if entered.is_final():
                return entered
            if txn is not None and run.run_count == 1 and txn.is_committed():
                cached = states.Completed(
                    f"Result of cache key {txn.key!r}",
                    name="Cached",
                    data=txn.read(),
                    run_id=run.id,
                )
                return advance(kind, owner, run, cached, guard)
            state = yield _BODY
            assert state is not None
            if kind is FLOW and scope is not None and scope.futures:
                yield _Drain(scope)
            if state.type is FAILED:
                if txn is not None:
                    txn.roll_back_attempt()
                retry = _retry_state(owner, run, state)
                if retry is not None:
                    entered = advance(kind, owner, run, retry, guard)
                    if entered.is_final():
                        return entered
                    assert retry.scheduled_time is not None
                    yield _Wait(max(0.0, (retry.scheduled_time - now()).total_seconds()), scope)
                    continue
            return advance(kind, owner, run, state, guard)
    except BaseException as exc:
        with guard:
            if run.state_history and not run.state.is_final():
                crashed = states.Crashed(crash_message(exc), data=exc, run_id=run.id)
                set_state(kind, owner, run, crashed)
        raise


def _step(
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
    """Run the state machine in this thread."""
    done, value = _step(attempts, None, None)
    while not done:
        error: BaseException | None = None
        response: State | None = None
        try:
            if value is _BODY:
                response = _call_body(kind, owner, run, bound)
            elif isinstance(value, _Wait):
                _wait(value)
            else:
                _drain(value.scope)
        except BaseException as exc:
            error = exc
        done, value = _step(attempts, response, error)
    return value  # type: ignore[no-any-return]


def drive_remote(
    kind: RunKind,
    owner: Runnable[..., Any],
    run: Run,
    bound: inspect.BoundArguments,
    attempts: Attempts,
) -> RemoteWork:
    """Run the state machine as a remote runner's stepped work item: it pauses, never blocks,
    on a body until the body started (or ended), then until it ended, and before a retry."""
    done, value = _step(attempts, None, None)
    handle: BodyHandle | None = None
    while not done:
        response: State | None = None
        error: BaseException | None = None
        if isinstance(value, _Start):
            try:
                handle = value.runner.start_body(_task_body(owner, run, bound))
            except Exception as exc:  # the body could not be sent: the attempt fails
                error = exc
            else:
                while handle.started() is None and handle.outcome() is None:
                    yield handle
                response = _started_state(kind, owner, run, value.entering, handle)
        elif value is _BODY:
            assert handle is not None, "a remote attempt starts its body first"
            while (outcome := handle.outcome()) is None:
                yield handle
            response, handle = _remote_state(kind, owner, run, outcome), None
        else:
            assert isinstance(value, _Wait), "only a flow run drains, and flows run here"
            if value.scope is None or not value.scope.cancel_event.is_set():
                yield value.seconds
        done, value = _step(attempts, response, error)
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
        return _result_to_state(kind, run, outcome.value)
    if outcome.status == "raised":
        return _failure_state(kind, run, outcome.value)
    if outcome.status == "timed_out":
        return _timed_out_state(kind, owner, run)
    if outcome.status == "cancelled":
        return states.Cancelled(outcome.message, run_id=run.id)
    return states.Crashed(outcome.message, data=CrashedRun(outcome.message), run_id=run.id)


def _wait(request: _Wait) -> None:
    if request.scope is not None:
        request.scope.cancel_event.wait(request.seconds)
    else:
        time.sleep(request.seconds)


def _has_hooks(kind: RunKind, owner: Runnable[..., Any]) -> bool:
    """Whether any hook, the run's own or a plugin's, or a retry condition, may be called for a
    run of ``owner``: user code that may block, to keep off the event loop."""
    if owner.retry_condition_fn is not None:
        return True
    if any(getattr(owner, hooks) for hooks in HOOKS_BY_TYPE.values()):
        return True
    return not kind.plugin_hooks.isdisjoint(implemented_hooks())


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
            return await asyncio.to_thread(_step, attempts, response, error)
        return _step(attempts, response, error)

    done, value = await step(None, None)
    while not done:
        response: State | None = None
        error: BaseException | None = None
        try:
            if value is _BODY:
                if owner.is_async:
                    response = await _call_body_async(kind, owner, run, bound)
                else:
                    response = _call_body(kind, owner, run, bound)
            elif isinstance(value, _Wait):
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
