"""The background writer: applies the recorder's writes to the store in batches.

Runs put their writes on a queue and go on. A daemon thread applies what has arrived in one
write, lingering a few milliseconds so that a burst becomes one transaction; a caller that needs
durability (a flow run's start, a top-level run's end) waits for its writes and all before them.
A batch the store cannot take is kept and tried again; one whose ``COMMIT`` was lost is replayed
with its :class:`BatchKey`, which the store skips; one whose data it refuses is written run by
run (docs/store.md, "When the store cannot write").
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._batch import Entry, Waiter, moved_run, moved_runs, run_key, writes_and_waiters
from ._records import BatchKey, Beat, OutboxEntry, Write, id_text

if TYPE_CHECKING:
    from ._protocol import Store

__all__ = ["BatchWriter"]

logger = logging.getLogger("flowhook.store")


_STOP = Waiter(())

#: Writes held back while the store cannot be written, at most (``FLOWHOOK_HELD_BACK_LIMIT``);
#: beyond, the oldest are dropped (and counted): a process must not run out of memory because
#: its store is down.
MAX_HELD_BACK = 200_000
#: A run whose writes the store refused this many times, while it took other runs', is left out.
MAX_REFUSALS = 3


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
        max_held_back: int = MAX_HELD_BACK,
        first_batch: int = 0,
    ) -> None:
        self.store = store
        self.max_held_back = max_held_back
        self.process_id = process_id
        self.linger = linger
        self.max_batch = max_batch
        self.max_backlog = max_backlog
        self.wait_timeout = wait_timeout
        #: Called after a batch that enqueued notifications is committed (wakes the sender).
        self.on_outbox = on_outbox
        self._queue: queue.SimpleQueue[Entry] = queue.SimpleQueue()
        self._urgent = threading.Event()
        self._errors = _ErrorLog()
        #: Writes the store could not take yet, oldest first; tried again with the next batch.
        self._held: list[Write] = []
        #: The first ``_keyed`` held writes were sent as batch ``_held_key`` and the store may
        #: have committed them: they are sent again as that batch, alone, before any other.
        self._keyed = 0
        self._held_key: BatchKey | None = None
        #: The number of the last batch key given (a writer taking over numbers above it); the
        #: next is above it and ``_number``.
        self.last_batch = first_batch
        self._number = 0
        #: Whether each batch carries a heartbeat of the process (not for a parent gone).
        self.beats = True
        self._retry_at = 0.0
        self._retry_delay = 0.0
        self._refusals: dict[str, int] = {}
        #: States lost for good (refused data, or beyond MAX_HELD_BACK), for the exit summary.
        self.lost = 0
        #: The runs of those states.
        self._lost_runs: set[int] = set()
        #: The last error of the store, for messages.
        self.last_error = ""
        self._thread = threading.Thread(
            target=self._loop, name="flowhook-store-writer", daemon=True
        )
        self._thread.start()

    def submit(self, writes: tuple[Write, ...], *, wait: bool = True) -> None:
        """Queue ``writes``; they are applied within about ``linger`` seconds.

        When more than ``max_backlog`` entries wait, the caller waits until they are written:
        a writer starved of the GIL by a busy run would otherwise fall ever further behind,
        holding every state in memory and writing nothing until the run ends. ``wait=False``
        never waits: for a caller holding a lock that runs' threads wait for.
        """
        self._queue.put(writes)
        if wait and self._queue.qsize() > self.max_backlog:
            self.submit_and_wait(())

    def submit_and_wait(self, writes: tuple[Write, ...]) -> bool:
        """Queue ``writes`` and wait until they and all earlier writes are applied (or failed).

        False when the writer did not answer within ``wait_timeout`` (logged).
        """
        done = Waiter(writes)
        self._queue.put(done)
        self._urgent.set()
        if done.wait(self.wait_timeout):
            return True
        self._errors.error(
            "the store did not record within %.0f s; the run goes on without waiting",
            self.wait_timeout,
        )
        return False

    def submit_then(
        self, writes: tuple[Write, ...], then: Callable[[], None], *, number: int, now: bool
    ) -> None:
        """Queue ``writes`` without waiting: ``then()`` is called once they and all earlier
        writes are applied (or attempted), ``now`` makes that attempt at once (even while the
        store is down). Their batch's key number is at least ``number`` (the writer process
        numbers batches by the frames they hold, see :mod:`flowhook._runtime.writer_process`)."""
        if now:
            self._retry_at = 0.0
        self._queue.put(Waiter(writes, then, number))
        self._urgent.set()

    def flush(self) -> bool:
        """Wait until everything submitted so far is applied: one attempt now, even while the
        store is down (at exit, before the outbox is drained)."""
        if not self._thread.is_alive():
            return False
        self._retry_at = 0.0
        return self.submit_and_wait(())

    @property
    def everything_written(self) -> bool:
        """Whether the store took every write submitted so far (none is held back)."""
        return not self._held

    @property
    def held_back(self) -> int:
        """How many state events wait for the store to take them."""
        return len(moved_runs(self._held))

    def close(self) -> None:
        """Apply what is queued, then stop the thread. What the store still cannot take after
        one more attempt is named in one line on ``flowhook.store``."""
        if self._thread.is_alive():
            self.flush()
            self._queue.put(_STOP)
            self._urgent.set()
            self._thread.join(self.wait_timeout)
        moves = moved_runs(self._held)
        states, runs = len(moves), len(self._lost_runs.union(moves))
        if states or self.lost:
            logger.error(
                "flowhook: %d state events of %d runs were not recorded in %s (%s)",
                states + self.lost,
                runs,
                self.store.location,
                self.last_error or "the store did not answer",
            )

    def _loop(self) -> None:
        while True:
            # Held-back writes are tried again when due, even if nothing new comes.
            due = max(0.0, self._retry_at - time.monotonic()) if self._held else None
            try:
                first = self._queue.get(timeout=due)
            except queue.Empty:
                self._apply([])
                continue
            if first is _STOP:
                self._retry_at = 0.0
                self._apply([])  # the last attempt for what is held back, at close
                return
            if type(first) is tuple and not self._urgent.is_set():
                self._urgent.wait(self.linger)
            self._urgent.clear()
            entries = [first]
            append, take, stop = entries.append, self._queue.get_nowait, False
            try:
                for _ in range(self.max_batch - 1):  # runs for every entry: names are local
                    entry = take()
                    if entry is _STOP:
                        stop = True
                        break
                    append(entry)
            except queue.Empty:
                pass
            self._apply(entries)
            if stop:
                return

    def _apply(self, entries: list[Entry]) -> None:
        writes, waiters = writes_and_waiters(entries)
        self._number = max([self._number, *(waiter.number for waiter in waiters)])
        try:
            if writes or self._held:
                # A caller waiting makes this an attempt before the retry is due; not while
                # the store is down, or every run would wait for it at its start and end.
                if time.monotonic() < self._retry_at and (self._retry_delay or not waiters):
                    self._hold(writes)
                    return
                self._write([*self._held, *writes])
        finally:
            for waiter in waiters:
                waiter.set()

    def _new_key(self) -> BatchKey | None:
        if self.process_id is None:
            return None
        self.last_batch = max(self.last_batch + 1, self._number)
        return BatchKey(self.process_id, self.last_batch)

    def _write(self, writes: list[Write]) -> None:
        """Write the held writes and new ones: first a batch whose outcome is unknown, replayed
        with its key, then the rest as a new batch."""
        keyed, key = self._keyed, self._held_key
        if keyed and not self._write_batch(writes[:keyed], key, writes[keyed:]):
            return
        rest = writes[keyed:]
        self._keyed, self._held_key = 0, None
        if rest:
            self._write_batch(rest, self._new_key(), [])

    def _write_batch(self, writes: list[Write], key: BatchKey | None, after: list[Write]) -> bool:
        """Write ``writes`` as one batch (``after`` waits behind it); whether it was taken."""
        extra: list[Write] = [] if key is None else [key]
        if self.process_id is not None and self.beats:
            extra.append(Beat(self.process_id, time.time()))
        try:
            self.store.write([*writes, *extra])
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            if self.store.unavailable(exc):
                self._held, self._keyed, self._held_key = [], len(writes), key
                self._hold([*writes, *after])
                self._retry_delay = min(max(self._retry_delay * 2, 0.5), 5.0)
                self._retry_at = time.monotonic() + self._retry_delay
                moves = moved_runs(self._held)
                self._errors.error(
                    "could not record %d state events of %d runs in %s (%s); they are kept and "
                    "tried again, and the runs go on",
                    len(moves),
                    len(set(moves)),
                    self.store.location,
                    self.last_error,
                )
                return False
            # Refused: rolled back, so nothing of it was committed.
            self._held, self._keyed, self._held_key = [], 0, None
            self._write_run_by_run([*writes, *after])
            return False
        if self._retry_delay:
            logger.warning(
                "the store %s takes writes again: the %d state events held back are recorded",
                self.store.location,
                len(moved_runs([*writes, *after])),
            )
        self._held, self._retry_delay, self._retry_at = [], 0.0, 0.0
        if self.on_outbox is not None and OutboxEntry in map(type, writes):
            self.on_outbox()
        return True

    def _hold(self, writes: list[Write]) -> None:
        """Keep ``writes`` for the next attempt; past ``max_held_back``, drop the oldest (said
        once, when the first states are lost)."""
        self._held.extend(writes)
        excess = len(self._held) - self.max_held_back
        if excess > 0:
            dropped, self._held = self._held[:excess], self._held[excess:]
            self._keyed = max(0, self._keyed - excess)  # what is left of a batch: still its own
            first = not self.lost
            if self._lose(dropped) and first:
                logger.error(
                    "more than %d writes are held back for %s: the oldest are dropped from now "
                    "on (FLOWHOOK_HELD_BACK_LIMIT); the runs go on",
                    self.max_held_back,
                    self.store.location,
                )

    def _lose(self, writes: list[Write]) -> int:
        """Count the state events of ``writes`` as lost for good (for the exit line)."""
        moves = moved_runs(writes)
        self.lost += len(moves)
        self._lost_runs.update(moves)
        return len(moves)

    def _write_run_by_run(self, writes: list[Write]) -> None:
        """The store refused a batch's data: write each run's part on its own, so that one bad
        value costs only its own run. A part refused ``MAX_REFUSALS`` times is left out. When
        the store becomes unavailable, that part (its outcome unknown: it keeps its key) and
        those after it wait, untried: a later part must not take a higher key first."""
        histories = {
            id_text(moved): run_key(write, {})
            for write in writes
            if (moved := moved_run(write)) is not None
        }
        parts: dict[str, list[Write]] = {}
        for write in writes:
            parts.setdefault(run_key(write, histories), []).append(write)
        wrote_any = False
        refused_parts: list[Write] = []
        pending = list(parts.items())
        for index, (run, part) in enumerate(pending):
            key = self._new_key()
            try:
                self.store.write(part if key is None else [*part, key])
            except Exception as exc:
                if self.store.unavailable(exc):
                    untried = [write for _, later in pending[index + 1 :] for write in later]
                    self._keyed, self._held_key = len(part), key
                    self._hold([*part, *refused_parts, *untried])
                    break
                refused = self._refusals[run] = self._refusals.get(run, 0) + 1
                if refused < MAX_REFUSALS:
                    refused_parts += part
                    continue
                self._refusals.pop(run, None)
                logger.error(
                    "could not record run %s in %s (%s: %s): its %d state events are left out; "
                    "the other runs are recorded",
                    run or "(this process)",
                    self.store.location,
                    type(exc).__name__,
                    exc,
                    self._lose(part),
                )
            else:
                wrote_any = True
                self._refusals.pop(run, None)
        else:
            self._hold(refused_parts)
        if self._held:
            self._retry_at = time.monotonic() + 0.5
        if wrote_any and self.on_outbox is not None:
            self.on_outbox()
