"""Prefect's constructors of scheduled and paused states: ``Scheduled``, ``Late``, ``Paused``,
``Suspended``, and what a Paused state holds (:class:`PauseDetails`).

Prefect's constructors take the state class first (``Paused(cls=State, timeout_seconds=...)``);
flowhook's take the message first. These accept either as their first positional argument.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs

from .states import State, StateType

__all__ = ["Late", "PauseDetails", "Paused", "Scheduled", "Suspended"]

_now = functools.partial(datetime.now, timezone.utc)


def _message_of(first: Any, fields: dict[str, Any]) -> str | None:
    """The message, from ``message=`` or from a first positional argument that is not Prefect's
    state class (``cls``, which may only be :class:`State`)."""
    fields.pop("cls", None)
    message: str | None = fields.pop("message", None)
    if isinstance(first, type):
        if not issubclass(first, State):
            raise TypeError(f"the state class must be flowhook's State, got {first.__name__}")
        return message
    if first is not None and message is not None:
        raise TypeError("the message was given twice: positionally and as message=")
    return message if first is None else str(first)


def Scheduled(
    cls: type[State] | str | None = None, scheduled_time: datetime | None = None, **fields: Any
) -> State:
    """A ``SCHEDULED`` state named "Scheduled", due at ``scheduled_time`` (default: now).

    flowhook never enters it itself (it has no scheduler); it exists for code written for
    Prefect that builds or compares states.
    """
    message = _message_of(cls, fields)
    due = _now() if scheduled_time is None else scheduled_time
    name = fields.pop("name", "Scheduled")
    return State(StateType.SCHEDULED, name, message, scheduled_time=due, **fields)


def Late(
    cls: type[State] | str | None = None, scheduled_time: datetime | None = None, **fields: Any
) -> State:
    """A ``SCHEDULED`` state named "Late": a scheduled run whose start time has passed."""
    return Scheduled(cls, scheduled_time, name=fields.pop("name", "Late"), **fields)


@attrs.frozen
class PauseDetails:
    """What a Paused state holds as its ``data``, under Prefect's names."""

    #: When the pause times out; None when it waits until resumed.
    pause_timeout: datetime | None = None
    #: The key that keeps one pause of a run from firing twice.
    pause_key: str | None = None
    #: True for Suspended (Prefect ends the process and reschedules the run; flowhook waits).
    pause_reschedule: bool = False


def Paused(
    cls: type[State] | str | None = None,
    timeout_seconds: float | None = None,
    pause_expiration_time: datetime | None = None,
    reschedule: bool = False,
    pause_key: str | None = None,
    **fields: Any,
) -> State:
    """A ``PAUSED`` state: the flow run waits until it is resumed or its pause times out.

    The time out is ``timeout_seconds`` from now or ``pause_expiration_time`` (not both); it is
    the state's ``scheduled_time``, and its :class:`PauseDetails` are the state's ``data``.
    """
    if timeout_seconds is not None and pause_expiration_time is not None:
        raise ValueError("Cannot supply both a pause_expiration_time and timeout_seconds")
    message = _message_of(cls, fields)
    until = pause_expiration_time
    if timeout_seconds is not None:
        until = _now() + timedelta(seconds=timeout_seconds)
    details = PauseDetails(until, pause_key, reschedule)
    name = fields.pop("name", "Suspended" if reschedule else "Paused")
    data = fields.pop("data", details)
    return State(StateType.PAUSED, name, message, data=data, scheduled_time=until, **fields)


def Suspended(
    cls: type[State] | str | None = None,
    timeout_seconds: float | None = None,
    pause_expiration_time: datetime | None = None,
    pause_key: str | None = None,
    **fields: Any,
) -> State:
    """A Paused state named "Suspended". Prefect ends the process of a suspended run and starts
    it again once resumed; in flowhook the run's process waits, as for a pause."""
    return Paused(
        cls, timeout_seconds, pause_expiration_time, True, pause_key, name="Suspended", **fields
    )
