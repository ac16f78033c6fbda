"""What the flow's process hands the writer process (writes as plain values, cheap to send),
and starting and ending that process.

The two writes made on every transition are plain records already (the recorder makes them
with :func:`~flowhook.store.transition_record`: the state's columns, times as seconds, ids as
the UUID's integer), which go as they are; text ids, rows and JSON are made by the store, in
the writer process. The other writes (logs, hook errors, outbox entries, beats) are rare: each
goes pickled.

Messages on the pipes (to the writer: pickles first, then :mod:`marshal` data, twice as fast
for plain values, each after its length in 4 bytes; from the writer: pickles):

- to the writer: the flow's process's ``sys.path``, its :func:`wire_identity`, ``(settings,
  process_id, options, registration)``, then
  ``("w", frame, writes, now)``
  for each frame (numbered from 1 up; ``now``: write at once, even while the store is down),
  ``("p", frame, writes, now)`` for one in which some writes are pickles (:func:`decode`),
  and ``("close",)`` at the end. End of file: the flow's process is gone.
- from the writer: ``("ready",)`` once the store is open (or ``("failed", message)``, also
  when its :func:`wire_identity` is not the flow's process's),
  ``("ack", frame, everything_written, held_back, lost, last_error)`` once a frame's writes
  were tried, ``("outbox",)`` after a batch that queued notifications, ``("log", logger, level,
  message)`` for its log records, ``("outage", "lost" or "back", location, reason)`` for a
  PostgreSQL server it lost or has back (said by the flow's process, once for both),
  ``("closed", ...)`` with the figures of ``ack`` at the end.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import pickle
import subprocess
import sys
import threading
import time
import weakref
from typing import IO, Any

from .._version import __version__
from ..store import Store, Write
from .writer_choice import interpreter_problem

__all__ = [
    "FRAME_KEYS", "WIRE_VERSION", "decode", "end", "end_in_background", "frame_data",
    "frame_writes", "relay_outage", "said_closed", "spawn", "wire_identity", "wire_mismatch",
    "writes_of",
]  # fmt: skip

#: A batch of the writer process holding frames up to ``n`` has key number ``n * FRAME_KEYS``
#: (or just above it): a frame the flow's process writes again itself after the writer died,
#: with key ``frame * FRAME_KEYS``, is skipped by the store if a batch holding it committed.
FRAME_KEYS = 1000

#: The layout of the messages above and of the plain records they carry (``_records.py``'s
#: ``*_FIELDS``). Raise it with any change to either: a writer process started from other code
#: than its flow's process (flowhook upgraded on disk while that process ran) then refuses to
#: write for it, rather than misread its frames.
WIRE_VERSION = 2

#: The writer processes this process started (their pipes: see ``_after_fork_in_child``).
_children: weakref.WeakSet[subprocess.Popen[bytes]] = weakref.WeakSet()


def frame_data(frame: int, writes: list[Write], now: bool) -> bytes:
    """The message of frame number ``frame`` (see above) as :mod:`marshal` data, in the flow's
    process: the writes as they are when they are all plain records (nearly always), else
    with each other write pickled."""
    try:
        return marshal.dumps(("w", frame, writes, now))
    except ValueError:  # a rare write (a named tuple), or text of a subclass of str
        return marshal.dumps(("p", frame, [_wire(write) for write in writes], now))


def _wire(write: Write) -> Any:
    if type(write) is tuple:  # a record with text of a subclass of str, say: as the store has it
        write = tuple(_value(value) for value in write)
        with contextlib.suppress(ValueError):
            marshal.dumps(write)
            return write
    return pickle.dumps(write, 5)


def _value(value: Any) -> Any:
    """A value of a subclass of str, int or float as one of that type itself (the value a
    store writes of it); any other value as it is."""
    for base, plain in _PLAIN:
        if isinstance(value, base) and type(value) is not bool:
            return plain(value)  # the base type's own method, never the subclass's
    return value


#: A value of a subclass of each type, turned into one of that type.
_PLAIN: tuple[tuple[type, Any], ...] = (
    (str, str.__str__),
    (int, int.__int__),
    (float, float.__float__),
)


def decode(wire: list[Any]) -> list[Write]:
    """The writes of a ``"p"`` frame, in the writer process (a ``"w"`` frame's are as sent)."""
    return [pickle.loads(item) if type(item) is bytes else item for item in wire]


def writes_of(kind: str, wire: list[Any]) -> list[Write]:
    """The writes of a frame's message of ``kind`` (``"w"`` or ``"p"``) as the store takes
    them."""
    return wire if kind == "w" else decode(wire)


def frame_writes(data: bytes) -> list[Write]:
    """The writes of a frame shipped as ``data`` (:func:`frame_data`): for the flow's process,
    which writes them itself when the writer process died before it acknowledged them."""
    kind, _, wire, _ = marshal.loads(data)
    return writes_of(kind, wire)


def wire_identity() -> str:
    """What the flow's process and its writer process must share to understand each other:
    flowhook's version and :data:`WIRE_VERSION`, as each imported them."""
    return f"flowhook {__version__}, wire {WIRE_VERSION}"


def wire_mismatch(theirs: object) -> str | None:
    """Why a writer process cannot write for a flow's process of identity ``theirs`` (sent
    first on its pipe), or None when it can."""
    ours = wire_identity()
    if theirs == ours:
        return None
    return (
        f"it runs {ours}, the flow's process {theirs}: flowhook was upgraded or reinstalled "
        "while the flow's process ran; restart that process to write through a writer process "
        "again"
    )


def relay_outage(store: Store, message: tuple[Any, ...]) -> None:
    """The writer process's ``("outage", event, location, reason)`` (a PostgreSQL store's, see
    its ``Outage.relay``): said by this process's own outage, once for both processes."""
    outage = getattr(store, "outage", None)
    if outage is not None:
        outage.relayed(message[1], message[3])


#: The writer process's first statements: it imports from where this process does (its
#: ``sys.path``, first on the pipe), so that a flowhook found through a path a script, a zip
#: application or a PEX file added is found there too.
_BOOTSTRAP = (
    "import pickle, sys; sys.path[:] = pickle.load(sys.stdin.buffer); "
    "from flowhook._runtime.writer_child import main; main()"
)


def spawn(greeting: tuple[Any, ...]) -> subprocess.Popen[bytes]:
    """The writer process, started in the background and told this process's ``sys.path``,
    its :func:`wire_identity`, then the store's settings, on its pipe (never on its command
    line, which other users can read)."""
    problem = interpreter_problem()
    if problem is not None:
        raise ValueError(problem)
    child = subprocess.Popen(
        [sys.executable, "-c", _BOOTSTRAP], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    _widen(child.stdin)  # type: ignore[arg-type]
    path = [entry for entry in sys.path if isinstance(entry, str)]
    for message in (path, wire_identity(), greeting):
        pickle.dump(message, child.stdin, 5)  # type: ignore[arg-type]
    child.stdin.flush()  # type: ignore[union-attr]
    _children.add(child)
    return child


#: The room of the pipe to the writer process, in bytes, where the system allows it (Linux):
#: about 30 frames of 256 writes (33 kB each) where a pipe's default 64 kB holds two, so that
#: the flow's thread goes on while the child's reading waits its turn for the GIL behind its
#: writer thread.
PIPE_BYTES = 1 << 20


def _widen(pipe: IO[bytes]) -> None:
    """Give ``pipe`` room for several frames (else leave it as it is)."""
    try:
        import fcntl
    except ImportError:  # Windows
        return
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is None:  # not Linux
        return
    try:
        with open("/proc/sys/fs/pipe-max-size") as limit:
            size = min(PIPE_BYTES, int(limit.read()))
    except (OSError, ValueError):
        size = PIPE_BYTES
    with contextlib.suppress(OSError):  # past the user's limit on pipe memory: as it is
        fcntl.fcntl(pipe.fileno(), set_size, size)


def end(child: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """Close the writer process's input (it writes what it has, then exits) and wait for it."""
    if child is None:
        return
    with contextlib.suppress(OSError):
        child.stdin.close()  # type: ignore[union-attr]
    try:
        child.wait(timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def said_closed(closed: threading.Event, reader: threading.Thread, timeout: float) -> bool:
    """Wait until the writer process said ``closed`` (True: it wrote everything and exits) or
    its answers ended (False: it died), for ``timeout`` seconds at most."""
    deadline = time.monotonic() + timeout
    while not closed.wait(0.01) and reader.is_alive() and time.monotonic() < deadline:
        pass
    return closed.is_set()


def end_in_background(child: subprocess.Popen[bytes], timeout: float) -> None:
    """:func:`end`, in a thread of its own: for a child that said it wrote everything and is
    exiting (a process exiting meanwhile leaves it to the system)."""
    threading.Thread(
        target=end, args=(child, timeout), name="flowhook-writer-end", daemon=True
    ).start()


def _after_fork_in_child() -> None:
    """A forked child of the flow's process: its copies of the pipes point at /dev/null, so
    that it never writes into the writer's pipe, nor keeps it open after the parent dies."""
    null = os.open(os.devnull, os.O_RDWR)
    for child in list(_children):
        for pipe in (child.stdin, child.stdout):
            if pipe is not None and not pipe.closed:
                os.dup2(null, pipe.fileno())
    os.close(null)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
