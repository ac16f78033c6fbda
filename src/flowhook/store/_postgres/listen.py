"""Waiting for cancel requests: ``LISTEN`` on a connection of its own, reconnecting when lost."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import psycopg

__all__ = ["CancelListener"]


class CancelListener:
    """Wakes when a ``NOTIFY`` on ``channel`` carries ``payload`` (the id of this process).

    :meth:`wait` also returns True right after (re)connecting: a request sent while the
    connection was down went unheard, so the caller reads the pending requests again.
    """

    def __init__(self, url: str, channel: str, payload: str) -> None:
        self.url = url
        self.channel = channel
        self.payload = payload
        self._conn: psycopg.Connection[Any] | None = None

    def _connect(self) -> bool:
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
            conn.execute(f"LISTEN {self.channel}")
        except psycopg.Error:
            return False
        self._conn = conn
        return True

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds; True when there may be a new cancel request."""
        if self._conn is None or self._conn.closed:
            if self._connect():
                return True
            time.sleep(timeout)
            return False
        try:
            for notify in self._conn.notifies(timeout=timeout):
                if notify.payload == self.payload:
                    return True
        except psycopg.Error:
            self.close()
            return False
        return False

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
