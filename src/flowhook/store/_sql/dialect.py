"""What differs between the databases the store runs on: each backend's dialect supplies it.

Every statement of the store is written once, with ``?`` for its parameters; a :class:`Dialect`
gives the few pieces of SQL that differ and turns the marks into its driver's. A backend makes
its one instance in its own ``dialect.py``, setting what differs from these defaults (standard
SQL, as SQLite and PostgreSQL both speak it). docs/architecture.md lists what each field is for.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import attrs

from .._errors import StoreError
from .schema import migrations

__all__ = ["Dialect"]


@attrs.frozen(kw_only=True, eq=False, slots=False)
class Dialect:
    """The SQL one database speaks where it differs from the others: data, no behaviour."""

    #: The driver's parameter mark: ``?`` (sqlite3) or ``%s`` (psycopg).
    marks: str = "?"
    #: Appended to a text column to compare it byte by byte (PostgreSQL's default collation
    #: follows a locale): ``ORDER BY id`` and id ranges.
    binary: str = ""
    #: Rounds a non-negative number, ``{}``, down (SQLite has no ``floor``).
    floor: str = "floor({})"
    #: Turns a text column, ``{}``, into JSON for ``json_array_length``.
    json: str = "{}"
    #: The larger of two values (SQLite's two-argument ``max``).
    greatest: str = "greatest"
    #: Appended to the ``SELECT`` that claims outbox messages, so that concurrent senders skip
    #: each other's rows; nothing where a write transaction already excludes every other writer.
    claim_lock: str = ""
    #: Statements that make an empty temporary table ``pruned (id)`` in the transaction.
    pruned_table: tuple[str, ...] = (
        "CREATE TEMP TABLE pruned (id TEXT PRIMARY KEY) ON COMMIT DROP",
    )
    #: The column that orders ``crash_hooks`` in the order rows were written.
    crash_hook_order: str = "seq"
    #: The server's clock, in seconds since the epoch, where hosts share the database: liveness
    #: and leases read it, never a host's clock. None where one host owns it (its clock is
    #: passed in).
    server_clock: str | None = None
    #: Run, with the flow run's id, in the transaction that asks to cancel or resume it: wakes
    #: its process (PostgreSQL's ``NOTIFY``). None where processes poll for requests (at each
    #: heartbeat, and every 0.25 s while one of their runs is paused).
    announce: str | None = None
    #: The verbs of an insert that skips, and of one that overwrites, a row whose key is taken
    #: (SQLite's ``INSERT OR IGNORE`` and ``INSERT OR REPLACE``); None: ``ON CONFLICT``.
    insert_verbs: tuple[str, str] | None = None
    #: Appended to an insert whose new id :meth:`inserted_id` reads; empty: ``lastrowid``.
    returning_id: str = " RETURNING id"
    #: The errors of a write that mean text this database cannot hold (a lone surrogate, a
    #: NUL, if :attr:`refuses_nul`): the batch is then written again with such text escaped.
    unstorable_errors: tuple[type[BaseException], ...] = (UnicodeEncodeError,)
    refuses_nul: bool = False

    # -- the schema: column types and the few statements of its own --------------------------

    serial: str = "INTEGER PRIMARY KEY"
    #: ``run_logs.id``, numbered without ever reusing an id (``--follow`` reads from the last).
    log_serial: str = "INTEGER PRIMARY KEY AUTOINCREMENT"
    real: str = "REAL"
    bigint: str = "INTEGER"
    #: The statements that make ``state_events`` refuse an ``UPDATE``.
    append_only: tuple[str, ...] = ()
    #: Run first in the transaction that migrates: a lock that makes two hosts migrating at
    #: once apply each migration once, and where the version is kept.
    migration_lock: tuple[str, ...] = ()
    #: Statements that record the schema's version, ``{version}``, once migrated.
    set_version: tuple[str, ...] = ()
    #: Indexes of the first migration that only this database has.
    first_indexes: tuple[str, ...] = ()
    #: Statements that make the run tables' ids compare as :attr:`binary` does, where their
    #: columns do not already: their primary key's index then serves id ranges.
    binary_ids: tuple[str, ...] = ()
    #: Statements that keep, in a table of their own, how many task runs each flow run has
    #: (``task_run_counts``: updated by the database in the transaction that inserts them),
    #: where counting a flow run's rows costs a visit to each of them.
    task_run_counts: tuple[str, ...] = ()
    #: The select of how many task runs a flow run (``?``) has: ``NULL``, then the number.
    task_run_total: str = "SELECT NULL, count(*) FROM task_runs WHERE flow_run_id = ?"
    #: Statements that delete what :attr:`task_run_counts` kept of the flow runs in ``pruned``.
    pruned_counts: tuple[str, ...] = ()
    #: More columns of ``crash_hooks`` (with a leading comma): :attr:`crash_hook_order`'s,
    #: where the database has no row number of its own.
    crash_hook_columns: str = ""

    # -- ``flowhook store copy`` ---------------------------------------------------------------

    #: Statements that make a read transaction see one snapshot throughout.
    snapshot: tuple[str, ...] = ()
    #: The identity column of each table whose own numbering must move past the numbers
    #: copied into it, with :attr:`renumber` (``{table}``, ``{key}``: that column).
    identities: Mapping[str, str] = attrs.field(factory=dict)
    renumber: str = ""

    @functools.cached_property
    def migrations(self) -> tuple[tuple[str, ...], ...]:
        """The schema's migrations in this SQL: entry ``n`` upgrades version ``n`` to ``n + 1``."""
        return migrations(self)

    def now(self, host_time: float) -> tuple[str, tuple[float, ...]]:
        """The SQL for "now" in liveness and leases, and its parameters: the server's clock
        where there is one, else ``host_time``."""
        if self.server_clock is None:
            return "?", (host_time,)
        return self.server_clock, ()

    def after_copy(self, table: str) -> tuple[str, ...]:
        """Statements run after ``store copy`` wrote the rows of ``table`` with their ids (or
        numbers, where its identity column is not its key)."""
        column = self.identities.get(table)
        return () if column is None else (self.renumber.format(table=table, key=column),)

    def sql(self, statement: str) -> str:
        """``statement``, written with ``?``, in this driver's marks (no statement of the
        store holds a ``?`` or a ``%`` of its own)."""
        return statement if self.marks == "?" else statement.replace("?", self.marks)

    def insert(self, table: str, columns: str, key: str, *, replace: bool = False) -> str:
        """An insert of one row of ``columns`` into ``table`` that skips a row whose ``key``
        is taken (``replace``: that overwrites it instead)."""
        names = columns.split(", ")
        values = f"VALUES ({', '.join('?' * len(names))})"
        if self.insert_verbs is not None:
            return f"{self.insert_verbs[replace]} INTO {table} ({columns}) {values}"
        update = ", ".join(f"{name} = EXCLUDED.{name}" for name in names if name != key)
        action = f"DO UPDATE SET {update}" if replace else "DO NOTHING"
        return f"INSERT INTO {table} ({columns}) {values} ON CONFLICT ({key}) {action}"

    def inserted_id(self, cursor: Any) -> int:
        """The id of the row the last insert of ``cursor`` made."""
        if not self.returning_id:
            return int(cursor.lastrowid or 0)
        row = cursor.fetchone()
        return int(row[0]) if row else 0

    def unstorable(self, error: Exception) -> bool:
        """Whether a write failed on text this database cannot hold (a store's
        :class:`StoreError` keeps the driver's error as its context)."""
        cause = error.__context__ if isinstance(error, StoreError) else error
        return isinstance(cause, self.unstorable_errors)
