"""The consumer: the one thread of the flow's process that steps a runner's work items.

Every transition, and so every hook, of a task run on Dask is made here. Dask's threads (its
event loop, its callback thread) only record news on a body and put the work item waiting on
it in a queue (:meth:`DaskBody.wake_on_news <._body.DaskBody.wake_on_news>`); the consumer
takes items from that queue one at a time and steps each up to its next pause: a body
(resumed when that body has news) or a delay before a retry (resumed by a timer). A work
item is in the queue at most once and only between two of its steps, so the steps of one
task run are made in order and never overlap; a start that comes after the end is dropped by
the body, so it never reaches a step.

One consumer, and yet no deadlock: a step may block, in a hook (user code that waits for
another task run's result, say) or in the engine. Then the work items behind it would wait
for ever on a consumer that waits for them. So a monitor thread looks, every
:data:`HANDOFF_SECONDS`, whether the consumer has been in one step for longer than that while
other work is ready; if so, it starts a new consumer, and the blocked one exits once its step
returns. At any moment one consumer takes items from the queue; a blocked step delays the
others by at most about ``2 * HANDOFF_SECONDS``, and holds up only its own task run.
"""

from __future__ import annotations

import concurrent.futures
import heapq
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from flowhook_hookspec.runners import RemoteWork, SteppedJob
from flowhook_hookspec.states import State

from ._body import DaskBody

__all__ = ["HANDOFF_SECONDS", "Consumer"]

_log = logging.getLogger("flowhook.dask")

#: How long one step may hold the consumer while other work waits before a new consumer takes
#: over (seconds). Steps are microseconds to milliseconds; a hook that waits is much longer.
HANDOFF_SECONDS = 0.1


class _Thread:
    """One consumer thread and when its current step began (``None`` between steps)."""

    __slots__ = ("since", "thread")

    def __init__(self, target: Callable[[_Thread], None], name: str) -> None:
        self.since: float | None = None
        self.thread = threading.Thread(target=target, args=(self,), name=name, daemon=True)


class Consumer:
    """Steps work items on one thread at a time (see the module's docstring)."""

    def __init__(
        self, name: str = "flowhook-dask-consumer", on_idle: Callable[[], None] | None = None
    ) -> None:
        self._name = name
        self._on_idle = on_idle
        self._count = itertools.count(1)
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[SteppedJob | Callable[[], None] | None] = queue.SimpleQueue()
        self._timers: list[tuple[float, int, Callable[[], None], SteppedJob | None]] = []
        self._order = itertools.count()
        self._closed = threading.Event()
        self._current = self._spawn()
        self._monitor = threading.Thread(target=self._watch, name=f"{name}-monitor", daemon=True)
        self._monitor.start()

    # -- called from any thread --------------------------------------------------------------

    def submit(self, work: Callable[[], RemoteWork]) -> concurrent.futures.Future[State]:
        """Step ``work()``'s item until it returns its final state, the future's result."""
        job = SteppedJob(work)
        self._queue.put(job)
        return job.future

    def call(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` on the consumer."""
        self._queue.put(callback)

    def call_later(self, seconds: float, callback: Callable[[], None]) -> None:
        """Call ``callback`` on the consumer after ``seconds``."""
        self._add_timer(seconds, callback, None)

    def wake_sleepers(self) -> None:
        """Resume at once every work item waiting before a retry (its run is being cancelled)."""
        with self._lock:
            sleeping = [job for _, _, _, job in self._timers if job is not None]
            self._timers = [entry for entry in self._timers if entry[3] is None]
            heapq.heapify(self._timers)
        for job in sleeping:
            self._queue.put(job)

    def close(self) -> None:
        """Stop once the queue is empty; a consumer blocked in a step is left to finish it."""
        self._closed.set()
        self._monitor.join()
        self._queue.put(None)
        self._current.thread.join()

    # -- the consumer ------------------------------------------------------------------------

    def _spawn(self) -> _Thread:
        consumer = _Thread(self._consume, f"{self._name}-{next(self._count)}")
        consumer.thread.start()
        return consumer

    def _add_timer(
        self, seconds: float, callback: Callable[[], None], job: SteppedJob | None
    ) -> None:
        with self._lock:
            entry = (time.monotonic() + seconds, next(self._order), callback, job)
            heapq.heappush(self._timers, entry)
        self._queue.put(_NOTHING)  # the consumer recomputes how long it may wait

    def _next_due(self) -> tuple[Callable[[], None] | None, float | None]:
        """A timer's callback that is due (popped), else how long until the next one."""
        with self._lock:
            if not self._timers:
                return None, None
            when, _, callback, _ = self._timers[0]
            wait = when - time.monotonic()
            if wait > 0:
                return None, wait
            heapq.heappop(self._timers)
            return callback, None

    def _consume(self, me: _Thread) -> None:
        while True:
            due, wait = self._next_due()
            if due is not None:
                if self._run(me, due):
                    return
                continue
            try:
                item = self._queue.get_nowait()
            except queue.Empty:  # all caught up: the idle work (sending what was batched) first
                if self._on_idle is not None and self._run(me, self._on_idle):
                    return
                try:
                    item = self._queue.get(timeout=wait)
                except queue.Empty:
                    continue
            if item is None:
                self._queue.put(None)  # for a consumer that takes over after this one
                return
            if self._run(me, item):
                return

    def _run(self, me: _Thread, item: SteppedJob | Callable[[], None]) -> bool:
        """Make one step as consumer ``me``; whether ``me`` was replaced meanwhile (and ends)."""
        with self._lock:
            me.since = time.monotonic()
        try:
            if isinstance(item, SteppedJob):
                self._step(item)
            else:
                item()
        except Exception:  # a timer's or the idle work's own bug: the consumer goes on
            _log.exception("flowhook-dask: a callback of the consumer raised")
        finally:
            with self._lock:
                me.since = None
                retired = self._current is not me
        return retired

    def _step(self, job: SteppedJob) -> None:
        pause = job.advance()
        if pause is None:
            return
        if isinstance(pause, DaskBody):
            pause.wake_on_news(lambda: self._queue.put(job))
        else:
            assert isinstance(pause, (int, float)), f"a work item paused on {pause!r}"
            self._add_timer(float(pause), lambda: self._step(job), job)

    def _watch(self) -> None:
        while not self._closed.wait(HANDOFF_SECONDS):
            with self._lock:
                since = self._current.since
                blocked = since is not None and time.monotonic() - since > HANDOFF_SECONDS
                waiting = not self._queue.empty() or (
                    bool(self._timers) and self._timers[0][0] <= time.monotonic()
                )
                if blocked and waiting:
                    self._current = self._spawn()


def _nothing() -> None:
    pass


_NOTHING: Any = _nothing
