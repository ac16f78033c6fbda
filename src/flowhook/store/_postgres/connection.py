"""The connections to a PostgreSQL server, the transactions every store method runs in, migration.

A :mod:`psycopg_pool` pool of autocommit connections, shared by the threads of a process; every
store method is one explicit transaction, at READ COMMITTED, so that a conditional ``UPDATE``
that another host's transaction is changing waits for it and then re-reads the row (how two
reapers crash a run exactly once). A lost connection, a server restarting, a serialization
failure or a deadlock is retried with backoff for ``lock_timeout`` seconds (an outage said once
each way, :mod:`.outage`), and a transaction whose server stays silent that long is broken
(:mod:`.watchdog`); a database that takes no writes (full, read-only) is a :class:`StoreError`
at once, which the background writer keeps the writes through. Any other error is a
:class:`StoreError` that names the server without its password. Migrations run under an
advisory lock, so that two hosts migrating at once apply each migration once.
"""

from __future__ import annotations

import contextlib
import random
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
import psycopg_pool

from .._errors import DamagedData, StoreError
from .._settings import mask_url
from .._sql import Into, SQLStore
from .._sql.schema import SCHEMA_VERSION
from .dialect import POSTGRES
from .outage import Outage
from .quiet import POOL_NAME, quiet
from .watchdog import WATCHDOG, WatchedCursor

__all__ = ["VERSION_TABLE", "Cursor", "PostgresBase"]

T = TypeVar("T")
Cursor = psycopg.Cursor[tuple[Any, ...]]

#: The one-row table holding the schema version (SQLite's ``PRAGMA user_version``).
VERSION_TABLE = "flowhook_schema"
#: Any number, the same in every flowhook: the advisory lock migrations hold.
_MIGRATION_LOCK = 0x466C6F77  # "Flow"
_CONNECT_TIMEOUT = 10
#: Errors that refuse the data of a write, not the store: writing it again cannot succeed.
_REFUSALS = (
    psycopg.DataError,
    psycopg.IntegrityError,
    psycopg.ProgrammingError,
    DamagedData,
    UnicodeEncodeError,
)

#: Operational errors of a reachable server: another transaction in the way, not an outage.
_CONTENTION = (
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
    psycopg.errors.LockNotAvailable,
)
#: A reachable server that takes no writes for now (disk full, read-only): retrying at once
#: cannot help; the writer keeps the writes and tries again later (``unavailable``).
_NO_WRITES = (psycopg.errors.DiskFull, psycopg.errors.ReadOnlySqlTransaction)


def _reason(exc: BaseException, url: str) -> str:
    """The first line of a driver error, without the password in case the server echoed it."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    try:
        password = psycopg.conninfo.conninfo_to_dict(url).get("password")
    except psycopg.Error:  # a URL libpq cannot parse: its password part is unknown
        return text if "@" not in url else "the URL is malformed"
    if password:
        text = text.replace(str(password), "***")
    return text


class _Rehearsal(Exception):
    def __init__(self, result: Any) -> None:
        self.result = result


class PostgresBase(SQLStore):
    """The pool of a store on one PostgreSQL database, its transactions and its schema.

    ``PostgresStore`` is it with the store core (:mod:`.._sql`): one pool.
    """

    dialect = POSTGRES
    newer_fix = " on this host"
    no_schema_fix = "; create it with `flowhook store migrate`"
    auto_migrate = False
    #: The most connections of the pool.
    max_connections = 4

    def _open(self, url: str, *, create: bool, migrate: bool) -> None:
        self.location, self.url = mask_url(url), url
        self._pool: psycopg_pool.ConnectionPool[psycopg.Connection[tuple[Any, ...]]] | None = None
        self.outage = Outage.of(self.location)
        #: When each connection of the pool was made (monotonic), to tell outages apart.
        self._made: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
        try:
            version = self._first_version()
            self._pool = psycopg_pool.ConnectionPool(
                url,
                min_size=1,
                max_size=self.max_connections,
                kwargs={
                    "autocommit": True,
                    "connect_timeout": _CONNECT_TIMEOUT,
                    "cursor_factory": WatchedCursor,
                },
                check=self._check,
                configure=self._configure,
                timeout=self.lock_timeout,
                name=POOL_NAME,
                open=True,
            )
            if version is None:  # the server was lost: the pool waits for it, as any call does
                version = self._reading(lambda cur: self._version(cur.connection))
            self._open_schema(version, create=create, migrate=migrate)
        except psycopg.Error as exc:
            self.close()
            raise StoreError(
                f"cannot use the flowhook database {self.location}: {_reason(exc, url)}"
            ) from None
        except BaseException:
            self.close()
            raise

    def unavailable(self, error: Exception) -> bool:
        """The server unreachable past the lock timeout, restarting, out of disk or connections:
        the database cannot be written now. Data, constraint and SQL errors refuse the data."""
        if not isinstance(error, (StoreError, psycopg.Error, OSError)):
            return False
        cause = error.__context__ if isinstance(error, StoreError) else error
        return not isinstance(cause, _REFUSALS)

    # -- transactions -------------------------------------------------------------------------

    def _first_version(self) -> int | None:
        """The schema version, read on a connection of its own: a wrong password or a missing
        database is one clear error at once, where the pool would retry it until its timeout.
        None when a server this process has used is unreachable now (an outage: retried)."""
        try:
            with psycopg.connect(
                self.url, connect_timeout=_CONNECT_TIMEOUT, autocommit=True
            ) as conn:
                version = self._version(conn)
        except psycopg.OperationalError as exc:
            if not self.outage.known:
                raise
            self.outage.lost(_reason(exc, self.url))
            return None
        self.outage.back()
        return version

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        self._made[conn] = time.monotonic()
        quiet(conn)

    def _check(self, conn: psycopg.Connection[Any]) -> None:
        """The pool's check of an idle connection before lending it: one broken by a restart
        (or a cut) is the first sign of an outage even when the server is back already."""
        try:
            with WATCHDOG.guard(conn, self.lock_timeout):
                psycopg_pool.ConnectionPool.check_connection(conn)
        except psycopg.Error as exc:
            self.outage.lost(_reason(exc, self.url), self._made.get(conn))
            raise

    def _retrying(self, operation: Callable[[Cursor], T], *, write: bool) -> T:
        if self._pool is None:
            raise StoreError(f"the store at {self.location} is closed")
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.05
        while True:
            used: list[psycopg.Connection[Any]] = []
            try:
                result = self._attempt(operation, write, used)
                self.outage.back()
                return result
            except DamagedData as exc:
                raise StoreError(
                    f"the flowhook database {self.location} holds damaged data ({exc}); "
                    "restore it from a backup"
                ) from None
            except _NO_WRITES as exc:
                raise StoreError(
                    f"the flowhook database {self.location} takes no writes now: "
                    f"{_reason(exc, self.url)}"
                ) from None
            except psycopg.OperationalError as exc:  # lost connection, restart, deadlock
                if not isinstance(exc, _CONTENTION):
                    made = self._made.get(used[0]) if used else None
                    self.outage.lost(_reason(exc, self.url), made)
                if time.monotonic() >= deadline:
                    raise StoreError(
                        f"cannot use the flowhook database {self.location}: "
                        f"{_reason(exc, self.url)}"
                    ) from None
            except (psycopg.Error, UnicodeEncodeError) as exc:
                raise StoreError(
                    f"the flowhook database {self.location} refused a write or read: "
                    f"{_reason(exc, self.url)}"
                ) from None  # the driver's error stays the __context__ (see runs.write)
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)

    def _attempt(
        self, operation: Callable[[Cursor], T], write: bool, used: list[psycopg.Connection[Any]]
    ) -> T:
        """One transaction on a connection of the pool (put in ``used``, for the caller)."""
        assert self._pool is not None
        with self._pool.connection() as conn:
            used.append(conn)
            try:
                with (
                    WATCHDOG.guard(conn, self.lock_timeout),
                    conn.transaction(),
                    conn.cursor() as cur,
                ):
                    if not write:
                        cur.execute("SET TRANSACTION READ ONLY")
                    return operation(cur)
            except psycopg.errors.ReadOnlySqlTransaction:
                # A session keeps the read-only default it started with: a new one sees the
                # database's current one once it is made writable again.
                conn.close()
                raise

    def _insert_rows(self, db: Any, statement: str, rows: list[Any], into: Into | None) -> None:
        """Many rows of an insert are copied (``COPY``) into a temporary table of the
        connection, then inserted from it in one statement, in their order: pipelined
        ``executemany`` spent more in psycopg and on the server, per row, than SQLite does on
        the whole row."""
        if into is None or len(rows) < 2:
            db.executemany(statement, rows)
            return
        table, columns, ending = into
        staged = f"batch_{table}"
        # Made by the transaction (a rollback takes it back), emptied by its commit.
        db.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {staged} ON COMMIT DELETE ROWS AS "
            f"SELECT {columns} FROM {table} WITH NO DATA"
        )
        with db.copy(f"COPY {staged} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        db.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {staged}{ending}")

    def _write(self, body: Callable[[Cursor], T]) -> T:
        """Run ``body`` in one write transaction, retried while the server cannot be reached."""
        return self._retrying(body, write=True)

    def _rehearsed(self, body: Callable[[Cursor], T]) -> T:
        """Run ``body`` in a write transaction that is always rolled back: what it would do,
        counted by the very statements that would do it (``prune --dry-run``)."""

        def rehearse(cur: Cursor) -> T:
            raise _Rehearsal(body(cur))  # leaving the transaction by an error rolls it back

        try:
            self._write(rehearse)
        except _Rehearsal as done:
            return done.result  # type: ignore[no-any-return]
        raise AssertionError("unreachable")  # pragma: no cover

    def _reading(self, body: Callable[[Cursor], T]) -> T:
        """Run ``body`` in one read-only transaction."""
        return self._retrying(body, write=False)

    # -- schema -------------------------------------------------------------------------------

    @staticmethod
    def _version(conn: psycopg.Connection[Any]) -> int:
        row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (VERSION_TABLE,)).fetchone()
        if not row or not row[0]:
            return 0
        found = conn.execute(f"SELECT max(version) FROM {VERSION_TABLE}").fetchone()
        return int(found[0]) if found and found[0] is not None else 0

    def _open_schema(self, version: int, *, create: bool, migrate: bool) -> None:
        if self._due_migrations(version, create=create, migrate=migrate):
            self.migrated_from, _ = self.migrate()  # as found under the migration lock

    def migrate(self) -> tuple[int, int]:
        """Apply the missing migrations; returns the versions before and after."""

        def upgrade(cur: Cursor) -> tuple[int, int]:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            cur.execute(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version INTEGER NOT NULL)")
            current = self._version(cur.connection)
            self._upgrade(cur, current)
            cur.execute(f"DELETE FROM {VERSION_TABLE}")
            cur.execute(f"INSERT INTO {VERSION_TABLE} VALUES (%s)", (SCHEMA_VERSION,))
            return current, SCHEMA_VERSION

        return self._write(upgrade)

    def schema_version(self) -> int:
        return int(self._read(f"SELECT max(version) FROM {VERSION_TABLE}")[0][0])

    def close(self) -> None:
        """Close the pool and its connections."""
        pool, self._pool = self._pool, None
        if pool is not None:
            with contextlib.suppress(Exception):
                pool.close()
