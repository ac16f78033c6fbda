"""The PostgreSQL store: the pool of connections to the server, the transactions every store
method runs in, migration (see docs/store.md, "Sharing one store between hosts").

Every store method is one explicit transaction at READ COMMITTED, so that a conditional
``UPDATE`` that another host's transaction is changing waits for it and then re-reads the row
(how two reapers crash a run exactly once). A lost connection, a restart, a serialization
failure or a deadlock is retried for ``lock_timeout`` seconds (:mod:`.outage`, :mod:`.watchdog`).
Cancel and resume requests are heard with ``LISTEN`` (:class:`CancelListener`).
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
from psycopg import DataError, IntegrityError, ProgrammingError, errors

from .._errors import DamagedData, StoreError
from .._settings import mask_url
from .._sql import Into
from .._sql.core import SQLCore
from .copying import ColumnTypes, copy_rows
from .dialect import CANCEL_CHANNEL, POSTGRES, VERSION_TABLE
from .outage import POOL_NAME, Outage, quiet
from .watchdog import WATCHDOG, WatchedCursor

__all__ = ["VERSION_TABLE", "CancelListener", "PostgresStore"]

T = TypeVar("T")
Cursor = psycopg.Cursor[tuple[Any, ...]]

_CONNECT_TIMEOUT = 10
#: Errors that refuse the data of a write, not the store: writing it again cannot succeed.
_REFUSALS = (DataError, IntegrityError, ProgrammingError, DamagedData, UnicodeEncodeError)
#: Operational errors of a reachable server: another transaction in the way, not an outage.
_CONTENTION = (errors.SerializationFailure, errors.DeadlockDetected, errors.LockNotAvailable)
#: A reachable server that takes no writes for now (disk full, read-only): retrying at once
#: cannot help; the writer keeps the writes and tries again later (``unavailable``).
_NO_WRITES = (errors.DiskFull, errors.ReadOnlySqlTransaction)


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


class PostgresStore(SQLCore):
    """The :class:`~flowhook.store.Store` on one PostgreSQL database: the store core
    (:mod:`.._sql`) on its pool, its transactions and its schema.

    ``create=False`` refuses a database without flowhook's schema (the command line never
    creates one); ``migrate`` applies missing migrations (``FLOWHOOK_STORE_AUTO_MIGRATE``).
    Raises :class:`~flowhook.store.StoreError` when the server cannot be used (the message names
    it without its password), and :class:`~flowhook_hookspec.errors.ConfigError` when its schema
    is newer than this flowhook's, or older and ``migrate`` is false.
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
        self._column_types: ColumnTypes = {}
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
            if self._due_migrations(version, create=create, migrate=migrate):
                self.migrated_from = self._write(self._migrate)  # as found under its lock
        except psycopg.Error as exc:  # SQLStore closes what was opened
            raise self._failure("cannot use the flowhook database {}", exc) from None

    def unavailable(self, error: Exception) -> bool:
        """The server unreachable past the lock timeout, restarting, out of disk or connections:
        the database cannot be written now. Data, constraint and SQL errors refuse the data."""
        if not isinstance(error, (StoreError, psycopg.Error, OSError)):
            return False
        cause = error.__context__ if isinstance(error, StoreError) else error
        return not isinstance(cause, _REFUSALS)

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

    def _transaction(self, operation: Callable[[Cursor], T], *, write: bool, rehearse: bool) -> T:
        """Run ``operation`` in one transaction, retried while the server cannot be reached."""
        if self._pool is None:
            raise StoreError(f"the store at {self.location} is closed")
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.05
        while True:
            conn: psycopg.Connection[Any] | None = None
            try:
                with self._pool.connection() as conn:
                    try:
                        guard = WATCHDOG.guard(conn, self.lock_timeout)
                        with guard, conn.cursor() as cur, conn.transaction():
                            if not write:
                                cur.execute("SET TRANSACTION READ ONLY")
                            result = operation(cur)
                            if rehearse:
                                raise psycopg.Rollback  # leaves the block, rolled back, silently
                    except errors.ReadOnlySqlTransaction:
                        # A session keeps the read-only default it started with: a new one sees
                        # the database's current one once it is made writable again.
                        conn.close()
                        raise
                self.outage.back()
                return result
            except DamagedData as exc:
                raise StoreError(
                    f"the flowhook database {self.location} holds damaged data ({exc}); "
                    "restore it from a backup"
                ) from None
            except _NO_WRITES as exc:
                raise self._failure("the flowhook database {} takes no writes now", exc) from None
            except psycopg.OperationalError as exc:  # lost connection, restart, deadlock
                if not isinstance(exc, _CONTENTION):
                    made = None if conn is None else self._made.get(conn)
                    self.outage.lost(_reason(exc, self.url), made)
                if time.monotonic() >= deadline:
                    raise self._failure("cannot use the flowhook database {}", exc) from None
            except (psycopg.Error, UnicodeEncodeError) as exc:
                # the driver's error stays the __context__ (see Dialect.unstorable)
                raise self._failure(
                    "the flowhook database {} refused a write or read", exc
                ) from None
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)

    def _failure(self, what: str, exc: BaseException) -> StoreError:
        """``what`` (``{}`` for the location) and the driver's reason, without the password."""
        return StoreError(f"{what.format(self.location)}: {_reason(exc, self.url)}")

    def _insert_many(self, db: Any, statement: str, rows: list[Any], into: Into) -> None:
        """Many rows of an insert are copied (binary ``COPY``, :mod:`.copying`) in one
        statement: pipelined ``executemany`` spent more in psycopg and on the server, per row,
        than SQLite does on the whole row."""
        copy_rows(db, rows, into, self._column_types)

    @staticmethod
    def _version(db: Any) -> int:
        row = db.execute("SELECT to_regclass(%s) IS NOT NULL", (VERSION_TABLE,)).fetchone()
        if not row or not row[0]:
            return 0
        found = db.execute(f"SELECT max(version) FROM {VERSION_TABLE}").fetchone()
        return int(found[0]) if found and found[0] is not None else 0

    def cancel_listener(self, process_id: int) -> CancelListener:
        """A listener that wakes when a request for one of ``process_id``'s runs arrives."""
        return CancelListener(self.url, str(process_id))

    def close(self) -> None:
        """Close the pool and its connections."""
        pool, self._pool = self._pool, None
        if pool is not None:
            with contextlib.suppress(Exception):
                pool.close()


class CancelListener:
    """Wakes when a ``NOTIFY`` on :data:`~.dialect.CANCEL_CHANNEL` carries ``payload`` (the id
    of this process), on a connection of its own, reconnecting when it is lost.

    :meth:`wait` also returns True right after (re)connecting: a request sent while the
    connection was down went unheard, so the caller reads the pending requests again.
    """

    def __init__(self, url: str, payload: str) -> None:
        self.url = url
        self.payload = payload
        self._conn: psycopg.Connection[Any] | None = None

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds; True when there may be a new request."""
        if self._conn is None or self._conn.closed:
            try:
                self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
                self._conn.execute(f"LISTEN {CANCEL_CHANNEL}")
                return True
            except psycopg.Error:
                self.close()
                time.sleep(timeout)
                return False
        try:
            return any(n.payload == self.payload for n in self._conn.notifies(timeout=timeout))
        except psycopg.Error:
            self.close()
            return False

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
