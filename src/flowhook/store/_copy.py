"""Copying a whole history from one store to another (``flowhook store copy``).

Table by table, every column as it is, ids included, so that runs keep their ids, events their
order and the outbox its idempotency keys; the PostgreSQL and SQLite schemas have the same
tables and columns at the same version. The target must hold no history: a copy never merges.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._errors import StoreError
from ._protocol import Store
from ._sqlite import SQLiteStore

__all__ = ["COPIED_TABLES", "copy_history"]

#: The tables copied, parents first; each with the column that orders its rows.
COPIED_TABLES: tuple[tuple[str, str], ...] = (
    ("processes", "id"),
    ("flow_runs", "created"),
    ("task_runs", "created"),
    ("state_events", "seq"),
    ("hook_errors", "seq"),
    ("blocks", "id"),
    ("notification_outbox", "id"),
    ("run_logs", "id"),
)
#: The identity columns of PostgreSQL tables, moved past the copied ids afterwards.
_IDENTITIES = {
    "processes": "id",
    "state_events": "seq",
    "hook_errors": "seq",
    "blocks": "id",
    "notification_outbox": "id",
    "run_logs": "id",
}
_CHUNK = 5000


def _transaction(store: Store) -> Callable[[Callable[[Any], Any]], Any]:
    write: Callable[[Callable[[Any], Any]], Any] = store._write  # type: ignore[attr-defined]
    return write


def _select(store: Store, table: str, order: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    def read(cursor: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
        rows = cursor.execute(f"SELECT * FROM {table} ORDER BY {order}")  # both return a cursor
        names = [column[0] for column in rows.description]
        return names, list(rows.fetchall())

    result: tuple[list[str], list[tuple[Any, ...]]] = _transaction(store)(read)
    return result


def copy_history(source: Store, target: Store) -> dict[str, int]:
    """Copy every row of ``source`` into ``target``; the number of rows per table.

    Raises :class:`StoreError` when the target already holds runs, processes or messages.
    """
    marker = "?" if isinstance(target, SQLiteStore) else "%s"

    def count(cursor: Any) -> int:
        return sum(
            int(cursor.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
            for table, _ in COPIED_TABLES
        )

    if _transaction(target)(count):
        raise StoreError(
            f"{target.location} already holds a history; copy into a new, empty database"
        )
    copied: dict[str, int] = {}
    for table, order in COPIED_TABLES:
        names, rows = _select(source, table, order)
        statement = (
            f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join([marker] * len(names))})"
        )

        def insert(cursor: Any, statement: str = statement, rows: list[Any] = rows) -> None:
            for start in range(0, len(rows), _CHUNK):
                cursor.executemany(statement, rows[start : start + _CHUNK])

        _transaction(target)(insert)
        copied[table] = len(rows)
    if not isinstance(target, SQLiteStore):

        def advance(cursor: Any) -> None:
            for table, column in _IDENTITIES.items():
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                    f"coalesce(max({column}), 0) + 1, false) FROM {table}"
                )

        _transaction(target)(advance)
    return copied
