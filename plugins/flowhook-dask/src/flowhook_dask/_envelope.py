"""What runs on a Dask worker: the user's function inside an envelope that never raises.

The envelope reports the start (a ``flowhook-start`` event), calls the function, and returns a
plain tuple: how it ended, the pickled value or exception, the traceback text, the start and end
times and the worker's address. Pickling happens here, once, so that an unpicklable result or
exception becomes a readable failure instead of a serialization error inside Dask.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

__all__ = ["START_TOPIC", "Envelope", "run_envelope", "should_stop"]

#: The topic of the event a worker logs when a body starts.
START_TOPIC = "flowhook-start"

#: (status, payload, traceback text, started, ended, worker address); status is "returned" or
#: "raised", payload the cloudpickled value or exception, times as POSIX timestamps.
Envelope = tuple[str, bytes, str, float, float, str]

_current = threading.local()


class UnpicklableResult(Exception):
    """A task's return value or exception could not be pickled to leave its worker."""


def _worker() -> Any:
    from distributed import get_worker

    try:
        return get_worker()
    except ValueError:  # not on a worker (called directly in tests)
        return None


def _report_start(key: str, started: float) -> str:
    worker = _worker()
    if worker is None:
        return ""
    worker.log_event(START_TOPIC, {"key": key, "time": started, "address": worker.address})
    return str(worker.address)


def _pickled_exception(exc: BaseException) -> bytes:
    import cloudpickle  # type: ignore[import-untyped]

    try:
        return cloudpickle.dumps(exc)  # type: ignore[no-any-return]
    except Exception as error:
        stand_in = UnpicklableResult(
            f"{type(exc).__name__}: {exc} (the exception could not be pickled to leave the "
            f"worker: {type(error).__name__}: {error})"
        )
        return cloudpickle.dumps(stand_in)  # type: ignore[no-any-return]


def run_envelope(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], key: str
) -> Envelope:
    """Call ``fn(*args, **kwargs)`` on this worker; never raises (but for BaseException)."""
    import cloudpickle

    started = time.time()
    address = _report_start(key, started)
    _current.key = key
    status, tb = "returned", ""
    try:
        value = fn(*args, **kwargs)
        if inspect.isawaitable(value):
            value = asyncio.run(_awaited(value))
    except Exception as exc:
        status, value, tb = "raised", exc, traceback.format_exc()
    finally:
        _current.key = None
    ended = time.time()
    if status == "raised":
        return status, _pickled_exception(value), tb, started, ended, address
    try:
        payload = cloudpickle.dumps(value)
    except Exception as error:
        failure = UnpicklableResult(
            f"the task returned a {type(value).__name__}, which could not be pickled to leave "
            f"the worker: {type(error).__name__}: {error}; return a picklable value"
        )
        return "raised", cloudpickle.dumps(failure), "", started, ended, address
    return status, payload, "", started, ended, address


async def _awaited(value: Any) -> Any:
    return await value


def should_stop() -> bool:
    """Inside a task body on a Dask worker: whether its run already ended in the flow's process
    (timed out or cancelled), so that the body may stop early. ``False`` anywhere else."""
    key = getattr(_current, "key", None)
    worker = _worker()
    if key is None or worker is None:
        return False
    task = worker.state.tasks.get(key)
    return task is None or task.state in ("cancelled", "released", "forgotten")
