"""``ProcessPoolTaskRunner``: task bodies in worker processes, transitions and hooks here.

It is a :class:`~flowhook_hookspec.runners.RemoteTaskRunner`: the engine gives it stepped
work items, which make every transition (and so fire every hook) in the flow's process, and
which start each attempt's body through :meth:`ProcessPoolTaskRunner.start_body`. The steps run
on a small thread pool here; a work item waiting on a body or before a retry occupies no thread.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
from collections.abc import Callable
from typing import Any

from flowhook_hookspec.errors import ConfigError
from flowhook_hookspec.runners import (
    BodyOutcome,
    LocalThreadsRunner,
    RemoteTaskRunner,
    RemoteWork,
    SteppedJob,
    TaskBody,
)
from flowhook_hookspec.states import State

from .process_body import ProcessBody, UnpicklableTaskError
from .process_context import snapshot
from .process_pool import WorkerPool

__all__ = ["ProcessPoolTaskRunner"]

#: Threads that make the steps of work items (transitions and hooks, in the flow's process).
STEP_THREADS = 8

#: The default of ``max_workers``, as Prefect's ``PREFECT_TASKS_RUNNER_PROCESS_POOL_MAX_WORKERS``.
MAX_WORKERS_VARIABLE = "FLOWHOOK_TASKS_RUNNER_PROCESS_POOL_MAX_WORKERS"


def _default_max_workers() -> int:
    """:data:`MAX_WORKERS_VARIABLE` if set, else the number of CPUs."""
    raw = os.environ.get(MAX_WORKERS_VARIABLE, "").strip()
    if not raw:
        return os.cpu_count() or 1
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(
            f"{MAX_WORKERS_VARIABLE} takes a whole number >= 1, e.g. "
            f"{MAX_WORKERS_VARIABLE}=4; got {raw!r}"
        )
    return int(raw)


def _pickled(body: TaskBody) -> bytes:
    import cloudpickle  # type: ignore[import-untyped]

    try:
        return cloudpickle.dumps((body.fn, body.args, body.kwargs))  # type: ignore[no-any-return]
    except Exception as exc:
        name = getattr(body.fn, "__qualname__", repr(body.fn))
        raise UnpicklableTaskError(
            f"task function {name!r} or its arguments could not be pickled to be sent to a "
            f"worker process ({type(exc).__name__}: {exc}); ProcessPoolTaskRunner needs "
            "functions and arguments cloudpickle can pickle (or use ThreadPoolTaskRunner)"
        ) from None


class ProcessPoolTaskRunner(LocalThreadsRunner):
    """Runs task bodies in a pool of worker processes, for CPU-bound work.

    ``max_workers`` processes at most (default: ``FLOWHOOK_TASKS_RUNNER_PROCESS_POOL_MAX_WORKERS``,
    else the number of CPUs), started on first use and
    stopped when the flow run ends. ``initializer(*initargs)`` runs once in each new worker.
    Functions, arguments and results travel with cloudpickle. Every state transition and hook
    of a task run happens in the flow's process, exactly once; a worker that dies mid-task ends
    that task run Crashed, and a new worker takes its place. ``async def`` tasks run in the
    flow's process, on threads.
    """

    def __init__(
        self,
        max_workers: int | None = None,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
    ) -> None:
        if max_workers is not None and (not isinstance(max_workers, int) or max_workers < 1):
            raise ValueError(f"max_workers takes a whole number >= 1 or None, got {max_workers!r}")
        if initializer is not None and not callable(initializer):
            raise TypeError(f"initializer must be callable, got {type(initializer).__name__}")
        self.max_workers = max_workers or _default_max_workers()
        self.initializer = initializer
        self.initargs = tuple(initargs)
        super().__init__("flowhook-process-local")
        self._pool: WorkerPool | None = None
        self._steps: concurrent.futures.ThreadPoolExecutor | None = None
        self._starts: concurrent.futures.ThreadPoolExecutor | None = None
        self._jobs: list[SteppedJob] = []
        self._sleeping: dict[SteppedJob, threading.Timer] = {}

    def __repr__(self) -> str:
        return f"ProcessPoolTaskRunner(max_workers={self.max_workers!r})"

    def _started_pool(self) -> WorkerPool:
        """The worker pool, started on first use; called with the lock held."""
        if self._pool is None:
            initializer = None
            if self.initializer is not None:
                initializer = _pickled(TaskBody("initializer", self.initializer, self.initargs, {}))
            self._pool = WorkerPool(self.max_workers, initializer)
        return self._pool

    # -- the TaskRunner protocol, beyond LocalThreadsRunner's ------------------------------------

    def _cancel_remote(self) -> None:
        """Work not started never starts; queued bodies end Cancelled; bodies that run in a
        worker run to their end, as with the thread pool."""
        with self._lock:
            for job in self._jobs:
                job.future.cancel()  # only those whose first step has not run
            sleeping, self._sleeping = self._sleeping, {}
            pool = self._pool
        if pool is not None:
            pool.cancel_pending("its flow run was cancelled before a worker process took it")
        for job, timer in sleeping.items():
            timer.cancel()
            self._resume(job)

    def _shutdown_remote(self) -> None:
        with self._lock:
            steps, self._steps = self._steps, None
            starts, self._starts = self._starts, None
            pool, self._pool = self._pool, None
            self._jobs = []
        for executor in (starts, steps):
            if executor is not None:
                executor.shutdown(wait=True)
        if pool is not None:
            pool.close()

    # -- the RemoteTaskRunner protocol -------------------------------------------------------

    def submit_remote(self, work: Callable[[], RemoteWork]) -> concurrent.futures.Future[State]:
        job = SteppedJob(work)
        with self._lock:
            self._jobs.append(job)
            if self._starts is None:
                # one thread: first steps, which queue the first bodies, keep submission order
                self._starts = concurrent.futures.ThreadPoolExecutor(
                    1, thread_name_prefix="flowhook-process-starts"
                )
            self._starts.submit(self._step, job)
        return job.future

    def start_body(self, body: TaskBody) -> ProcessBody:
        """Pickle ``body`` here (so a failure is this attempt's) and queue it in the pool."""
        try:
            blob = _pickled(body)
        except UnpicklableTaskError as exc:
            handle = ProcessBody(body.key, b"", body.timeout_seconds)
            handle.finish(BodyOutcome("raised", value=exc))
            return handle
        handle = ProcessBody(body.key, blob, body.timeout_seconds, snapshot())
        with self._lock:
            pool = self._started_pool()
        pool.start(handle)
        return handle

    # -- stepping the work items -------------------------------------------------------------

    def _resume(self, job: SteppedJob) -> None:
        with self._lock:
            if self._steps is None:
                self._steps = concurrent.futures.ThreadPoolExecutor(
                    STEP_THREADS, thread_name_prefix="flowhook-process-steps"
                )
            self._steps.submit(self._step, job)

    def _step(self, job: SteppedJob) -> None:
        """Make ``job``'s next step, and arrange for the one after it."""
        if job.steps is None and not job.future.set_running_or_notify_cancel():
            return  # cancelled before it began
        pause = job.advance()
        if pause is None:
            return
        if isinstance(pause, ProcessBody):
            pause.wake_on_news(lambda: self._resume(job))
            return
        assert isinstance(pause, (int, float)), f"a work item paused on {pause!r}"
        timer = threading.Timer(float(pause), self._wake_sleeper, (job,))  # before a retry
        timer.daemon = True
        with self._lock:
            self._sleeping[job] = timer
        timer.start()

    def _wake_sleeper(self, job: SteppedJob) -> None:
        with self._lock:
            if self._sleeping.pop(job, None) is None:
                return  # woken by cancel_all already
        self._resume(job)


assert isinstance(ProcessPoolTaskRunner(), RemoteTaskRunner)
