"""Defaults of flow and task options that the environment may change, read when a flow or task
is defined (as Prefect reads its settings): ``FLOWHOOK_TASK_DEFAULT_RETRIES``,
``FLOWHOOK_TASK_DEFAULT_RETRY_DELAY_SECONDS`` and the same two for flows."""

from __future__ import annotations

import math
import os

from flowhook_hookspec.errors import ConfigError

__all__ = ["default_retries", "default_retry_delay_seconds"]


def _variable(subject: str, setting: str) -> tuple[str, str]:
    name = f"FLOWHOOK_{subject.upper()}_DEFAULT_{setting}"
    return name, os.environ.get(name, "").strip()


def default_retries(subject: str) -> int:
    """Retries of a ``subject`` ("flow" or "task") defined without ``retries=``: 0 unless set."""
    name, raw = _variable(subject, "RETRIES")
    if not raw:
        return 0
    if not raw.isdigit():
        raise ConfigError(f"{name} takes a whole number >= 0, e.g. {name}=3; got {raw!r}")
    return int(raw)


def default_retry_delay_seconds(subject: str) -> float | list[float]:
    """The delay before each retry of a ``subject`` defined without ``retry_delay_seconds=``:
    one number of seconds, or a comma-separated list of them (one per retry, the last repeats)."""
    name, raw = _variable(subject, "RETRY_DELAY_SECONDS")
    if not raw:
        return 0
    try:
        delays = [float(item) for item in raw.split(",")]
    except ValueError:
        delays = [math.nan]
    if not all(math.isfinite(delay) and delay >= 0 for delay in delays):
        raise ConfigError(
            f"{name} takes a number of seconds >= 0, or a comma-separated list of them, "
            f"e.g. {name}=10 or {name}=1,10,60; got {raw!r}"
        )
    return delays[0] if len(delays) == 1 else delays
