"""What both stores' SQL shares: statements written once, with ``?`` marks, for either driver.

sqlite3 takes ``?`` and psycopg ``%s``; a statement shared by both stores is written with
``?`` (no statement here holds a ``?`` or ``%`` of its own) and :func:`marked` gives each
driver its form. Both a ``sqlite3.Connection`` and a psycopg cursor are an :class:`Executor`.

- :class:`SQLStore`: what the shared parts need of a store's base class (its transactions,
  its driver's marks), which ``SQLiteBase`` and ``PostgresBase`` provide.
- :mod:`.blocks`, :mod:`.outbox`, :mod:`.processes`: the methods of those areas that are the
  same SQL on both databases; each store's own modules add the rest (outbox claims with
  ``SKIP LOCKED``, crashing runs with ``RETURNING``, ``NOTIFY``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

__all__ = ["Executor", "SQLStore", "marked"]

T = TypeVar("T")


class Executor(Protocol):
    """``execute(sql, parameters)`` returning an object with ``rowcount`` and ``fetchone``."""

    def execute(self, sql: str, parameters: Sequence[Any], /) -> Any: ...


def marked(sql: str, marks: str) -> str:
    """``sql`` (written with ``?``) with ``marks`` (``?`` or ``%s``) for its parameters."""
    return sql if marks == "?" else sql.replace("?", marks)


class SQLStore:
    """The base of both stores' base classes, as the shared parts see it."""

    #: The driver's parameter mark: ``?`` (sqlite3) or ``%s`` (psycopg).
    marks: ClassVar[str]
    #: Appended to a text column in ``ORDER BY`` to compare it byte by byte: nothing for
    #: SQLite (its default), ``COLLATE "C"`` for PostgreSQL (whose default follows a locale).
    binary: ClassVar[str]

    if TYPE_CHECKING:

        def _write(self, body: Callable[[Any], T]) -> T: ...
        def _reading(self, body: Callable[[Any], T]) -> T: ...
        def _read(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...
        def _records(
            self, into: Callable[[tuple[Any, ...]], T], sql: str, parameters: Sequence[Any] = ()
        ) -> list[T]: ...

    def _sql(self, sql: str) -> str:
        """``sql``, written with ``?``, in this store's driver's marks."""
        return marked(sql, self.marks)

    def _change(self, sql: str, parameters: Sequence[Any]) -> int:
        """Run one statement (``?`` marks) in a write transaction; how many rows it changed."""
        statement = self._sql(sql)
        return int(self._write(lambda db: db.execute(statement, parameters).rowcount))
