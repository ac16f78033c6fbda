"""Copying a whole history from one store to another (``flowhook store copy``).

Table by table, every column both schemas have, ids included, so that runs keep their ids,
events their order and the outbox its idempotency keys; the PostgreSQL and SQLite schemas have
the same tables and columns at the same version. The target must hold no history: a copy never
merges.

The history is streamed: each table is read in pages of :data:`PAGE_ROWS` rows, in the order of
its key (``WHERE key > last ORDER BY key LIMIT n``), and each page is inserted before the next
is read, so that a copy holds one page in memory whatever the size of the history. The source
is read in one read transaction (one snapshot: runs written meanwhile are copied whole or not
at all) and the target written in one write transaction: a copy that fails leaves the target
as empty as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ._errors import StoreError
from ._protocol import Store
from ._sql import SQLStore
from ._sql.dialect import Dialect

__all__ = ["COPIED_TABLES", "PAGE_ROWS", "copy_history"]

#: The tables copied, parents first; each with its key, the unique column that orders its rows.
COPIED_TABLES: tuple[tuple[str, str], ...] = (
    ("processes", "id"),
    ("flow_runs", "id"),
    ("task_runs", "id"),
    ("state_events", "seq"),
    ("hook_errors", "seq"),
    ("crash_hooks", "run_id"),
    ("blocks", "id"),
    ("notification_outbox", "id"),
    ("run_logs", "id"),
)
#: Rows per page: large enough that a page costs little more than its rows, small enough that
#: one page of events with long tracebacks stays a few megabytes.
PAGE_ROWS = 1000

Body = Callable[[Any], Any]


def _transaction(store: Store, *, write: bool) -> Callable[[Body], Any]:
    method: Callable[[Body], Any] = getattr(store, "_write" if write else "_reading")
    return method


def _dialect(store: Store) -> Dialect:
    assert isinstance(store, SQLStore), store
    return store.dialect


def _columns(cursor: Any, table: str) -> list[str]:
    found = cursor.execute(f"SELECT * FROM {table} LIMIT 0")  # both drivers return the cursor
    names = [column[0] for column in found.description]
    found.fetchall()
    return names


def _pages(
    cursor: Any, table: str, columns: list[str], key: str, dialect: Dialect
) -> Iterator[list[Any]]:
    """The rows of ``table`` (its ``columns``), a page at a time, in the order of ``key``."""
    position = columns.index(key)
    listed = ", ".join(columns)
    first = f"SELECT {listed} FROM {table} ORDER BY {key} LIMIT {PAGE_ROWS}"
    after = dialect.sql(f"SELECT {listed} FROM {table} WHERE {key} > ? ORDER BY {key} LIMIT ?")
    rows = list(cursor.execute(first, ()).fetchall())
    while rows:
        yield rows
        if len(rows) < PAGE_ROWS:
            return
        rows = list(cursor.execute(after, (rows[-1][position], PAGE_ROWS)).fetchall())


def copy_history(source: Store, target: Store) -> dict[str, int]:
    """Copy every row of ``source`` into ``target``; the number of rows per table.

    Raises :class:`StoreError` when the target already holds runs, processes or messages.
    """
    source_dialect, target_dialect = _dialect(source), _dialect(target)

    def count(cursor: Any) -> int:
        return sum(
            int(cursor.execute(f"SELECT count(*) FROM {table}", ()).fetchone()[0])
            for table, _ in COPIED_TABLES
        )

    if _transaction(target, write=False)(count):
        raise StoreError(
            f"{target.location} already holds a history; copy into a new, empty database"
        )

    def read(source_cursor: Any) -> dict[str, int]:
        for statement in source_dialect.snapshot:  # one snapshot for every page
            source_cursor.execute(statement, ())

        def write(target_cursor: Any) -> dict[str, int]:
            copied: dict[str, int] = {}
            for table, key in COPIED_TABLES:
                there = set(_columns(target_cursor, table))
                columns = [name for name in _columns(source_cursor, table) if name in there]
                statement = target_dialect.sql(
                    f"INSERT INTO {table} ({', '.join(columns)}) "
                    f"VALUES ({', '.join(['?'] * len(columns))})"
                )
                copied[table] = 0
                for page in _pages(source_cursor, table, columns, key, source_dialect):
                    target_cursor.executemany(statement, page)
                    copied[table] += len(page)
                for statement in target_dialect.after_copy(table, key):
                    target_cursor.execute(statement, ())
            return copied

        result: dict[str, int] = _transaction(target, write=True)(write)
        return result

    copied: dict[str, int] = _transaction(source, write=False)(read)
    return copied
