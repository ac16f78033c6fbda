"""Time limits for sync bodies: a watchdog that interrupts the thread running the body.

A thread cannot be killed in Python, but it can be handed an exception: when the limit passes,
the watchdog asks the interpreter to raise :class:`RunTimeout` in the body's thread at its next
bytecode. Pure Python code therefore stops where it is, instead of running on in the background
and changing things after its run ended. Code blocked inside a C call (``time.sleep``, a socket
read without a timeout) is interrupted only when that call returns to Python.

``RunTimeout`` derives from ``BaseException`` so that a body's ``except Exception`` cannot
swallow it.
"""

from __future__ import annotations

import functools
import threading
from types import TracebackType
from typing import Any


class RunTimeout(BaseException):
    """Raised inside a body whose run exceeded ``timeout_seconds``. Never seen by callers."""


@functools.cache
def _async_exc_setter() -> Any:
    """``PyThreadState_SetAsyncExc``, bound on the first timeout (ctypes costs ~1 ms to import)."""
    import ctypes

    setter = ctypes.pythonapi.PyThreadState_SetAsyncExc
    # A pointer to the exception class, or NULL to withdraw one not yet delivered. RunTimeout
    # lives as long as the module, so passing its address is safe.
    setter.argtypes = (ctypes.c_ulong, ctypes.c_void_p)
    return setter


class Watchdog:
    """``with Watchdog(seconds):`` raises :class:`RunTimeout` in this thread once ``seconds`` pass."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.fired = False
        self._lock = threading.Lock()
        self._armed = False
        self._thread_id = 0
        self._timer: threading.Timer | None = None

    def __enter__(self) -> Watchdog:
        if self.seconds is not None:
            _async_exc_setter()  # bound here, not on the timer's thread when the limit passes
            self._thread_id = threading.get_ident()
            self._armed = True
            self._timer = threading.Timer(self.seconds, self._fire)
            self._timer.daemon = True
            self._timer.start()
        return self

    def _fire(self) -> None:
        with self._lock:
            if self._armed:
                self.fired = True
                _async_exc_setter()(self._thread_id, id(RunTimeout))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._timer is None:
            return
        self._timer.cancel()
        with self._lock:
            self._armed = False
            if self.fired and exc_type is not RunTimeout:
                # Fired after the body finished but before it was delivered: withdraw it, and
                # still report the timeout, since the limit was exceeded.
                _async_exc_setter()(self._thread_id, None)
        if self.fired and exc_type is None:
            raise RunTimeout
