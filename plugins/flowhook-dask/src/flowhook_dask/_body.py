"""One attempt's body on the cluster, as the flow's process follows it.

Dask calls back on its own threads; those callbacks only record what happened and wake the
flow-process thread that drives the run. The transitions, and so every hook, happen there.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from datetime import datetime, timezone
from typing import Any

from flowhook_hookspec.runners import BodyOutcome

from ._envelope import UnpicklableResult

__all__ = ["DaskBody"]

_CANCELLED_ERRORS = (concurrent.futures.CancelledError, asyncio.CancelledError)


def _as_datetime(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)


def _decode(envelope: Any) -> BodyOutcome:
    import cloudpickle  # type: ignore[import-untyped]  # not at import: plugins load with flowhook

    status, payload, tb, started, ended, address = envelope
    try:
        value = cloudpickle.loads(payload)
    except Exception as error:
        what = "exception" if status == "raised" else "result"
        status = "raised"
        value = UnpicklableResult(
            f"the task's {what} could not be unpickled in the flow's process: "
            f"{type(error).__name__}: {error}"
        )
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


def outcome_of(future: Any, envelope: Any = None) -> BodyOutcome:
    """How the body of ``future`` ended: from its ``envelope`` when fetched, else from Dask."""
    if envelope is not None:
        return _decode(envelope)
    from distributed.scheduler import KilledWorker  # not at import: plugins load with flowhook

    try:
        return _decode(future.result())
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


class DaskBody:
    """A :class:`~flowhook_hookspec.runners.BodyHandle` for one Dask future.

    ``on_start``, ``finish`` and ``give_up`` record what happened and wake the thread that
    drives the run, which alone calls ``wait_started`` and ``outcome``.
    """

    def __init__(self, key: str, timeout_seconds: float | None) -> None:
        self.key = key
        self.timeout_seconds = timeout_seconds
        self.future: Any = None  # a distributed.Future (untyped)
        self._lock = threading.Lock()
        self._woken = threading.Event()  # started, ended, or given up
        self._ended = threading.Event()  # the outcome is known
        self._start: tuple[datetime, str | None] | None = None
        self._started_at: float | None = None  # time.monotonic() here when the start was seen
        self._outcome: BodyOutcome | None = None

    def on_start(self, timestamp: float, address: str | None) -> None:
        with self._lock:
            if self._start is not None or self._outcome is not None:
                return  # a start that arrives after the end is dropped
            self._start = (_as_datetime(timestamp), address)
            self._started_at = time.monotonic()
        self._woken.set()

    def finish(self, outcome: BodyOutcome) -> None:
        """The body ended on the cluster as ``outcome`` (ignored once given up)."""
        with self._lock:
            if self._outcome is None:
                self._outcome = outcome
        self._ended.set()
        self._woken.set()

    def give_up(self, outcome: BodyOutcome) -> None:
        """End the attempt here without its result; a pending body is cancelled on the cluster,
        a running one runs on but its late result is ignored."""
        with self._lock:
            if self._outcome is not None:
                return
            self._outcome = outcome
        if self.future is not None:
            self.future.cancel()
        self._ended.set()
        self._woken.set()

    def wait_started(self) -> tuple[datetime, str | None] | None:
        self._woken.wait()
        with self._lock:
            if self._start is not None:
                return self._start
            outcome = self._outcome
            assert outcome is not None
            if outcome.started is None:
                return None
            self._started_at = time.monotonic()
            return outcome.started, outcome.location

    def outcome(self) -> BodyOutcome:
        if self.timeout_seconds is not None:
            assert self._started_at is not None
            remaining = self._started_at + self.timeout_seconds - time.monotonic()
            if not self._ended.wait(max(0.0, remaining)):
                self.give_up(BodyOutcome("timed_out"))
        else:
            self._ended.wait()
        assert self._outcome is not None
        return self._outcome
