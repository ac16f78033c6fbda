"""The store core: every statement and all the store logic, written once for every database.

Statements are written with ``?`` for their parameters; the store's
:class:`~.dialect.Dialect` gives the pieces of SQL that differ and its driver's marks. A backend
(:mod:`flowhook.store._sqlite`, :mod:`flowhook.store._postgres`) adds only what is its own: its
connections and transactions, and its dialect. Both a ``sqlite3.Connection`` and a psycopg
cursor are an :class:`Executor`.

- :class:`SQLStore`: what the core needs of a backend (its transactions, its dialect).
- :mod:`.dialect`: what a database supplies; :mod:`.schema`: the tables, as migrations.
- :mod:`.columns`, :mod:`.records`: the columns read back and their records; :mod:`.rows`: the
  rows a batch writes (sorted by :mod:`flowhook.store._batch`).
- :mod:`.runs`, :mod:`.prune`, :mod:`.processes`, :mod:`.outbox`, :mod:`.blocks`,
  :mod:`.logs`, :mod:`.listing`: the store's methods by area; :mod:`.core` joins them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

if TYPE_CHECKING:
    from .dialect import Dialect

__all__ = ["Executor", "SQLStore", "marked"]

T = TypeVar("T")


class Executor(Protocol):
    """``execute(sql, parameters)`` returning an object with ``rowcount`` and ``fetchone``."""

    def execute(self, sql: str, parameters: Sequence[Any], /) -> Any: ...


def marked(sql: str, marks: str) -> str:
    """``sql`` (written with ``?``) with ``marks`` (``?`` or ``%s``) for its parameters."""
    return sql if marks == "?" else sql.replace("?", marks)


class SQLStore:
    """The base of every backend's base class, as the core sees it."""

    #: The SQL of the database behind the store.
    dialect: ClassVar[Dialect]

    if TYPE_CHECKING:
        location: str
        #: The processes this store registered, to restore a row that went missing.
        _registered: dict[int, Any]

        def _write(self, body: Callable[[Any], T]) -> T: ...
        def _rehearsed(self, body: Callable[[Any], T]) -> T: ...
        def _reading(self, body: Callable[[Any], T]) -> T: ...

    def _sql(self, sql: str) -> str:
        """``sql``, written with ``?``, in this store's driver's marks."""
        return self.dialect.sql(sql)

    def _read(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of one query (``?`` marks), in a read transaction."""
        statement = self._sql(sql)
        return self._reading(lambda db: list(db.execute(statement, parameters).fetchall()))

    def _records(
        self, into: Callable[[tuple[Any, ...]], T], sql: str, parameters: Sequence[Any] = ()
    ) -> list[T]:
        """The rows of a query (``?`` marks), each decoded by ``into``: a row it finds damaged
        (``DamagedData``) is a :class:`~flowhook.store.StoreError` naming the database."""
        statement = self._sql(sql)
        return self._reading(
            lambda db: [into(row) for row in db.execute(statement, parameters).fetchall()]
        )

    def _change(self, sql: str, parameters: Sequence[Any]) -> int:
        """Run one statement (``?`` marks) in a write transaction; how many rows it changed."""
        statement = self._sql(sql)
        return int(self._write(lambda db: db.execute(statement, parameters).rowcount))
