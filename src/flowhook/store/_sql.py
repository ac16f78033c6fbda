"""What both stores' SQL shares: statements written once, with ``?`` marks, for either driver.

sqlite3 takes ``?`` and psycopg ``%s``; a statement shared by both stores is written with
``?`` (no statement here holds a ``?`` or ``%`` of its own) and :func:`marked` gives each
driver its form. Both a ``sqlite3.Connection`` and a psycopg cursor are an :class:`Executor`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

__all__ = ["Executor", "marked"]


class Executor(Protocol):
    """``execute(sql, parameters)`` returning an object with ``rowcount`` and ``fetchone``."""

    def execute(self, sql: str, parameters: Sequence[Any], /) -> Any: ...


def marked(sql: str, marks: str) -> str:
    """``sql`` (written with ``?``) with ``marks`` (``?`` or ``%s``) for its parameters."""
    return sql if marks == "?" else sql.replace("?", marks)
