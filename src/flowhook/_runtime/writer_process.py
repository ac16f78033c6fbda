"""The writer process (``FLOWHOOK_STORE_WRITER=process``): the flow's process only ships writes.

:class:`ProcessWriter` has :class:`~flowhook.store.BatchWriter`'s interface. What is submitted
goes as frames of plain values (:mod:`.writer_wire`), shipped by the flow's thread every 256
entries and by a sender thread every ``linger`` seconds, to a child (:mod:`.writer_child`) that
makes the rows and writes them on its own connection. A caller that waits (a run's start, a
top-level run's end, ``flush``) goes on once the child acknowledges the frame of its writes.

- Start-up: the child starts once the process submitted ``START_AFTER`` writes (with
  ``long_runs_only``, as ``FLOWHOOK_STORE_WRITER=auto`` has it: that many with no wait between
  them, in one long run); until it is ready a thread writer writes, flushed before the first
  frame (order holds): a short script neither starts nor waits for it.
- The child dies: the frames it had not acknowledged as written are written again here, each
  with the key the child would have given a batch ending with it (the store skips those it
  committed), then a thread writer takes over; one error says so.
- The flow's process dies: the child's input ends; it writes what it received, without a
  heartbeat, and exits (the reaper then marks the runs Crashed as always).
- ``fork``: the child of a fork never writes into the pipe (its ends are made ``/dev/null``)."""

from __future__ import annotations

import logging
import marshal
import os
import pickle
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from itertools import repeat, starmap
from typing import IO

from ..store import (
    BatchWriter,
    Store,
    StoreSettings,
    Waiter,
    Write,
    writes_and_waiters,
)
from . import writer_wire as wire
from .writer_choice import AUTO_START_AFTER, START_AFTER, transitions_counted
from .writer_recovery import Frame, write_again

__all__ = ["ProcessWriter"]

logger = logging.getLogger("flowhook.store")

#: Entries (a transition's writes, mostly) per frame. A smaller frame keeps the child closer
#: behind the flow, so that a run's end waits for less: with 1,024, a flow of 2,000 task runs
#: took 8 % longer per task run (docs/performance.md, "``auto``").
FRAME_ENTRIES = 256


class ProcessWriter:
    """Applies writes to the store from a child process, in the order they were submitted."""

    def __init__(
        self,
        settings: StoreSettings,
        store: Store,
        process_id: int,
        *,
        wait_timeout: float = 60.0,
        on_outbox: Callable[[], None] | None = None,
        max_held_back: int = 200_000,
        linger: float = 0.05,
        frame_entries: int = FRAME_ENTRIES,
        wait_started: bool = False,
        long_runs_only: bool = False,
    ) -> None:
        self.store, self.process_id, self.on_outbox = store, process_id, on_outbox
        self.wait_timeout, self.linger, self.frame_entries = wait_timeout, linger, frame_entries
        self._options = {"wait_timeout": wait_timeout, "max_held_back": max_held_back}
        #: The thread writer in use: before the child is ready, and after it died; else None.
        self._direct: BatchWriter | None = self._thread_writer(0)
        self._lock = threading.Lock()
        #: Held while a frame is made and written (by the flow's thread or the sender).
        self._shipping = threading.Lock()
        self._entries: deque[tuple[Write, ...] | Waiter] = deque()
        self._wake = threading.Event()
        #: Kept to write again if the child dies: at most ``max_held_back`` writes, as it holds.
        self._frames: deque[Frame] = deque()
        self._kept, self._frames_lock = 0, threading.Lock()
        self._waiting: dict[int, list[Waiter]] = {}
        self._frame = 0
        self._now = self._stop = False
        self._owner = os.getpid()  # another one is a fork's child: it never uses the pipe
        #: The child's figures: everything written, held back, lost, last error.
        self._figures: tuple[bool, int, int, str] = (True, 0, 0, "")
        self._lost, self._lost_by_child, self._failure, self._gone = 0, 0, "", False
        self._ready, self._closed = threading.Event(), threading.Event()
        self._child: subprocess.Popen[bytes] | None = None
        # The store re-inserts a registered process's row when it is gone (pruned, or the
        # file re-created): the child's store must know the registration too.
        info = getattr(store, "_registered", {}).get(process_id)
        self._greeting = (settings, process_id, self._options, info)
        #: Writes since the last wait (all with ``long_runs_only`` off), and how many start it.
        self._long_runs_only, self._in_run, self._earlier = long_runs_only, 0, 0
        self._starting, self._start_at = False, AUTO_START_AFTER if long_runs_only else START_AFTER
        if wait_started:
            self._start()
            self.wait_started(wait_timeout)

    def _start(self) -> None:
        self._starting = True
        try:
            self._child = wire.spawn(self._greeting)
        except (OSError, ValueError) as exc:
            logger.warning(
                "could not start the writer process (%s): runs are written by a thread", exc
            )
            return
        self._reader = threading.Thread(target=self._read, name="flowhook-writer-acks", daemon=True)
        self._sender = threading.Thread(target=self._send, name="flowhook-writer-pipe", daemon=True)
        self._reader.start()
        self._sender.start()

    @property
    def pid(self) -> int | None:
        """The child's process id (None if it could not start)."""
        return None if self._child is None else self._child.pid

    def wait_started(self, timeout: float) -> bool:
        """Wait until the child writes (not the thread writer of the start); whether it does.
        For tests and benchmarks (``FLOWHOOK_STORE_WRITER_WAIT=1``): a run never waits."""
        deadline = time.monotonic() + timeout
        while self._child and self._direct and not self._gone and time.monotonic() < deadline:
            self._wake.set()
            time.sleep(0.005)
        return self._direct is None

    def _thread_writer(self, first_batch: int) -> BatchWriter:
        return BatchWriter(
            self.store,
            self.process_id,
            on_outbox=self.on_outbox,
            first_batch=first_batch,
            **self._options,  # type: ignore[arg-type]
        )

    # -- the flow's side ---------------------------------------------------------------------

    def submit(self, writes: tuple[Write, ...], *, wait: bool = True) -> None:
        """Queue ``writes``; they are shipped within about ``linger`` seconds (``wait=False``:
        never by this caller, which may hold a lock that runs' threads wait for)."""
        if self._direct is not None:
            with self._lock:
                direct = self._direct
                if direct is not None:
                    direct.submit(writes, wait=wait)
                    self._in_run += transitions_counted(writes)
                    if self._in_run >= self._start_at and not self._starting:
                        self._start()
                    return
        self._entries.append(writes)
        if wait and len(self._entries) >= self.frame_entries:
            # Shipped by the flow's thread itself, in one go (no switching to the sender
            # thread and back); a full pipe makes the flow wait for the child.
            self._ship_pending()

    def submit_and_wait(self, writes: tuple[Write, ...]) -> bool:
        """Queue ``writes`` and wait until the child wrote (or tried) them and all before."""
        if self._direct is not None:
            with self._lock:
                direct = self._direct
                if direct is not None:
                    if self._long_runs_only:
                        self._earlier, self._in_run = self._earlier + self._in_run, 0
                        self._start_at = max(START_AFTER, AUTO_START_AFTER - self._earlier)
                    return direct.submit_and_wait(writes)
        if self._owner != os.getpid():
            return False
        waiter = Waiter(writes)
        self._entries.append(waiter)
        self._ship_pending()
        if waiter.wait(self.wait_timeout):
            return True
        logger.error(
            "the store did not record within %.0f s; the run goes on without waiting",
            self.wait_timeout,
        )
        return False

    def flush(self) -> bool:
        """Wait until everything submitted so far is written: one attempt now."""
        if self._direct is not None and self._owner == os.getpid():
            with self._lock:
                direct = self._direct
                if direct is not None:
                    return direct.flush()
        self._now = True
        return self.submit_and_wait(())

    @property
    def everything_written(self) -> bool:
        """Whether the store took every write submitted so far (none is held back)."""
        direct = self._direct
        return direct.everything_written if direct is not None else self._figures[0]

    @property
    def held_back(self) -> int:
        """How many state events wait for the store to take them."""
        direct = self._direct
        return direct.held_back if direct is not None else self._figures[1]

    @property
    def lost(self) -> int:
        """States lost for good (refused data, or past the held-back limit)."""
        direct = self._direct
        return self._lost + (direct.lost if direct is not None else self._figures[2])

    @property
    def last_error(self) -> str:
        direct = self._direct
        return direct.last_error if direct is not None else self._figures[3]

    def close(self) -> None:
        """Write what is queued, then stop the child (and the thread writer, if one is used)."""
        if self._child is not None and self._owner == os.getpid():
            self._stop = True
            self._wake.set()
            self._sender.join(self.wait_timeout + 5)
            if self._direct is None:  # the sender said close: the child writes and answers
                if wire.said_closed(self._closed, self._reader, self.wait_timeout):
                    wire.end_in_background(self._child, self.wait_timeout)  # 15 ms not waited for
                else:
                    self._recover()
                    wire.end(self._child, self.wait_timeout)
            elif self._child.poll() is None:  # it has nothing to write
                self._child.kill()
                self._child.wait()
        if self._direct is not None:
            self._ship_pending()  # what came in while it took over
            self._direct.close()
        if self._lost_by_child:
            logger.error(
                "flowhook: %d state events were not recorded in %s: the writer process had "
                "dropped them, held back past FLOWHOOK_HELD_BACK_LIMIT, before it ended",
                self._lost_by_child,
                self.store.location,
            )

    # -- the sender thread ----------------------------------------------------------------
    def _send(self) -> None:
        while True:
            self._wake.wait(self.linger)
            self._wake.clear()
            if self._direct is not None:  # the child is starting, failed, or died
                if self._gone and not self._ready.is_set():
                    self._not_started()
                if self._stop or self._gone:
                    return
                if self._ready.is_set():
                    self._switch()
                continue
            if self._gone:
                self._recover()
                return
            self._ship_pending()
            if self._stop and not self._entries:
                with self._shipping:
                    self._put(marshal.dumps(("close",)))
                return

    def _not_started(self) -> None:
        code = self._child.poll()  # type: ignore[union-attr]
        logger.warning(
            "the writer process did not start (%s): runs are written by a thread",
            self._failure or f"exit code {code}",
        )

    def _switch(self) -> None:
        """The child is ready: the thread writer writes what it holds, then the frames start
        (numbered past its batches). Not while it holds writes back: tried at each linger."""
        direct = self._direct
        if direct is None or not direct.everything_written:
            return
        with self._lock:
            if not direct.flush() or not direct.everything_written:
                return
            direct.close()
            self._lost, self._frame = direct.lost, direct.last_batch
            self._direct = None

    def _ship_pending(self) -> None:
        """Ship what is queued as one frame; once a thread writer took over, hand it that."""
        with self._shipping:
            if self._direct is not None:
                self._hand_over(self._direct)
            elif not self._gone:
                entries = self._take()
                if entries:
                    self._ship(entries)

    def _hand_over(self, writer: BatchWriter) -> None:
        for entry in self._take():
            if type(entry) is tuple:
                writer.submit(entry)
            else:
                writer.submit_then(entry.writes, entry.set, number=0, now=False)  # type: ignore[union-attr]

    def _take(self) -> list[tuple[Write, ...] | Waiter]:
        entries = self._entries
        return list(starmap(entries.popleft, repeat((), len(entries))))

    def _ship(self, entries: list[tuple[Write, ...] | Waiter]) -> None:
        writes, waiters = writes_and_waiters(entries)
        self._frame += 1
        now, self._now = self._now, False
        # Kept as shipped, not as the writes: they are freed here, in this thread, while hot,
        # not by the reader of the acknowledgements (0.5 us per task run in that thread).
        data, count = wire.frame_data(self._frame, writes, now), len(writes)
        with self._frames_lock:
            self._frames.append((self._frame, data, count))
            self._kept += count
            while self._kept > self._options["max_held_back"] and len(self._frames) > 1:
                self._kept -= self._frames.popleft()[2]
        if waiters:
            self._waiting[self._frame] = waiters
        self._put(data)

    def _put(self, data: bytes) -> None:
        pipe = self._child.stdin  # type: ignore[union-attr]
        try:
            pipe.write(len(data).to_bytes(4, "little") + data)  # type: ignore[union-attr]
            pipe.flush()  # type: ignore[union-attr]
        except (OSError, ValueError):
            self._gone = True  # the reader sees the end too; the next loop recovers

    # -- the reader thread ----------------------------------------------------------------

    def _read(self) -> None:
        source: IO[bytes] = self._child.stdout  # type: ignore[union-attr, assignment]
        while True:
            try:
                message = pickle.load(source)
            except Exception:
                break
            kind = message[0]
            if kind == "ack":
                self._acked(message[1], tuple(message[2:]))
            elif kind == "outbox" and self.on_outbox is not None:
                self.on_outbox()
            elif kind == "log":
                logging.getLogger(message[1]).log(message[2], "%s", message[3])
            elif kind == "outage":
                wire.relay_outage(self.store, message)
            elif kind == "ready":
                self._ready.set()
            elif kind == "closed":
                self._figures = tuple(message[1:])
                self._closed.set()
            elif kind == "failed":
                self._failure = message[1]
        if not self._closed.is_set():
            self._gone = True
            self._wake.set()

    def _acked(self, frame: int, figures: tuple[bool, int, int, str]) -> None:
        self._figures = figures
        self._release(frame)
        if figures[0]:
            with self._frames_lock:
                frames = self._frames
                while frames and frames[0][0] <= frame:
                    self._kept -= frames.popleft()[2]

    def _release(self, frame: int) -> None:
        """The callers waiting for ``frame`` go on."""
        for waiter in self._waiting.pop(frame, ()):
            waiter.set()

    def _recover(self) -> None:
        """The child died (or hangs, at close): write again, here, what it had not written; a
        thread writer goes on. A hung child is killed first: it must not commit after this."""
        child = self._child
        if child is not None and child.poll() is None:
            child.kill()
        code = None if child is None else child.wait()
        self._reader.join(self.wait_timeout)
        with self._shipping:  # a frame being made is kept first; no other is made after
            frames = list(self._frames)
            self._frames.clear()
        logger.error(
            "the store's writer process ended unexpectedly (exit code %s): this process writes "
            "its runs itself from now on, starting with the %d writes it had not written",
            code,
            sum(count for _, _, count in frames),
        )
        self._lost += self._figures[2]
        self._lost_by_child = self._figures[2]  # said at close: the child cannot say it now
        fallback = self._thread_writer((self._frame + 1) * wire.FRAME_KEYS)
        write_again(self.store, self.process_id, frames, fallback, self._release)
        with self._shipping, self._lock:
            self._hand_over(fallback)
            self._direct = fallback
