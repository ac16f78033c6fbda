"""What an attempt leads to: the state a body's return value, exception or timeout means, and
the AwaitingRetry state that replaces a failure while retries are left (Prefect's rules)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import attrs

from flowhook_hookspec import states
from flowhook_hookspec.states import State

from .futures import SCALARS, TaskRunFuture, states_of_futures
from .logs import run_logger
from .retries import condition_allows_retry, retry_delay
from .transitions import CANCELLING, Run, RunKind, now

if TYPE_CHECKING:
    from .runnables import Runnable

__all__ = ["failure_state", "result_to_state", "retry_state", "timed_out_state"]


def result_to_state(kind: RunKind, run: Run, result: Any) -> State:
    """The final state a body's return value leads to, by Prefect's rules.

    A plain value: Completed with it. A state the body made itself (no run id): that state, a
    returned Cancelling ending Cancelled. A state of another run, or a non-empty list, tuple or
    set of them (futures count as their states): the aggregate, whose data is what was returned.
    """
    # A plain value: the hot path. A scalar's exact type is told apart first, by one set
    # lookup, before isinstance walks the six types of _MAY_HOLD_STATES (0.03 us against 0.1).
    if type(result) in SCALARS or not isinstance(result, _MAY_HOLD_STATES):
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


def failure_state(kind: RunKind, run: Run, exc: Exception) -> State:
    return states.Failed(
        f"{kind.label} run encountered an exception: {type(exc).__name__}: {exc}",
        data=exc,
        run_id=run.id,
    )


def retry_state(owner: Runnable[..., Any], run: Run, failed: State) -> State | None:
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


def timed_out_state(kind: RunKind, owner: Runnable[..., Any], run: Run) -> State:
    error = TimeoutError(
        f"{kind.owner_argument} run {run.name!r} exceeded its timeout of {owner.timeout_seconds} s"
    )
    return states.TimedOut(str(error), data=error, run_id=run.id)
