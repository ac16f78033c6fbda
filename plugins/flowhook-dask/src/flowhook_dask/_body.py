"""One attempt's body on the cluster, as the flow's process follows it.

Dask reports on its own threads (its event loop for events, its callback thread for finished
futures); what they call here only records what happened, drops what comes too late, and wakes
the consumer (:mod:`._consumer`), which alone reads :meth:`DaskBody.started` and
:meth:`DaskBody.outcome` and so makes the transitions.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from flowhook_hookspec.runners import BodyOutcome, WakingBody
from flowhook_hookspec.states import RemoteResult

from ._envelope import UnpicklableResult

__all__ = ["DaskBody", "DaskResult", "outcome_of"]

_CANCELLED_ERRORS = (concurrent.futures.CancelledError, asyncio.CancelledError)


def _as_datetime(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)


def _loads(status: str, payload: bytes) -> tuple[str, Any]:
    import cloudpickle  # type: ignore[import-untyped]  # not at import: plugins load with flowhook

    try:
        return status, cloudpickle.loads(payload)
    except Exception as error:
        what = "exception" if status == "raised" else "result"
        return "raised", UnpicklableResult(
            f"the task's {what} could not be unpickled in the flow's process: "
            f"{type(error).__name__}: {error}"
        )


class DaskResult(RemoteResult):
    """A value left in its envelope on the worker that made it, fetched on first use.

    Holding it keeps the envelope's Dask future, so downstream bodies read the value from that
    worker; once fetched the future is released and the value kept here.
    """

    def __init__(self, future: Any) -> None:
        self.future: Any = future  # a distributed.Future (untyped); None once released
        self._lock = threading.Lock()
        self._value: Any = None

    def __repr__(self) -> str:
        where = "fetched" if self.future is None else f"on Dask as {self.future.key!r}"
        return f"DaskResult({where})"

    def where(self) -> tuple[Any, Any]:
        """``(future, None)`` while the value is on the cluster, else ``(None, value)``."""
        with self._lock:
            return self.future, self._value

    def fetch(self) -> Any:
        with self._lock:
            future, self.future = self.future, None
            if future is None:
                return self._value
            try:
                status, value = _loads("returned", future.result()[1])
            except Exception as exc:
                raise UnpicklableResult(
                    f"the result of {future.key!r} stayed on its Dask worker, and could not be "
                    f"brought back: {type(exc).__name__}: {exc}; read results inside the flow, "
                    "while its cluster runs"
                ) from None
            finally:
                future.release()  # the value lives here now: a worker death must not recompute it
            if status == "raised":
                raise value
            self._value = value
            return value


def _decode(envelope: Sequence[Any], future: Any) -> BodyOutcome:
    status, payload, tb, started, ended, address = envelope
    if payload is None:  # left on the worker
        value: Any = DaskResult(future)
    else:
        status, value = _loads(status, payload)
    if status == "raised" and tb and isinstance(value, BaseException):
        # add_note() is Python 3.11's; the attribute is what it sets, shown by its tracebacks
        notes = [
            *getattr(value, "__notes__", []),
            f"Raised on the Dask worker {address}:\n{tb.rstrip()}",
        ]
        setattr(value, "__notes__", notes)  # noqa: B010
    return BodyOutcome(
        status=status,
        value=value,
        started=_as_datetime(started),
        ended=_as_datetime(ended),
        location=address or None,
    )


def outcome_of(future: Any) -> BodyOutcome | Sequence[Any]:
    """How the body of the finished ``future`` ended, as Dask tells: its envelope, or else the
    outcome of a body that could not end by itself."""
    from distributed.scheduler import KilledWorker  # not at import: plugins load with flowhook

    try:
        return future.result()  # type: ignore[no-any-return]
    except KilledWorker as exc:
        return BodyOutcome(
            "crashed", message=f"the Dask worker running it died ({type(exc).__name__}: {exc})"
        )
    except _CANCELLED_ERRORS:
        return BodyOutcome(
            "crashed",
            message="Dask lost it: the scheduler forgot it or the connection to it was lost",
        )
    except Exception as exc:  # Dask could not run the envelope: the function did not unpickle
        return BodyOutcome("raised", value=exc)


class DaskBody(WakingBody):
    """A :class:`~flowhook_hookspec.runners.BodyHandle` for one Dask future.

    ``on_start``, ``on_end``, ``finish`` and ``give_up`` may be called on any thread: they
    record what happened (the first end wins; a start after an end is dropped) and call the
    waiter registered with :meth:`wake_on_news`, once. The consumer alone reads it.
    """

    def __init__(self, key: str, timeout_seconds: float | None) -> None:
        self.key = key
        self.timeout_seconds = timeout_seconds
        self.future: Any = None  # a distributed.Future (untyped)
        self._lock = threading.Lock()
        self._start: tuple[datetime, str | None] | None = None
        self._start_seen = False  # the consumer read the start
        self._envelope: Sequence[Any] | None = None  # as the end event or Dask gave it
        self._outcome: BodyOutcome | None = None
        self._waiter: Callable[[], None] | None = None
        #: Called by the consumer with the body when it first reads the start (arms a timeout).
        self.on_seen_start: Callable[[DaskBody], None] | None = None

    def _has_news(self) -> bool:
        ended = self._outcome is not None or self._envelope is not None
        return ended or (self._start is not None and not self._start_seen)

    def ended(self) -> bool:
        return self._outcome is not None or self._envelope is not None

    def on_start(self, timestamp: float, address: str | None) -> None:
        def change() -> bool:
            if self._start is not None or self.ended():
                return False  # a start after the end (or a second one) is dropped
            self._start = (_as_datetime(timestamp), address or None)
            return True

        self._record(change)

    def on_end(self, envelope: Sequence[Any]) -> bool:
        """The envelope ended this body (from its end event or its Dask result)."""
        return self._end(envelope, None)

    def finish(self, outcome: BodyOutcome) -> bool:
        """The body ended without an envelope (its worker died, Dask lost it)."""
        return self._end(None, outcome)

    def _end(self, envelope: Sequence[Any] | None, outcome: BodyOutcome | None) -> bool:
        """Record the first end (whether this was it); any later one is dropped."""

        def change() -> bool:
            if self.ended():
                return False
            self._envelope, self._outcome = envelope, outcome
            return True

        return self._record(change)

    def give_up(self, outcome: BodyOutcome) -> None:
        """End the attempt here without its result; a pending body is cancelled on the cluster,
        a running one runs on but its late result is ignored."""
        if self.finish(outcome) and self.future is not None:
            self.future.cancel()

    def wake_on_news(self, waiter: Callable[[], None]) -> None:
        """Call ``waiter`` once something the consumer has not read happens (now, if it has)."""
        with self._lock:
            if not self._has_news():
                self._waiter = waiter
                return
        waiter()

    # -- read by the consumer only (the BodyHandle protocol) ----------------------------------

    def started(self) -> tuple[datetime, str | None] | None:
        with self._lock:
            start, first = self._start, not self._start_seen and self._start is not None
            if first:
                self._start_seen = True
        if first and self.on_seen_start is not None:
            self.on_seen_start(self)
        return start

    def outcome(self) -> BodyOutcome | None:
        with self._lock:
            if self._outcome is None and self._envelope is not None:
                self._outcome = _decode(self._envelope, self.future)
            return self._outcome

    def keeps_result(self) -> bool:
        """Whether the outcome's value stayed on the worker (so its future must be kept)."""
        with self._lock:
            return self._envelope is not None and self._envelope[1] is None
