"""SQLite's SQL, where it differs (see :class:`~flowhook.store._sql.dialect.Dialect`)."""

from __future__ import annotations

from typing import Any

from .._sql.dialect import Dialect

__all__ = ["SQLITE", "SQLiteDialect"]


class SQLiteDialect(Dialect):
    """SQLite: ``?`` marks, byte-order text, one writer at a time (``BEGIN IMMEDIATE``)."""

    floor = "CAST({} AS INTEGER)"
    greatest = "max"
    pruned_table = (
        "CREATE TEMP TABLE IF NOT EXISTS pruned (id TEXT PRIMARY KEY)",
        "DELETE FROM temp.pruned",
    )
    crash_hook_order = "rowid"
    append_only = (
        """CREATE TRIGGER state_events_append_only BEFORE UPDATE ON state_events
            BEGIN SELECT RAISE(ABORT, 'state events are append-only'); END""",
    )
    returning_id = ""

    def insert(self, table: str, columns: str, key: str, *, replace: bool = False) -> str:
        # OR IGNORE also skips a row that breaks another constraint: the runs have always been
        # inserted so on SQLite; OR REPLACE gives a replaced row a new rowid (crash_hook_order).
        values = ", ".join("?" * len(columns.split(", ")))
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        return f"{verb} INTO {table} ({columns}) VALUES ({values})"

    def inserted_id(self, cursor: Any) -> int:
        return int(cursor.lastrowid or 0)


SQLITE = SQLiteDialect()
