"""Ctrl-C under ``flowhook run``: the first ends the run, a second one exits at once.

The first SIGINT raises ``KeyboardInterrupt`` where the flow is, as Python does: the run ends
Crashed, its hooks run and its states are recorded. A second SIGINT, whenever it comes (during
those hooks, the summary, or the interpreter's shutdown, which joins threads the flow left
running), prints one line and exits 130 without unwinding: an exception there would print a
traceback from wherever Python happened to be. What was not recorded by then is found by
``flowhook runs reap``, as for any process that died.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from types import FrameType

__all__ = ["INTERRUPTED", "exit_on_second_interrupt"]

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
