"""Keeps the driver's own warnings about flowhook's connections out of the log.

When the server restarts, psycopg and its pool warn once per broken connection and per failed
reconnection attempt (a dozen lines a second, some spanning several lines); the store says the
same in one line when the connection is lost and one when it is back (:mod:`.outage`). Their
warnings about other connections, and every error, pass untouched.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

__all__ = ["POOL_NAME", "quiet"]

#: The name of the store's pools, as the pool's log lines give it.
POOL_NAME = "flowhook"
_LOGGERS = ("psycopg", "psycopg.pool", "psycopg.transaction")
_ours: weakref.WeakSet[Any] = weakref.WeakSet()
_installed = threading.Lock()
_filter: logging.Filter | None = None


def _is_ours(value: Any) -> bool:
    if isinstance(value, str):
        return value == POOL_NAME
    for candidate in (value, getattr(value, "connection", None), getattr(value, "_conn", None)):
        try:
            if candidate is not None and candidate in _ours:
                return True
        except TypeError:  # not weakly referenceable: not a connection
            continue
    return False


def _keep(record: logging.LogRecord) -> bool:
    if record.levelno >= logging.ERROR:
        return True
    args = record.args if isinstance(record.args, tuple) else ()
    return not any(_is_ours(arg) for arg in args)


def quiet(conn: Any) -> None:
    """Silence the driver's warnings about ``conn`` (a connection of a store's pool)."""
    global _filter
    _ours.add(conn)
    if _filter is None:
        with _installed:
            if _filter is None:
                _filter = logging.Filter()
                _filter.filter = _keep  # type: ignore[method-assign]
                for name in _LOGGERS:
                    logging.getLogger(name).addFilter(_filter)
