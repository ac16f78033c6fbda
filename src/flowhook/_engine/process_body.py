"""One attempt's body in a worker process, as the flow's process follows it.

The pool's dispatcher thread records what happens (:meth:`ProcessBody.on_start`,
:meth:`ProcessBody.finish`); the work item paused on the body reads it through the
:class:`~flowhook_hookspec.runners.BodyHandle` methods once woken (:meth:`wake_on_news`).
The first end wins: a late result of a body that timed out or was cancelled is dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from flowhook_hookspec.errors import FlowhookError
from flowhook_hookspec.runners import BodyOutcome, BodyStatus, WakingBody

__all__ = ["ProcessBody", "UnpicklableTaskError", "decode_outcome"]


class UnpicklableTaskError(FlowhookError):
    """A task's function, arguments, return value or exception could not cross to or from the
    worker process (``ProcessPoolTaskRunner`` sends them with cloudpickle)."""


def _as_datetime(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)


def decode_outcome(frame: tuple[Any, ...], location: str) -> BodyOutcome:
    """The outcome an ``ended`` frame of the worker at ``location`` reports."""
    import cloudpickle  # type: ignore[import-untyped]

    _, _, status, payload, tb, started, ended = frame

    def outcome(status: BodyStatus, value: Any, message: str = "") -> BodyOutcome:
        return BodyOutcome(
            status,
            value=value,
            message=message,
            started=_as_datetime(started),
            ended=_as_datetime(ended),
            location=location,
        )

    if status == "crashed":
        return outcome("crashed", None, payload)
    if status == "unpicklable":
        return outcome("raised", UnpicklableTaskError(payload))
    try:
        value = cloudpickle.loads(payload)
    except Exception as exc:
        what = "exception" if status == "raised" else "return value"
        error = UnpicklableTaskError(
            f"the task's {what} could not be unpickled in the flow's process: "
            f"{type(exc).__name__}: {exc}"
        )
        return outcome("raised", error)
    if status == "raised" and tb and isinstance(value, BaseException):
        # what add_note() sets (3.11+), shown under the exception's traceback
        notes = [*getattr(value, "__notes__", []), f"Raised in {location}:\n{tb.rstrip()}"]
        setattr(value, "__notes__", notes)  # noqa: B010
    return outcome(status, value)


class ProcessBody(WakingBody):
    """A :class:`~flowhook_hookspec.runners.BodyHandle` for one body sent to the pool."""

    def __init__(
        self, key: str, blob: bytes, timeout_seconds: float | None, run: bytes | None = None
    ) -> None:
        self.key = key
        self.blob: bytes | None = blob  # what the worker unpickles; dropped once sent
        self.run = run  # the pickled run context (see process_context)
        self.timeout_seconds = timeout_seconds
        self._lock = threading.Lock()
        self._start: tuple[datetime, str | None] | None = None
        self._start_read = False  # the work item has seen the start
        self._outcome: BodyOutcome | None = None
        self._waiter: Callable[[], None] | None = None

    def __repr__(self) -> str:
        return f"ProcessBody({self.key!r})"

    def on_start(self, timestamp: float, location: str) -> None:
        """The worker at ``location`` started the body (dropped if it ended already)."""

        def change() -> bool:
            if self._start is not None or self._outcome is not None:
                return False
            self._start = (_as_datetime(timestamp), location)
            return True

        self._record(change)

    def finish(self, outcome: BodyOutcome) -> bool:
        """Record how the body ended, if it had not yet; whether this was its end."""

        def change() -> bool:
            if self._outcome is not None:
                return False
            self._outcome = outcome
            self.blob = None
            return True

        return self._record(change)

    def ended(self) -> bool:
        with self._lock:
            return self._outcome is not None

    def wake_on_news(self, waiter: Callable[[], None]) -> None:
        """Call ``waiter`` once, when the body starts or ends (now, if it did since last read)."""
        with self._lock:
            news = self._outcome is not None or (self._start is not None and not self._start_read)
            if not news:
                self._waiter = waiter
                return
        waiter()

    # -- the BodyHandle protocol -------------------------------------------------------------

    def started(self) -> tuple[datetime, str | None] | None:
        with self._lock:
            self._start_read = self._start is not None
            return self._start

    def outcome(self) -> BodyOutcome | None:
        with self._lock:
            return self._outcome
