"""How commands take Ctrl-C and SIGTERM.

Under ``flowhook run``, the first SIGINT raises ``KeyboardInterrupt`` where the flow is, as
Python does: the run ends Crashed, its hooks run and its states are recorded. A second SIGINT,
whenever it comes (during those hooks, the summary, or the interpreter's shutdown, which joins
threads the flow left running), prints one line and exits 130 without unwinding: an exception
there would print a traceback from wherever Python happened to be. What was not recorded by then
is found by ``flowhook runs reap``, as for any process that died.

Commands that loop until stopped (``watch``, ``runs logs --follow``) finish the step under way
instead: :func:`stop_on_signals`.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from types import FrameType

__all__ = ["INTERRUPTED", "StopRequest", "exit_on_second_interrupt", "stop_on_signals"]

#: Exit status after Ctrl-C: 128 + SIGINT, as a shell reports a process the signal ended.
INTERRUPTED = 128 + signal.SIGINT

_SHOW_CURSOR = b"\x1b[?25h"  # the live display hides it; a process that exits at once must not
_LINE = (
    b"\nflowhook: interrupted again: exiting now "
    b"(`flowhook runs reap` records what was left unrecorded)\n"
)


class _Interrupts:
    def __init__(self) -> None:
        self.received = 0

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.received += 1
        if self.received == 1:
            raise KeyboardInterrupt
        _exit_now()


def _exit_now() -> None:
    for stream in (sys.stdout, sys.stderr):
        # A write of the main thread may have been interrupted half way: drop its rest.
        with contextlib.suppress(Exception):
            stream.flush()
    if os.isatty(2):
        os.write(2, _SHOW_CURSOR)
    os.write(2, _LINE)
    os._exit(INTERRUPTED)


def exit_on_second_interrupt() -> None:
    """From now until the process ends, a second Ctrl-C exits 130 with one line (main thread
    only: elsewhere Python's own handling stays)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _Interrupts())


class StopRequest:
    """A stop that a signal handler asks for, and a wait that ends as soon as it does.

    Asking only sets a flag and writes a byte to a socket that :meth:`wait` selects on. A
    :class:`threading.Event` cannot be set from a handler: the handler runs in the main thread,
    which may be inside the event's own ``wait``, holding its lock, and would then wait for
    itself forever.
    """

    def __init__(self) -> None:
        self.requested = False
        self._reader, self._writer = socket.socketpair()
        self._writer.setblocking(False)

    def request(self) -> None:
        """Ask for the stop: safe in a signal handler, and from any thread."""
        self.requested = True
        with contextlib.suppress(OSError):  # a full buffer already wakes the waiter; closed: done
            self._writer.send(b"\0")

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the stop; whether it was asked for."""
        if not self.requested:
            select.select([self._reader], [], [], seconds)
        return self.requested

    def close(self) -> None:
        self._reader.close()
        self._writer.close()


@contextlib.contextmanager
def stop_on_signals(*signals: signal.Signals) -> Iterator[StopRequest]:
    """While the block runs (in the main thread), the first of ``signals`` asks the returned
    request to stop, and the next one ends the block at once (a ``KeyboardInterrupt``, which
    goes no further)."""
    request = StopRequest()

    def handle(signum: int, frame: FrameType | None) -> None:
        if request.requested:
            raise KeyboardInterrupt
        request.request()

    previous = {number: signal.signal(number, handle) for number in signals}
    try:
        yield request
    except KeyboardInterrupt:
        pass
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        request.close()
