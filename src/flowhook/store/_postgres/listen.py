"""Waiting for cancel and resume requests: ``LISTEN`` on a connection of its own."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import psycopg

from .dialect import CANCEL_CHANNEL

__all__ = ["CancelListener"]


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
