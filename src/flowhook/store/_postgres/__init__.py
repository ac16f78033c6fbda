"""The PostgreSQL store: the SQLite store's schema and semantics on a server many hosts share.

Imported only when ``FLOWHOOK_STORE_URL`` names a PostgreSQL database (it brings psycopg, from
the ``flowhook[postgres]`` extra). Every statement is the store core's (:mod:`.._sql`); what is
PostgreSQL's own is here:

- :mod:`.dialect`: PostgreSQL's SQL where it differs (``SKIP LOCKED`` claims, identity
  columns, ``NOTIFY`` of cancel and resume requests).
- :mod:`.connection`: the pool, transactions and their retries, migration; around it,
  :mod:`.outage` (one line when the server is lost, one when it is back, and the driver's own
  warnings about each broken connection kept out of the log) and :mod:`.watchdog` (a
  transaction whose server went silent is broken, never left hanging).
- :class:`CancelListener`: waiting for those requests with ``LISTEN``.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import psycopg

from .._sql.core import SQLCore
from .connection import PostgresBase
from .dialect import CANCEL_CHANNEL

__all__ = ["CancelListener", "PostgresStore"]


class PostgresStore(SQLCore, PostgresBase):
    """The :class:`~flowhook.store.Store` on one PostgreSQL database.

    ``create=False`` refuses a database without flowhook's schema (the command line never
    creates one); ``migrate`` applies missing migrations (``FLOWHOOK_STORE_AUTO_MIGRATE``).
    Raises :class:`~flowhook.store.StoreError` when the server cannot be used (the message names
    it without its password), and :class:`~flowhook_hookspec.errors.ConfigError` when its schema
    is newer than this flowhook's, or older and ``migrate`` is false.
    """

    def cancel_listener(self, process_id: int) -> CancelListener:
        """A listener that wakes when a request for one of ``process_id``'s runs arrives."""
        return CancelListener(self.url, str(process_id))


class CancelListener:
    """Wakes when a ``NOTIFY`` on :data:`~.dialect.CANCEL_CHANNEL` carries ``payload`` (the id
    of this process), on a connection of its own, reconnecting when it is lost.

    :meth:`wait` also returns True right after (re)connecting: a request sent while the
    connection was down went unheard, so the caller reads the pending requests again.
    """

    def __init__(self, url: str, payload: str) -> None:
        self.url = url
        self.payload = payload
        self._conn: psycopg.Connection[Any] | None = None

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds; True when there may be a new request."""
        if self._conn is None or self._conn.closed:
            try:
                self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
                self._conn.execute(f"LISTEN {CANCEL_CHANNEL}")
                return True
            except psycopg.Error:
                self.close()
                time.sleep(timeout)
                return False
        try:
            return any(n.payload == self.payload for n in self._conn.notifies(timeout=timeout))
        except psycopg.Error:
            self.close()
            return False

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
