"""The task runner interface: what executes submitted task runs.

The engine hands a runner *work items*: callables that execute one task run from Pending to a
final state, firing its hooks, and return that final state. A thread pool runs them in the
flow's process. A remote runner (:class:`RemoteTaskRunner`) runs only the task bodies elsewhere
and receives *stepped* work items instead: generators whose steps make the transitions and
fire the hooks, and which pause, without blocking, on a body until it has news.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, wait
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import attrs

from .states import RemoteResult, State

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

__all__ = [
    "BodyHandle",
    "BodyOutcome",
    "BodyStatus",
    "LocalThreadsRunner",
    "Pause",
    "RemoteResult",
    "RemoteTaskRunner",
    "RemoteWork",
    "SteppedJob",
    "TaskBody",
    "TaskRunner",
    "WakingBody",
]


@runtime_checkable
class TaskRunner(Protocol):
    """Runs submitted task runs. One runner serves one flow run at a time."""

    def submit(self, work: Callable[[], State]) -> Future[State]:
        """Start ``work`` and return a future of its final state."""
        ...

    def wait(self, futures: Iterable[Future[State]], timeout: float | None = None) -> None:
        """Block until every future is done, or ``timeout`` seconds pass."""
        ...

    def cancel_all(self) -> None:
        """Cancel every submitted work item that has not started."""
        ...

    def shutdown(self) -> None:
        """Release the runner's resources once every submitted work item is done."""
        ...


@attrs.frozen
class TaskBody:
    """One attempt of a task run's body, for a runner that runs bodies elsewhere.

    ``key`` names the attempt uniquely: ``<task name>-<task run id>-<attempt>``. ``fn`` is the
    user's function, called as ``fn(*args, **kwargs)``; nothing of the engine goes with it.
    """

    key: str
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    timeout_seconds: float | None = None


#: The ways a remote body can end, as :attr:`BodyOutcome.status`.
BodyStatus = Literal["returned", "raised", "timed_out", "cancelled", "crashed"]


@attrs.frozen
class BodyOutcome:
    """How one attempt's body ended, as the runner saw it.

    ``value`` is the return value (``returned``), possibly a :class:`RemoteResult` left where
    the body ran, or the exception (``raised``); ``message``
    says why for ``crashed`` and ``cancelled``. ``started``/``ended`` are the times the body
    began and ended where it ran, and ``location`` where that was (a worker's address).
    """

    status: BodyStatus
    value: Any = None
    message: str = ""
    started: datetime | None = None
    ended: datetime | None = None
    location: str | None = None


class BodyHandle(Protocol):
    """One body started by a :class:`RemoteTaskRunner`. Neither method blocks."""

    def started(self) -> tuple[datetime, str | None] | None:
        """When and where the body started, once the runner knows; ``None`` until then (and
        for a body that ended without starting)."""
        ...

    def outcome(self) -> BodyOutcome | None:
        """How the body ended (or how its run must end without it), once known; else ``None``."""
        ...


#: What a stepped work item pauses on: a body (resume the item once that body started or
#: ended) or a number of seconds (resume it after them, or at once when ``cancel_all`` is called).
Pause = BodyHandle | float

#: A stepped work item: each ``next()`` makes transitions (firing hooks) up to the next pause;
#: its return value (``StopIteration.value``) is the task run's final state.
RemoteWork = Generator[Pause, None, State]


class SteppedJob:
    """One stepped work item of a remote runner: the callable that starts it, its steps once
    started, and the future of its final state (for runners to share, not to subclass)."""

    __slots__ = ("future", "steps", "work")

    def __init__(self, work: Callable[[], RemoteWork]) -> None:
        self.work = work
        self.steps: RemoteWork | None = None
        self.future: Future[State] = Future()

    def advance(self) -> Pause | None:
        """Make the job's next step (starting it first); the pause it stopped at, or None once
        it ended: its future then holds the final state, or the engine's own failure."""
        try:
            if self.steps is None:
                self.steps = self.work()
            return next(self.steps)
        except StopIteration as stop:
            self.future.set_result(stop.value)
        except BaseException as exc:  # the engine's own failure: the run's future carries it
            self.future.set_exception(exc)
        return None


class WakingBody:
    """A base of :class:`BodyHandle` implementations whose news wakes the one work item that
    waits on them: a subclass sets ``_lock`` and ``_waiter`` and records changes through
    :meth:`_record`."""

    _lock: threading.Lock
    _waiter: Callable[[], None] | None

    def _record(self, change: Callable[[], bool]) -> bool:
        """Apply ``change`` under the lock; when it changed something, wake the waiter (outside
        the lock). Returns whether it changed something."""
        with self._lock:
            if not change():
                return False
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            waiter()
        return True


@runtime_checkable
class RemoteTaskRunner(TaskRunner, Protocol):
    """A task runner whose task bodies run elsewhere (other processes, other hosts).

    The engine keeps every transition and every hook in the flow's process; the runner only
    runs bodies, and steps the work items it receives through :meth:`submit_remote`, each of
    which calls :meth:`start_body` once per attempt. Plain :meth:`submit` still serves the
    work items that run wholly in the flow's process (async tasks).
    """

    def start_body(self, body: TaskBody) -> BodyHandle:
        """Start ``body`` elsewhere and return at once."""
        ...

    def submit_remote(self, work: Callable[[], RemoteWork]) -> Future[State]:
        """Step the work item ``work()`` returns, in the flow's process, resuming it whenever
        what it paused on has news; the future's result is the item's final state. The steps of
        one item never overlap, and never run on a thread of the runner's own I/O."""
        ...


class LocalThreadsRunner:
    """A base of task runners that run work items on a thread pool of their own, in the flow's
    process: the whole of the thread pool runner, and for a :class:`RemoteTaskRunner` the work
    items that run wholly here (async tasks').

    :meth:`submit` starts the pool on first use (``max_workers`` threads at most, named
    ``thread_prefix``); :meth:`cancel_all` cancels the items not started, then calls
    :meth:`_cancel_remote`; :meth:`shutdown` waits for them, then calls :meth:`_shutdown_remote`.
    A subclass's ``__init__`` calls ``super().__init__(thread_prefix)`` and shares ``_lock``;
    :meth:`_before_submit` prepares what a work item needs.
    """

    def __init__(self, thread_prefix: str, max_workers: int | None = None) -> None:
        self._lock = threading.Lock()
        self._thread_prefix = thread_prefix
        self._max_workers = max_workers
        self._local: ThreadPoolExecutor | None = None
        self._futures: list[Future[State]] = []

    def _before_submit(self) -> None:
        """Called under the lock before a work item starts on a thread; nothing by default."""

    def _cancel_remote(self) -> None:
        """Cancel the work of the runner's own (elsewhere), after :meth:`cancel_all` cancelled
        the threads' items; nothing by default."""

    def _shutdown_remote(self) -> None:
        """Release the runner's own resources, after :meth:`shutdown` joined the threads' items;
        nothing by default."""

    def submit(self, work: Callable[[], State]) -> Future[State]:
        """Run ``work`` on a thread of the pool; a future of its final state."""
        with self._lock:
            self._before_submit()
            if self._local is None:
                from concurrent.futures import ThreadPoolExecutor  # on use: not at import

                self._local = ThreadPoolExecutor(
                    self._max_workers, thread_name_prefix=self._thread_prefix
                )
            future = self._local.submit(work)
            self._futures.append(future)
            return future

    def wait(self, futures: Iterable[Future[State]], timeout: float | None = None) -> None:
        """Block until every future is done, or ``timeout`` seconds pass."""
        wait(list(futures), timeout=timeout)

    def cancel_all(self) -> None:
        """Work items not started on a thread never start; then :meth:`_cancel_remote`."""
        with self._lock:
            for future in self._futures:
                future.cancel()
        self._cancel_remote()

    def shutdown(self) -> None:
        """Wait for the work items on threads and stop those; then :meth:`_shutdown_remote`."""
        with self._lock:
            local, self._local = self._local, None
            self._futures = []
        if local is not None:
            local.shutdown(wait=True)
        self._shutdown_remote()
