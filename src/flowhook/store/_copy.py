"""Copying a whole history from one store to another (``flowhook store copy``, see
docs/store.md "Moving a history"): every column both schemas have, ids included, each table
read in pages of :data:`PAGE_ROWS` rows in the order of its key, from one snapshot, into one
write transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
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
    assert isinstance(source, SQLStore) and isinstance(target, SQLStore), (source, target)
    if target._reading(
        lambda cursor: any(
            cursor.execute(f"SELECT 1 FROM {table} LIMIT 1", ()).fetchall()
            for table, _ in COPIED_TABLES
        )
    ):
        raise StoreError(
            f"{target.location} already holds a history; copy into a new, empty database"
        )

    def write(source_cursor: Any, target_cursor: Any) -> dict[str, int]:
        copied = dict.fromkeys((table for table, _ in COPIED_TABLES), 0)
        for table, key in COPIED_TABLES:
            there = set(_columns(target_cursor, table))
            columns = [name for name in _columns(source_cursor, table) if name in there]
            listed, marks = ", ".join(columns), ", ".join(["?"] * len(columns))
            insert = target.dialect.sql(f"INSERT INTO {table} ({listed}) VALUES ({marks})")
            for page in _pages(source_cursor, table, columns, key, source.dialect):
                # In as few statements as the target takes (PostgreSQL: one COPY a page): its
                # kept counts of task runs are then updated once a page, not once a row.
                target._insert_rows(target_cursor, insert, page, (table, listed, ""))
                copied[table] += len(page)
            for statement in target.dialect.after_copy(table):
                target_cursor.execute(statement, ())
        return copied

    def read(source_cursor: Any) -> dict[str, int]:
        for statement in source.dialect.snapshot:  # one snapshot for every page
            source_cursor.execute(statement, ())
        return target._write(lambda target_cursor: write(source_cursor, target_cursor))

    return source._reading(read)
