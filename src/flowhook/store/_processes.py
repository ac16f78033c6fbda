"""Processes: who runs flows, whether they are still alive, and their heartbeat thread.

A process is identified by host, pid and a *start token* that tells it apart from any later
process that gets the same pid: the boot id and the start time in clock ticks on Linux, the
start time ``ps`` reports elsewhere. On the same host a process is dead when its pid is not
running, is a zombie, or belongs to a process with another start token. On another host only
the heartbeat can tell.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from ._details import ProcessInfo, ProcessRecord

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from ._protocol import Store

__all__ = ["Heartbeat", "current_process", "death_reason", "hostname", "start_token"]

logger = logging.getLogger("flowhook.store")

_PROC = Path("/proc")
T = TypeVar("T")


def hostname() -> str:
    import socket  # on first use: a reader of the store never needs it

    return socket.gethostname()


def _proc(path: str) -> str:
    """A file of ``/proc``; empty when it cannot be read."""
    try:
        return (_PROC / path).read_text()
    except OSError:
        return ""


def _linux_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks since boot) from ``/proc/<pid>/stat``."""
    text = _proc(f"{pid}/stat")
    if not text:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def start_token(pid: int) -> str | None:
    """What tells this process apart from others that had or will have the same pid."""
    if _PROC.is_dir():
        stat = _linux_stat(pid)
        return None if stat is None else f"{_proc('sys/kernel/random/boot_id').strip()}:{stat[1]}"
    import subprocess  # off Linux only

    try:
        out = subprocess.run(
            ["ps", "-o", "lstart=", "-p", str(pid)], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return " ".join(out.stdout.split()) or None


def _started(pid: int) -> float:
    """When the process started (seconds since the epoch), as well as it can be known."""
    stat = _linux_stat(pid)
    if stat is not None:
        try:
            uptime = float(_proc("uptime").split()[0])
            return time.time() - uptime + stat[1] / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            pass
    return time.time()


def current_process(version: str) -> ProcessInfo:
    pid = os.getpid()
    return ProcessInfo(
        pid=pid,
        host=hostname(),
        start_token=start_token(pid),
        started=_started(pid),
        command=" ".join([sys.executable, *sys.argv])[:1000],
        flowhook_version=version,
    )


def local_worker_id(command: str) -> str:
    """The claimant id of a delivering process that is not registered in the store (``flowhook
    deliver``, ``watch``): ``command@host/pid/start token``, so that a reaper on this host can
    tell when it died (see :func:`local_worker_death`)."""
    pid = os.getpid()
    return f"{command}@{hostname()}/{pid}/{start_token(pid) or ''}"


def _local_death(pid: int, token: str | None) -> str | None:
    """Why the process ``pid`` of this host, started as ``token``, is dead; None if alive."""
    try:
        os.kill(pid, 0)
        stat = _linux_stat(pid)
        gone = stat is not None and stat[0] in ("Z", "X")  # a zombie
    except PermissionError:
        gone = False  # it exists, it belongs to another user
    except OSError:
        gone = True
    if gone:
        return f"pid {pid} is no longer running"
    current = start_token(pid) if token else None
    if current is not None and current != token:
        return f"pid {pid} now belongs to another process"
    return None


def local_worker_death(worker: str) -> str | None:
    """Why the claimant ``worker`` (a :func:`local_worker_id`) is dead; None when it may be
    alive, runs on another host (its claims then expire), or is no such id."""
    command, at, rest = worker.partition("@")
    host, _, tail = rest.partition("/")
    pid_text, _, token = tail.partition("/")
    if not at or not command or host != hostname() or not pid_text.isdigit():
        return None
    return _local_death(int(pid_text), token)


def death_reason(process: ProcessRecord, now: float, crash_after: float) -> str | None:
    """Why ``process`` is dead, or None when it may be alive."""
    if process.host == hostname():
        return _local_death(process.pid, process.start_token)
    silent = now - process.last_heartbeat
    if silent > crash_after:
        return f"no heartbeat for {silent:.0f} s (the limit is {crash_after:g} s)"
    return None


#: How long a heartbeat thread listening for cancel requests waits before it looks at its stop.
_LISTEN_SLICE = 0.25


def _call(action: Callable[..., None], what: str, flow_run_id: str, *args: Any) -> None:
    try:
        action(flow_run_id, *args)
    except Exception:
        logger.exception("could not %s flow run %s", what, flow_run_id)


@attrs.define(eq=False)
class Heartbeat:
    """While runs are active, a daemon thread records that this process is alive, every
    ``interval`` seconds, and hands the cancel requests other processes recorded to ``cancel``
    (None: a process that runs no flow, such as ``flowhook watch``, only beats).
    """

    store: Store
    process_id: int
    interval: float
    cancel: Callable[[str, str | None], None] | None
    resume: Callable[[str], None] | None = None
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock)
    _active: int = attrs.field(init=False, default=0)
    #: Flow runs of this process paused now: while there are any, requests (resume and cancel)
    #: are read every _LISTEN_SLICE, so that they are seen within a second without NOTIFY.
    _paused: int = attrs.field(init=False, default=0)
    _thread: threading.Thread | None = attrs.field(init=False, default=None)
    _stop: threading.Event = attrs.field(init=False, factory=threading.Event)
    _wake: threading.Event = attrs.field(init=False, factory=threading.Event)
    _failing: bool = attrs.field(init=False, default=False)
    #: When this thread last recorded a heartbeat (monotonic); registering records one.
    _last_beat: float = attrs.field(init=False, factory=time.monotonic)

    def run_started(self) -> None:
        with self._lock:
            self._active += 1
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._loop, name="flowhook-heartbeat", daemon=True
                )
                self._thread.start()

    def run_finished(self) -> None:
        with self._lock:
            self._active = max(0, self._active - 1)

    @contextmanager
    def claiming(self) -> Iterator[None]:
        """While this process may hold claims (its delivery sends), beat as while a run is
        active, whether or not one is: a reaper on another host frees the claims of a process
        whose heartbeat is older than its crash limit. Beats at once, in this thread, when the
        last heartbeat is older than one interval (this process may have been idle since)."""
        self.run_started()
        try:
            if time.monotonic() - self._last_beat > self.interval:
                self.beat()
            yield
        finally:
            self.run_finished()

    def pause_started(self) -> None:
        """A run of this process paused: read requests often until :meth:`pause_ended`."""
        with self._lock:
            self._paused += 1
        self._wake.set()

    def pause_ended(self) -> None:
        with self._lock:
            self._paused = max(0, self._paused - 1)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        with self._lock:
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5.0)

    def _loop(self) -> None:
        # A store that can announce cancel requests (PostgreSQL's LISTEN) wakes this thread
        # at once; the beat every ``interval`` also reads them, when the announcement is lost.
        make_listener = getattr(self.store, "cancel_listener", None)
        listener = make_listener(self.process_id) if make_listener and self.cancel else None
        try:
            next_beat = time.monotonic() + self.interval
            while not self._stop.is_set():
                left = max(0.0, next_beat - time.monotonic())
                if listener is None:
                    self._wake.wait(min(left, _LISTEN_SLICE) if self._paused else left)
                    self._wake.clear()
                    if self._stop.is_set():
                        return
                    if self._paused:
                        self.deliver_requests()
                elif listener.wait(min(_LISTEN_SLICE, left)):
                    self.deliver_requests()
                if time.monotonic() < next_beat:
                    continue
                next_beat = time.monotonic() + self.interval
                with self._lock:
                    if self._active == 0:
                        self._thread = None
                        return
                self.beat()
        finally:
            if listener is not None:
                listener.close()

    def beat(self) -> None:
        """Record a heartbeat and deliver requests; store errors are logged."""
        try:
            self.store.heartbeat(self.process_id, time.time())
        except Exception as exc:
            with self._lock:  # the delivery's thread beats too (claiming): said once for both
                first, self._failing = not self._failing, True
            if first:
                logger.error("could not record a heartbeat in %s: %s", self.store.location, exc)
            return
        self._failing = False
        self._last_beat = time.monotonic()
        self.deliver_requests()

    def deliver_requests(self) -> None:
        """Hand the pending cancel requests of this process's runs to ``cancel`` and, while one
        of them is paused, the resume requests to ``resume``; store errors are logged."""
        if self.cancel is not None:
            for request in self._read(self.store.cancel_requests, "cancel"):
                _call(self.cancel, "cancel", request.flow_run_id, request.message)
                try:
                    self.store.mark_cancel_delivered(request.flow_run_id, time.time())
                except Exception as exc:
                    logger.error(
                        "could not record that flow run %s was cancelled: %s", request, exc
                    )
        if self.resume is not None and self._paused:
            for flow_run_id in self._read(self.store.resume_requests, "resume"):
                _call(self.resume, "resume", flow_run_id)

    def _read(self, requests: Callable[[int], list[T]], what: str) -> list[T]:
        try:
            return requests(self.process_id)
        except Exception as exc:
            logger.error("could not read %s requests from %s: %s", what, self.store.location, exc)
            return []
