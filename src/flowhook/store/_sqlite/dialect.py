"""SQLite's SQL, where it differs (see :class:`~flowhook.store._sql.dialect.Dialect`): ``?``
marks, byte-order text, one writer at a time (``BEGIN IMMEDIATE``)."""

from __future__ import annotations

from .._sql.dialect import Dialect

__all__ = ["SQLITE"]

SQLITE = Dialect(
    floor="CAST({} AS INTEGER)",
    greatest="max",
    pruned_table=(
        "CREATE TEMP TABLE IF NOT EXISTS pruned (id TEXT PRIMARY KEY)",
        "DELETE FROM temp.pruned",
    ),
    crash_hook_order="rowid",
    # OR IGNORE also skips a row that breaks another constraint: the runs have always been
    # inserted so on SQLite; OR REPLACE gives a replaced row a new rowid (crash_hook_order).
    insert_verbs=("INSERT OR IGNORE", "INSERT OR REPLACE"),
    returning_id="",
    set_version=("PRAGMA user_version = {version}",),
    append_only=(
        """CREATE TRIGGER state_events_append_only BEFORE UPDATE ON state_events
            BEGIN SELECT RAISE(ABORT, 'state events are append-only'); END""",
    ),
)
