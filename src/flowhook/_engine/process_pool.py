"""A pool of worker processes that run task bodies, one at a time each.

One dispatcher thread in the flow's process owns the workers: it hands queued bodies to idle
workers (starting workers as needed, up to ``max_workers``), reads what they report, and
notices a worker that dies. Because each worker runs one known body, a death ends exactly
that body (Crashed), and a new worker takes the dead one's place for the next bodies; this is
why the pool is its own and not ``concurrent.futures.ProcessPoolExecutor``, which fails every
pending future once one worker dies. A body that runs past its time limit ends TimedOut and
its worker is killed, so the body really stops.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection, wait
from typing import Any

from flowhook_hookspec.runners import BodyOutcome

from .process_body import ProcessBody, decode_outcome
from .process_context import emit
from .process_worker import command

__all__ = ["WorkerPool"]

logger = logging.getLogger("flowhook.engine")

#: How long a closing pool waits for an idle worker to exit before it kills it (seconds).
EXIT_GRACE_SECONDS = 5.0


def _death(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


class _Worker:
    """One worker process, its socket, and the body it runs (``None`` when idle)."""

    def __init__(self, init_frame: bytes) -> None:
        ours, theirs = socket.socketpair()
        with theirs:
            self.process = subprocess.Popen(
                command(theirs.fileno()), pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL
            )
        self.connection = Connection(ours.detach())
        self.location = f"worker process {self.process.pid}"
        self.body: ProcessBody | None = None
        self.deadline: float | None = None
        self.connection.send_bytes(init_frame)

    def send(self, body: ProcessBody) -> None:
        self.body, self.deadline = body, None
        self.connection.send_bytes(pickle.dumps((body.key, body.blob, body.run)))
        body.blob = None

    def close(self) -> None:
        self.connection.close()  # the worker reads EOF and exits
        try:
            self.process.wait(EXIT_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class WorkerPool:
    """Runs :class:`ProcessBody` objects in up to ``max_workers`` worker processes."""

    def __init__(self, max_workers: int, initializer: bytes | None) -> None:
        self.max_workers = max_workers
        self._init_frame = pickle.dumps((list(sys.path), initializer))
        self._lock = threading.Lock()
        self._pending: collections.deque[ProcessBody] = collections.deque()
        self._workers: list[_Worker] = []
        self._closing = False
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._thread = threading.Thread(
            target=self._loop, name="flowhook-process-pool", daemon=True
        )
        self._thread.start()

    # -- called from any thread --------------------------------------------------------------

    def start(self, body: ProcessBody) -> None:
        """Queue ``body``; an idle worker takes it in turn."""
        with self._lock:
            if self._closing:
                raise RuntimeError("the process pool is shut down")
            self._pending.append(body)
        self._wake()

    def cancel_pending(self, message: str) -> None:
        """End every queued body that no worker has taken yet, Cancelled."""
        with self._lock:
            pending, self._pending = list(self._pending), collections.deque()
        for body in pending:
            body.finish(BodyOutcome("cancelled", message=message))

    def close(self) -> None:
        """Stop the workers and the dispatcher once every queued body ran, as
        ``concurrent.futures`` executors shut down; :meth:`start` refuses new bodies meanwhile."""
        with self._lock:
            self._closing = True
        self._wake()
        self._thread.join()
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError):  # a full pipe: the dispatcher is awake
            os.write(self._wake_write, b"!")

    # -- the dispatcher ----------------------------------------------------------------------

    def _loop(self) -> None:
        try:
            while not self._finished():
                self._dispatch()
                ready = wait(
                    [self._wake_read, *(w.connection for w in self._workers)], self._wait()
                )
                for worker in list(self._workers):
                    if worker.connection in ready:
                        self._read(worker)
                if self._wake_read in ready:
                    self._drain_wakes()
                self._expire(time.monotonic())
        except Exception as exc:  # a bug here must not leave task runs waiting for ever
            logger.exception("the process pool's dispatcher failed")
            self._fail_all(f"the process pool failed ({type(exc).__name__}: {exc})")
        for worker in self._workers:
            worker.close()
        self._workers = []

    def _finished(self) -> bool:
        """Closing, with nothing queued and nothing running."""
        with self._lock:
            return self._closing and not self._pending and not any(w.body for w in self._workers)

    def _fail_all(self, message: str) -> None:
        """End every body, queued or running, Crashed with ``message``; stop the workers."""
        with self._lock:
            self._closing = True
            bodies = [*self._pending, *(w.body for w in self._workers if w.body is not None)]
            self._pending.clear()
        for body in bodies:
            body.finish(BodyOutcome("crashed", message=message))
        for worker in self._workers:
            worker.process.kill()

    def _dispatch(self) -> None:
        """Give queued bodies to idle workers, starting workers up to ``max_workers``."""
        while True:
            idle = next((w for w in self._workers if w.body is None), None)
            if idle is None and len(self._workers) >= self.max_workers:
                return
            with self._lock:
                if not self._pending:
                    return
                body = self._pending.popleft()
            if body.ended():
                continue
            if idle is None:
                try:
                    idle = _Worker(self._init_frame)
                except OSError as exc:  # out of processes or file descriptors, say
                    message = f"no worker process could be started ({type(exc).__name__}: {exc})"
                    body.finish(BodyOutcome("crashed", message=message))
                    continue
                self._workers.append(idle)
            with contextlib.suppress(OSError):  # a worker that died idle: _lost crashes the body
                idle.send(body)

    def _wait(self) -> float | None:
        deadlines = [w.deadline for w in self._workers if w.deadline is not None]
        return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None

    def _drain_wakes(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_read, 4096):
                pass

    def _read(self, worker: _Worker) -> None:
        try:
            frame: tuple[Any, ...] = pickle.loads(worker.connection.recv_bytes())
        except (EOFError, OSError):
            self._lost(worker)
            return
        if frame[0] == "log":
            emit(frame[2])
            return
        body = worker.body
        if body is None or frame[1] != body.key:  # from a body that ended here already
            return
        if frame[0] == "started":
            body.on_start(frame[2], worker.location)
            if body.timeout_seconds is not None:
                worker.deadline = time.monotonic() + body.timeout_seconds
        else:
            body.finish(decode_outcome(frame, worker.location))
            worker.body, worker.deadline = None, None

    def _lost(self, worker: _Worker) -> None:
        """``worker`` died: the body it ran (if any, and still running) ends Crashed."""
        self._workers.remove(worker)
        worker.connection.close()
        how = _death(worker.process.wait())
        if worker.body is not None:
            message = f"the {worker.location} running it died ({how})"
            worker.body.finish(BodyOutcome("crashed", message=message))

    def _expire(self, now: float) -> None:
        """End the bodies that ran past their time limit TimedOut, and kill their workers."""
        for worker in self._workers:
            if worker.deadline is not None and worker.deadline <= now and worker.body is not None:
                worker.body.finish(BodyOutcome("timed_out"))
                worker.deadline = None
                worker.process.kill()  # its socket closes: _lost replaces it
