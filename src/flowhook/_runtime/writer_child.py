"""The writer process's own side: the store's :class:`~flowhook.store.BatchWriter`, fed from a pipe.

Started by :class:`~.writer_process.ProcessWriter` (:func:`.writer_wire.spawn`, with the flow's
process's ``sys.path``); it reads the messages of :mod:`.writer_wire` on its standard
input and answers on its standard output (its prints, if any, go to standard error). It opens
its own connection to the store and writes with the same writer a thread would use: batches,
keys, held-back writes and run-by-run writes are the same.

When its input ends without ``close`` the flow's process is gone: what it received is written,
without a heartbeat (the process is dead; the reaper must see that), and it exits.
"""

from __future__ import annotations

import logging
import marshal
import os
import pickle
import signal
import sys
import threading
from functools import partial
from typing import Any, BinaryIO

from ..store import BatchWriter, open_store
from .writer_wire import FRAME_KEYS, wire_mismatch, writes_of

__all__ = ["main"]

#: Frames read but not yet written, at most: past it the pipe fills and the flow's process waits.
MAX_FRAMES = 64


class _Channel:
    """The answers to the flow's process; once it is gone, log records go to standard error."""

    def __init__(self, sink: BinaryIO) -> None:
        self.sink = sink
        self.lock = threading.Lock()
        self.open = True

    def poke(self) -> None:
        """A batch queued notifications: the flow's process wakes its sender."""
        self.send(("outbox",))

    def send(self, message: tuple[Any, ...]) -> bool:
        with self.lock:
            if self.open:
                try:
                    pickle.dump(message, self.sink, 5)
                    self.sink.flush()
                except (OSError, ValueError):
                    self.open = False
            return self.open


class _Forward(logging.Handler):
    """Sends the writer's log records to the flow's process, which logs them there."""

    def __init__(self, channel: _Channel) -> None:
        super().__init__(logging.INFO)
        self.channel = channel

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if not self.channel.send(("log", record.name, record.levelno, text)):
            sys.stderr.write(f"{record.name}: {text}\n")


def _figures(writer: BatchWriter) -> tuple[Any, ...]:
    written = writer.everything_written
    return (written, 0 if written else writer.held_back, writer.lost, writer.last_error)


def main() -> None:
    """Serve one flow's process until it closes the pipe or is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the flow's process to handle
    source = sys.stdin.buffer
    channel = _Channel(os.fdopen(os.dup(1), "wb"))
    os.dup2(2, 1)
    log = logging.getLogger("flowhook")
    log.addHandler(_Forward(channel))
    log.setLevel(logging.INFO)
    log.propagate = False
    mismatch = wire_mismatch(pickle.load(source))
    if mismatch is not None:  # what follows may not even unpickle here
        channel.send(("failed", mismatch))
        return
    settings, process_id, options, registered = pickle.load(source)
    try:
        store = open_store(settings, migrate=False)
    except Exception as exc:
        channel.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    if registered is not None:  # its row is put back if gone, as the flow's process's store does
        store._registered[process_id] = registered  # type: ignore[attr-defined]
    outage = getattr(store, "outage", None)  # PostgreSQL's: said by the flow's process
    if outage is not None:
        type(outage).relay = lambda *event: channel.send(("outage", *event))
    writer = BatchWriter(store, process_id, on_outbox=channel.poke, **options)
    channel.send(("ready",))
    try:
        _serve(source, writer, channel)
    finally:
        store.close()


def _frame(source: BinaryIO) -> bytes:
    """The next message (its length, then itself: ``marshal.load`` on a pipe would read it
    piece by piece); EOFError at the end of the input."""
    size = int.from_bytes(source.read(4), "little")
    data = source.read(size) if size else b""
    if not data or len(data) < size:
        raise EOFError
    return data


def _serve(source: BinaryIO, writer: BatchWriter, channel: _Channel) -> None:
    room = threading.BoundedSemaphore(MAX_FRAMES)

    def tried(frame: int) -> None:
        room.release()
        channel.send(("ack", frame, *_figures(writer)))

    while True:
        try:
            message = marshal.loads(_frame(source))
        except Exception:  # end of file, or cut off mid-message: the flow's process is gone
            writer.beats = False
            writer.close()
            return
        if message[0] == "close":
            writer.close()
            channel.send(("closed", *_figures(writer)))
            return
        kind, frame, wire, now = message
        room.acquire()
        writes = tuple(writes_of(kind, wire))
        writer.submit_then(writes, partial(tried, frame), number=frame * FRAME_KEYS, now=now)


if __name__ == "__main__":
    main()
