"""Retry policy: how many attempts, how long to wait between them, and whether to retry at all."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

#: ``retry_delay_seconds``: one delay, one delay per retry (the last one repeats), or a callable
#: that takes the number of retries and returns such a list (see :func:`exponential_backoff`).
RetryDelay = float | Sequence[float] | Callable[[int], Sequence[float]]

__all__ = ["RetryDelay", "exponential_backoff"]


def exponential_backoff(backoff_factor: float) -> Callable[[int], list[float]]:
    """Delays that double: ``[backoff_factor * 2**i for i in range(retries)]``.

    >>> exponential_backoff(backoff_factor=2)(4)
    [2, 4, 8, 16]
    """
    if backoff_factor < 0:
        raise ValueError(f"backoff_factor must be >= 0, got {backoff_factor}")

    def delays(retries: int) -> list[float]:
        return [backoff_factor * 2**i for i in range(retries)]

    return delays


def validate_retry_delay(value: Any) -> RetryDelay:
    """Check ``retry_delay_seconds`` when a flow or task is defined; returns it unchanged."""
    if callable(value):
        return value  # type: ignore[no-any-return]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"retry_delay_seconds must be >= 0, got {value}")
        return value
    if isinstance(value, (list, tuple)):
        for item in value:
            validate_retry_delay(item if not callable(item) else None)
        return list(value)
    raise TypeError(
        "retry_delay_seconds takes a number of seconds, a list of them (one per retry), or a "
        f"callable such as flowhook.exponential_backoff(2); got {type(value).__name__}"
    )


def retry_delay(
    delay: RetryDelay, retries: int, retry_number: int, jitter_factor: float = 0
) -> float:
    """Seconds to wait before retry ``retry_number`` (1 for the first retry)."""
    if callable(delay):
        delay = delay(retries)
    if isinstance(delay, (int, float)):
        seconds = float(delay)
    else:
        delays = list(delay)
        seconds = float(delays[min(retry_number, len(delays)) - 1]) if delays else 0.0
    if jitter_factor and seconds:
        import random  # only a retry with jitter needs it

        # Uniform around the delay, so the mean stays the delay; never negative.
        seconds = random.uniform(
            max(0.0, seconds * (1 - jitter_factor)), seconds * (1 + jitter_factor)
        )
    return seconds


def condition_allows_retry(
    condition: Callable[..., Any] | None, owner: Any, run: Any, state: Any
) -> bool:
    """Ask ``retry_condition_fn`` (an ``async def`` one is awaited); a condition that raises
    counts as "do not retry" (and is logged)."""
    if condition is None:
        return True
    from .._plugins.isolation import resolve_awaitable  # only a task with a retry condition

    try:
        return bool(resolve_awaitable(condition(owner, run, state)))
    except Exception:
        import logging

        logging.getLogger("flowhook.engine").error(
            "retry_condition_fn of %r raised; not retrying %r",
            getattr(owner, "name", owner),
            run.name,
            exc_info=True,
        )
        return False
