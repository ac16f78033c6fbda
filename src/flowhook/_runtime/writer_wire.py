"""What the flow's process hands the writer process (writes as plain values, cheap to send),
and starting and ending that process.

A :class:`~flowhook.store.Transition` holds the engine's State and datetimes, and a run's ids
are UUID objects: pickling those costs more than writing them. :func:`encode` (in the flow's
process) turns the two writes made on every transition into plain tuples: the state's columns
with its type's value and times as seconds, ids as the UUID's integer. Everything else (text
ids, rows, JSON) is made by :func:`decode` and the store, in the writer process. The other
writes (logs, hook errors, outbox entries, beats) are rare: each goes pickled.

Messages on the pipes (to the writer: a pickle first, then :mod:`marshal` data, twice as fast
for plain values, each after its length in 4 bytes; from the writer: pickles):

- to the writer: ``(settings, process_id, options, registration)`` first, then
  ``("w", frame, writes, now)``
  for each frame (numbered from 1 up; ``now``: write at once, even while the store is down),
  and ``("close",)`` at the end. End of file: the flow's process is gone.
- from the writer: ``("ready",)`` once the store is open (or ``("failed", message)``),
  ``("ack", frame, everything_written, held_back, lost, last_error)`` once a frame's writes
  were tried, ``("outbox",)`` after a batch that queued notifications, ``("log", logger, level,
  message)`` for its log records, ``("closed", ...)`` with the figures of ``ack`` at the end.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
import weakref
from collections.abc import Iterable
from typing import Any

from flowhook_hookspec.states import StateType

from ..store import NewRun, Transition, Write, state_columns

__all__ = ["FRAME_KEYS", "decode", "encode", "end", "spawn"]

#: A batch of the writer process holding frames up to ``n`` has key number ``n * FRAME_KEYS``
#: (or just above it): a frame the flow's process writes again itself after the writer died,
#: with key ``frame * FRAME_KEYS``, is skipped by the store if a batch holding it committed.
FRAME_KEYS = 1000

_COMPLETED = StateType.COMPLETED
#: The writer processes this process started (their pipes: see ``_after_fork_in_child``).
_children: weakref.WeakSet[subprocess.Popen[bytes]] = weakref.WeakSet()
_new = tuple.__new__


def encode(writes: Iterable[Any]) -> list[Any]:
    """``writes`` as plain values, in the flow's process: runs for every transition."""
    wire: list[Any] = []
    append = wire.append
    for write in writes:
        kind = type(write)
        if kind is Transition:
            run_kind, run_id, history_id, state, count, start, end, tb = write
            stamp = state.timestamp
            seconds = stamp.timestamp()
            if state.scheduled_time is None and (state.data is None or state.type is _COMPLETED):
                columns = (
                    state.type._value_,
                    state.name,
                    state.message,
                    seconds,
                    None,
                    None,
                    None,
                    tb,
                )
            else:
                columns = (state.type._value_, *state_columns(state, tb)[1:])
            end = None if end is None else seconds if end is stamp else end.timestamp()
            start = None if start is None else start.timestamp()
            history = None if history_id is run_id else history_id.int
            append((run_kind, run_id.int, history, columns, count, start, end))
        elif kind is NewRun:
            first, parents = write[:7], write[7:10]
            ids = tuple(None if parent is None else parent.int for parent in parents)
            append((first[0], first[1].int, *first[2:], *ids, *write[10:]))
        else:  # rare, and named tuples: not marshal's
            append(pickle.dumps(write, 5))
    return wire


def _text(number: int, texts: dict[int, str]) -> str:
    """The UUID ``number`` as text (as ``str(UUID(int=number))``), one object per run."""
    found = texts.get(number)
    if found is None:
        if len(texts) > 50_000:
            texts.clear()
        h = f"{number:032x}"
        found = texts[number] = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return found


def decode(wire: list[Any], texts: dict[int, str]) -> tuple[Write, ...]:
    """The writes :func:`encode` made, in the writer process: ids as text (``texts`` keeps one
    text object per run, which :func:`~flowhook.store._batch.prepare_batch` groups by)."""
    writes: list[Any] = []
    append = writes.append
    for item in wire:
        if type(item) is bytes:
            append(pickle.loads(item))
        elif len(item) == 7:  # a transition
            run_kind, run_id, history_id, columns, count, start, end = item
            run = _text(run_id, texts)
            history = run if history_id is None else _text(history_id, texts)
            values = (run_kind, run, history, columns, count, start, end, columns[7])
            append(_new(Transition, values))
        else:  # a new run
            ids = tuple(None if value is None else _text(value, texts) for value in item[7:10])
            append(_new(NewRun, (item[0], _text(item[1], texts), *item[2:7], *ids, *item[10:])))
    return tuple(writes)


def spawn(greeting: tuple[Any, ...]) -> subprocess.Popen[bytes]:
    """The writer process, started in the background and told the store's settings on its pipe
    (never on its command line, which other users can read)."""
    if not sys.executable:
        raise ValueError("no Python interpreter to start")
    if getattr(sys, "frozen", False):  # sys.executable is the application itself
        raise ValueError("a frozen application has no Python interpreter to start")
    child = subprocess.Popen(
        [sys.executable, "-m", "flowhook._runtime.writer_child"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    pickle.dump(greeting, child.stdin, 5)  # type: ignore[arg-type]
    child.stdin.flush()  # type: ignore[union-attr]
    _children.add(child)
    return child


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
