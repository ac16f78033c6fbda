"""What differs between the databases the store runs on: each backend's dialect supplies it.

Every statement of the store is written once, in :mod:`flowhook.store._sql`, with ``?`` for its
parameters; a :class:`Dialect` gives the few pieces of SQL that are not the same everywhere and
turns the marks into its driver's. A backend subclasses it in its own ``dialect.py`` and sets
every attribute below; the defaults are SQLite's, which follows the SQL standard closely.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

from .schema import migrations

__all__ = ["Dialect"]


class Dialect:
    """The SQL one database speaks where it differs from the others."""

    #: The driver's parameter mark: ``?`` (sqlite3) or ``%s`` (psycopg).
    marks: ClassVar[str] = "?"
    #: Appended to a text column to compare it byte by byte (PostgreSQL's default collation
    #: follows a locale): ``ORDER BY id`` and id ranges.
    binary: ClassVar[str] = ""
    #: Rounds a non-negative number down, with ``{}`` for it (SQLite has no ``floor``).
    floor: ClassVar[str] = "floor({})"
    #: Turns a text column, ``{}``, into JSON for ``json_array_length``.
    json: ClassVar[str] = "{}"
    #: The larger of two values (SQLite's two-argument ``max``, elsewhere ``greatest``).
    greatest: ClassVar[str] = "greatest"
    #: Appended to the ``SELECT`` that picks outbox messages to claim: how concurrent senders
    #: avoid each other's rows (``FOR UPDATE SKIP LOCKED``), or nothing where a write
    #: transaction already excludes every other writer.
    claim_lock: ClassVar[str] = ""
    #: Statements that make an empty temporary table ``pruned (id)`` in the transaction.
    pruned_table: ClassVar[tuple[str, ...]] = (
        "CREATE TEMP TABLE pruned (id TEXT PRIMARY KEY) ON COMMIT DROP",
    )
    #: The column that orders ``crash_hooks`` in the order rows were written.
    crash_hook_order: ClassVar[str] = "seq"
    #: The database server's clock, in seconds since the epoch, where the store is shared by
    #: hosts (PostgreSQL): heartbeats, claims' leases and crash detection read it, never a
    #: host's clock. None where one host owns the database (SQLite): its clock is passed in.
    server_clock: ClassVar[str | None] = None

    def now(self, host_time: float) -> tuple[str, tuple[float, ...]]:
        """The SQL for "now" in liveness and leases, and its parameters: the server's clock
        where there is one, else ``host_time``."""
        if self.server_clock is None:
            return "?", (host_time,)
        return self.server_clock, ()

    # -- the schema: column types and the few statements of its own --------------------------

    #: An integer primary key the database numbers itself.
    serial: ClassVar[str] = "INTEGER PRIMARY KEY"
    #: ``run_logs.id``, numbered without ever reusing an id (``--follow`` reads from the last).
    log_serial: ClassVar[str] = "INTEGER PRIMARY KEY AUTOINCREMENT"
    #: A floating-point number (seconds since the epoch).
    real: ClassVar[str] = "REAL"
    #: A 64-bit integer (process ids, batch numbers).
    bigint: ClassVar[str] = "INTEGER"
    #: The statements that make ``state_events`` refuse an ``UPDATE``.
    append_only: ClassVar[tuple[str, ...]] = ()
    #: Indexes of the first migration that only this database has.
    first_indexes: ClassVar[tuple[str, ...]] = ()
    #: More columns of ``crash_hooks`` (with a leading comma): the column of
    #: :attr:`crash_hook_order` where the database has no row number of its own.
    crash_hook_columns: ClassVar[str] = ""

    #: Statements that make a read transaction see one snapshot throughout (``store copy``);
    #: none where a read transaction always does.
    snapshot: ClassVar[tuple[str, ...]] = ()

    @functools.cached_property
    def migrations(self) -> tuple[tuple[str, ...], ...]:
        """The schema's migrations in this SQL: entry ``n`` upgrades version ``n`` to ``n + 1``."""
        return migrations(self)

    def after_copy(self, table: str, key: str) -> tuple[str, ...]:
        """Statements run after ``store copy`` wrote the rows of ``table`` with their ids
        (``key``): a sequence that numbers new rows moves past them. None where the database
        numbers rows from the highest id."""
        return ()

    def sql(self, statement: str) -> str:
        """``statement``, written with ``?``, in this driver's marks (no statement of the
        store holds a ``?`` or a ``%`` of its own)."""
        return statement if self.marks == "?" else statement.replace("?", self.marks)

    def insert(self, table: str, columns: str, key: str, *, replace: bool = False) -> str:
        """An insert of one row of ``columns`` into ``table`` that skips a row whose ``key``
        is taken (``replace``: that overwrites it instead)."""
        names = columns.split(", ")
        values = f"VALUES ({', '.join('?' * len(names))})"
        update = ", ".join(f"{name} = EXCLUDED.{name}" for name in names if name != key)
        action = f"DO UPDATE SET {update}" if replace else "DO NOTHING"
        return f"INSERT INTO {table} ({columns}) {values} ON CONFLICT ({key}) {action}"

    def inserted_id(self, cursor: Any) -> int:
        """The id of the row the last insert of ``cursor`` made (statements of
        :attr:`returning_id`)."""
        row = cursor.fetchone()
        return int(row[0]) if row else 0

    #: Appended to an insert whose new id :meth:`inserted_id` reads.
    returning_id: ClassVar[str] = " RETURNING id"

    def unstorable(self, error: Exception) -> bool:
        """Whether a write failed on text this database cannot hold (a lone surrogate, a NUL):
        the batch is then written again with such text escaped."""
        return isinstance(error, UnicodeEncodeError)

    #: Whether NUL characters are among the text :meth:`unstorable` refuses.
    refuses_nul: ClassVar[bool] = False
