"""What runs on a Dask worker: the user's function inside an envelope that never raises.

The envelope reports the start (a ``flowhook-start`` event), calls the function, reports the
end (a ``flowhook-end`` event) and returns a plain tuple: how it ended, the pickled value or
exception, the traceback text, the start and end times and the worker's address. Pickling
happens here, once, so that an unpicklable result or exception becomes a readable failure
instead of a serialization error inside Dask.

The end event carries the pickled value only when it is small (:data:`INLINE_LIMIT`); a larger
one stays in the envelope's result on the worker, where downstream envelopes read it: an
argument ``Upstream(i)`` stands for the value of the ``i``-th upstream envelope,
which Dask moves from worker to worker.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "END_TOPIC",
    "INLINE_LIMIT",
    "START_TOPIC",
    "Envelope",
    "Upstream",
    "run_envelope",
    "should_stop",
]

#: The topic of the event a worker logs when a body starts.
START_TOPIC = "flowhook-start"

#: The topic of the event a worker logs when a body ends: how, and the value if small.
END_TOPIC = "flowhook-end"

#: The largest pickled value (bytes) the end event carries. The scheduler keeps recent events
#: (``distributed.scheduler.events-log-length`` of them), so a larger value stays on the worker
#: and reaches the flow's process only if the flow reads it.
INLINE_LIMIT = 1024

#: (status, payload, traceback text, started, ended, worker address); status is "returned" or
#: "raised", payload the cloudpickled value or exception, times as POSIX timestamps.
Envelope = tuple[str, bytes, str, float, float, str]

_current = threading.local()


class UnpicklableResult(Exception):
    """A task's return value or exception could not be pickled to leave its worker."""


class Upstream:
    """In a body's arguments: the value of upstream envelope number ``position``."""

    __slots__ = ("position",)

    def __init__(self, position: int) -> None:
        self.position = position

    def __reduce__(self) -> tuple[type[Upstream], tuple[int]]:
        return Upstream, (self.position,)


def _worker() -> Any:
    from distributed import get_worker

    try:
        return get_worker()
    except ValueError:  # not on a worker (called directly in tests)
        return None


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


def _may_hold_states(value: Any) -> bool:
    """Whether the engine must look into ``value`` (Prefect's rules for returned states)."""
    from flowhook_hookspec.states import State

    if isinstance(value, State):
        return True
    return isinstance(value, (list, tuple, set, frozenset)) and any(
        isinstance(item, State) for item in value
    )


def _unwrap(value: Any, upstream: Sequence[Envelope], loaded: dict[int, Any]) -> Any:
    """``value`` with each :class:`Upstream` replaced by that envelope's value."""
    import cloudpickle

    if isinstance(value, Upstream):
        if value.position not in loaded:
            loaded[value.position] = cloudpickle.loads(upstream[value.position][1])
        return loaded[value.position]
    if type(value) in (list, tuple, set, frozenset):
        return type(value)(_unwrap(item, upstream, loaded) for item in value)
    if type(value) is dict:
        return {key: _unwrap(item, upstream, loaded) for key, item in value.items()}
    return value


def _outcome(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], key: str
) -> tuple[str, Any, str]:
    _current.key = key
    try:
        value = fn(*args, **kwargs)
        if inspect.isawaitable(value):
            value = asyncio.run(_awaited(value))
    except Exception as exc:
        return "raised", exc, traceback.format_exc()
    finally:
        _current.key = None
    return "returned", value, ""


def run_envelope(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    key: str,
    upstream: Sequence[Envelope] = (),
) -> Envelope:
    """Call ``fn(*args, **kwargs)`` on this worker; never raises (but for BaseException)."""
    import cloudpickle

    started = time.time()
    worker = _worker()
    address = "" if worker is None else str(worker.address)
    if worker is not None:
        worker.log_event(START_TOPIC, {"key": key, "time": started, "address": address})
    if upstream:
        loaded: dict[int, Any] = {}
        args = _unwrap(args, upstream, loaded)
        kwargs = _unwrap(kwargs, upstream, loaded)
    status, value, tb = _outcome(fn, args, kwargs, key)
    ended = time.time()
    inline = True
    if status == "raised":
        payload = _pickled_exception(value)
    else:
        try:
            payload = cloudpickle.dumps(value)
            inline = len(payload) <= INLINE_LIMIT or _may_hold_states(value)
        except Exception as error:
            status, tb = "raised", ""
            payload = cloudpickle.dumps(
                UnpicklableResult(
                    f"the task returned a {type(value).__name__}, which could not be pickled to "
                    f"leave the worker: {type(error).__name__}: {error}; return a picklable value"
                )
            )
    envelope = (status, payload, tb, started, ended, address)
    if worker is not None:
        shown = envelope if inline else (status, None, tb, started, ended, address)
        worker.log_event(END_TOPIC, {"key": key, "envelope": shown})
    return envelope


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
