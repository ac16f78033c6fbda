"""Breaks a connection whose server has gone silent, so that no store call hangs.

A network cut that a router or a proxy holds (nothing refused, nothing answered) leaves a
transaction waiting on its socket forever: TCP sees no error and libpq has no timeout for a
statement. Each transaction is watched: when no statement of it was sent and answered within
its limit (the store's lock timeout), its socket is shut down from this thread; the driver then
fails with a lost connection, which the store retries and the writer keeps writes through.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg

__all__ = ["WATCHDOG", "WatchedCursor"]


class _Watchdog:
    def __init__(self) -> None:
        #: Connection -> (its limit in seconds, the moment it is broken).
        self._watched: dict[Any, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def guard(self, conn: psycopg.Connection[Any], limit: float) -> Iterator[None]:
        """Watch ``conn`` while the block runs: break it after ``limit`` seconds of silence."""
        with self._lock:
            self._watched[conn] = (limit, time.monotonic() + limit)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="flowhook-store-watchdog", daemon=True
                )
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._watched.pop(conn, None)

    def renew(self, conn: Any) -> None:
        """A statement is sent on ``conn``: its silence counts from now."""
        with self._lock:
            entry = self._watched.get(conn)
            if entry is not None:
                self._watched[conn] = (entry[0], time.monotonic() + entry[0])

    def _loop(self) -> None:
        while True:
            time.sleep(0.25)
            now = time.monotonic()
            with self._lock:
                silent = [conn for conn, (_, end) in self._watched.items() if end <= now]
                for conn in silent:
                    del self._watched[conn]
            for conn in silent:
                # Shut the socket down under the thread waiting on it (a copy of its descriptor:
                # the driver still owns and closes the original).
                with contextlib.suppress(Exception):
                    copy = socket.socket(fileno=os.dup(conn.pgconn.socket))
                    with copy:
                        copy.shutdown(socket.SHUT_RDWR)


WATCHDOG = _Watchdog()


class WatchedCursor(psycopg.Cursor[tuple[Any, ...]]):
    """A cursor whose statements renew their connection's watch (a long copy or prune is not
    silent: each of its statements answers)."""

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        WATCHDOG.renew(self.connection)
        return super().execute(*args, **kwargs)

    def executemany(self, *args: Any, **kwargs: Any) -> None:
        WATCHDOG.renew(self.connection)
        super().executemany(*args, **kwargs)
