"""Calling a run's body once: in this thread (an ``async def`` body run to completion) or
awaited on the event loop, within its timeout and with its ``log_prints`` switch."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from flowhook_hookspec.states import State

from .._plugins.isolation import resolve_awaitable
from .logs import log_prints_enabled, reset_log_prints
from .outcomes import failure_state, result_to_state, timed_out_state
from .parameters import call_bound
from .timeouts import RunTimeout, Watchdog
from .transitions import Run, RunKind

if TYPE_CHECKING:
    from .runnables import Runnable

__all__ = ["call_body", "call_body_async"]


def call_body(
    kind: RunKind, owner: Runnable[..., Any], run: Run, bound: inspect.BoundArguments
) -> State:
    """Run a body in this thread; an ``async def`` body is run to completion."""
    if owner.is_async:
        return resolve_awaitable(call_body_async(kind, owner, run, bound))  # type: ignore[no-any-return]
    token = None if owner.log_prints is None else log_prints_enabled(owner.log_prints)
    try:
        try:
            if owner.timeout_seconds is None:
                result = call_bound(owner.fn, bound, owner.positional_names)
            else:
                with Watchdog(owner.timeout_seconds):
                    result = call_bound(owner.fn, bound, owner.positional_names)
        except RunTimeout:
            return timed_out_state(kind, owner, run)
        except Exception as exc:
            return failure_state(kind, run, exc)
        return result_to_state(kind, run, result)
    finally:
        if token is not None:
            reset_log_prints(token)


async def call_body_async(
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
        return failure_state(kind, run, exc)
    if not finished:
        return timed_out_state(kind, owner, run)
    return result_to_state(kind, run, result)


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
