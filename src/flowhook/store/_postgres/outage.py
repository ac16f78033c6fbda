"""One line when a process loses the database server, and one when it has it back.

A server restart or a network cut is seen by every thread of a process at once (the writer, the
heartbeat, the sender, the UI's requests), and each retries on its own: this says it once per
outage, whichever thread saw it first, and how long it lasted. psycopg and its pool would warn
once per broken connection and per failed reconnection attempt (a dozen lines a second, some
spanning several lines): :func:`quiet` keeps their warnings about the store's connections out
of the log; their warnings about other connections, and every error, pass untouched.

A writer process (``FLOWHOOK_STORE_WRITER=process``) is the same flow's other half: its outages
go to the flow's process (:attr:`Outage.relay`), which says each once for both.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

__all__ = ["POOL_NAME", "Outage", "quiet"]

logger = logging.getLogger("flowhook.store")

#: The name of the store's pools, as the pool's log lines give it.
POOL_NAME = "flowhook"
_ours: weakref.WeakSet[Any] = weakref.WeakSet()


def _is_ours(value: Any) -> bool:
    if isinstance(value, str):
        return value == POOL_NAME
    candidates = (value, getattr(value, "connection", None), getattr(value, "_conn", None))
    try:
        return any(candidate in _ours for candidate in candidates)  # False if not weakly referable
    except TypeError:  # weakly referable but unhashable: not a connection
        return False


def _keep(record: logging.LogRecord) -> bool:
    args = record.args if isinstance(record.args, tuple) else ()
    return record.levelno >= logging.ERROR or not any(_is_ours(arg) for arg in args)


def quiet(conn: Any) -> None:
    """Silence the driver's warnings about ``conn`` (a connection of a store's pool)."""
    _ours.add(conn)
    for name in ("psycopg", "psycopg.pool", "psycopg.transaction"):
        logging.getLogger(name).addFilter(_keep)  # once: a logger keeps a filter once


class Outage:
    """The state of the connection to the server at ``location``, as the process last saw it:
    one per database and process (:meth:`of`), whatever number of stores it opens there."""

    _every: dict[str, Outage] = {}
    _every_lock = threading.Lock()
    #: Set in a writer process: where its outages go instead of its log, as
    #: ``relay("lost", location, reason)`` and ``relay("back", location, None)``; the flow's
    #: process passes them to its own :class:`Outage` (:meth:`relayed`).
    relay: ClassVar[Callable[[str, str, str | None], object] | None] = None

    @classmethod
    def of(cls, location: str) -> Outage:
        with cls._every_lock:
            return cls._every.setdefault(location, cls(location))

    def __init__(self, location: str) -> None:
        self.location = location
        self._since: float | None = None
        #: When the last outage ended: a connection made before it and found broken since
        #: belongs to that outage, not to a new one.
        self._ended = -1.0
        self._lock = threading.Lock()
        #: Whether this process has used the database: a failure to connect then is an
        #: outage, where at first it is a wrong URL or password.
        self.known = False

    def lost(self, reason: str, made: float | None = None) -> None:
        """A connection (made at ``made``, monotonic; None: a new one) failed or could not be
        made: said once, until :meth:`back`."""
        with self._lock:
            if self._since is not None or (made is not None and made < self._ended):
                return
            self._since = time.monotonic()
        line = "lost the connection to the flowhook database %s (%s); retrying, the runs go on"
        self._say("lost", reason, line, reason)

    def relayed(self, event: str, reason: str | None) -> None:
        """In the flow's process: an outage its writer process saw (see :attr:`relay`), said
        once, whichever of the two processes saw it first."""
        if event == "lost":
            self.lost(reason or "")
        else:
            self.back()

    def back(self) -> None:
        """A transaction succeeded: if the server had been lost, say that it is back."""
        since = self._since
        if since is None:  # the common case, without the lock
            self.known = True
            return
        with self._lock:  # another thread may have ended it since
            since, self._since = self._since, None
            if since is None:
                return
            self._ended = time.monotonic()
        line = "the connection to the flowhook database %s is back after %.1f s"
        self._say("back", None, line, time.monotonic() - since)

    def _say(self, event: str, reason: str | None, line: str, detail: object) -> None:
        """Log ``line`` with the location and ``detail``; in a writer process, pass the event to
        :attr:`relay` instead."""
        if Outage.relay is not None:
            Outage.relay(event, self.location, reason)
        else:
            logger.warning(line, self.location, detail)
