"""The background writer: applies the recorder's writes to the store in batches.

Runs put their writes on a queue and go on; a daemon thread collects whatever has arrived
(lingering a few milliseconds so that a burst of task transitions becomes one transaction) and
applies it in one write. A caller that needs durability (a flow run starting, a top-level flow
run ending) waits for its writes and everything queued before them. A failed batch is logged on
``flowhook.store`` and dropped: the store never fails a run.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._records import Beat, OutboxEntry, Transition, Write

if TYPE_CHECKING:
    from ._protocol import Store

__all__ = ["BatchWriter"]

logger = logging.getLogger("flowhook.store")

_Entry = tuple[tuple[Write, ...], "threading.Event | None"]
_STOP = ((), None)


class _ErrorLog:
    """Logs the first store error at once, then at most one summary a minute."""

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self.last = -interval
        self.suppressed = 0

    def error(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self.last < self.interval:
            self.suppressed += 1
            return
        if self.suppressed:
            message += " (%d similar errors in the last minute were not logged)"
            args = (*args, self.suppressed)
        self.last, self.suppressed = now, 0
        logger.error(message, *args)


class BatchWriter:
    """Applies writes to ``store`` from one daemon thread, in the order they were submitted."""

    def __init__(
        self,
        store: Store,
        process_id: int | None,
        *,
        linger: float = 0.05,
        max_batch: int = 5000,
        max_backlog: int = 2000,
        wait_timeout: float = 60.0,
        on_outbox: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.process_id = process_id
        self.linger = linger
        self.max_batch = max_batch
        self.max_backlog = max_backlog
        self.wait_timeout = wait_timeout
        #: Called after a batch that enqueued notifications is committed (wakes the sender).
        self.on_outbox = on_outbox
        self._queue: queue.SimpleQueue[_Entry] = queue.SimpleQueue()
        self._urgent = threading.Event()
        self._errors = _ErrorLog()
        self._thread = threading.Thread(
            target=self._loop, name="flowhook-store-writer", daemon=True
        )
        self._thread.start()

    def submit(self, writes: tuple[Write, ...]) -> None:
        """Queue ``writes``; they are applied within about ``linger`` seconds.

        When more than ``max_backlog`` entries wait, the caller waits until they are written:
        a writer starved of the GIL by a busy run would otherwise fall ever further behind,
        holding every state in memory and writing nothing until the run ends.
        """
        self._queue.put((writes, None))
        if self._queue.qsize() > self.max_backlog:
            self.submit_and_wait(())

    def submit_and_wait(self, writes: tuple[Write, ...]) -> bool:
        """Queue ``writes`` and wait until they and all earlier writes are applied (or failed).

        False when the writer did not answer within ``wait_timeout`` (logged).
        """
        done = threading.Event()
        self._queue.put((writes, done))
        self._urgent.set()
        if done.wait(self.wait_timeout):
            return True
        self._errors.error(
            "the store did not record within %.0f s; the run goes on without waiting",
            self.wait_timeout,
        )
        return False

    def flush(self) -> bool:
        """Wait until everything submitted so far is applied."""
        if not self._thread.is_alive():
            return False
        return self.submit_and_wait(())

    def close(self) -> None:
        """Apply what is queued, then stop the thread."""
        if self._thread.is_alive():
            self.flush()
            self._queue.put(_STOP)
            self._urgent.set()
            self._thread.join(self.wait_timeout)

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            if first[1] is None and not self._urgent.is_set():
                self._urgent.wait(self.linger)
            self._urgent.clear()
            entries = [first]
            stop = False
            try:
                while len(entries) < self.max_batch:
                    entry = self._queue.get_nowait()
                    if entry is _STOP:
                        stop = True
                        break
                    entries.append(entry)
            except queue.Empty:
                pass
            self._apply(entries)
            if stop:
                return

    def _apply(self, entries: list[_Entry]) -> None:
        writes: list[Write] = [write for batch, _ in entries for write in batch]
        try:
            if writes:
                if self.process_id is not None:
                    writes.append(Beat(self.process_id, time.time()))
                self.store.write(writes)
                if self.on_outbox is not None and any(isinstance(w, OutboxEntry) for w in writes):
                    self.on_outbox()
        except Exception as exc:
            lost = sum(isinstance(write, Transition) for write in writes)
            self._errors.error(
                "could not record %d state events in %s (%s: %s); the runs go on without them",
                lost,
                self.store.location,
                type(exc).__name__,
                exc,
            )
        finally:
            for _, done in entries:
                if done is not None:
                    done.set()
