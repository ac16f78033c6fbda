"""The SQLite store: the connections to the database file (one per thread), the transactions
every store method runs in, migration.

The file is in WAL mode, so that readers never block the writer. Every write is one ``BEGIN
IMMEDIATE`` transaction, retried while other processes hold the lock (the busy timeout waits
inside SQLite; the retry loop outlasts a long checkpoint or a slow disk), so several processes
record runs at once without "database is locked" errors and without losing events.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .._errors import DamagedData, StoreError, older_schema
from .._sql import Into
from .._sql.core import SQLCore
from .._sql.schema import SCHEMA_VERSION
from .dialect import SQLITE
from .many_rows import insert_many

__all__ = ["SQLiteStore"]

T = TypeVar("T")

_UNDECODABLE_TEXT = re.compile(r"Could not decode to UTF-8 column '([^']*)'")


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _close(connections: list[sqlite3.Connection]) -> None:
    for conn in connections:
        with contextlib.suppress(sqlite3.Error):
            conn.close()


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at ``path``; None when there is none."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _prepare_files(path: Path) -> None:
    """The directory (0700) and the database file (0600), when they do not exist yet."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


class SQLiteStore(SQLCore):
    """The :class:`~flowhook.store.Store` on one SQLite file: the store core (:mod:`.._sql`)
    on its connections, its transactions and its schema.

    ``create=False`` opens an existing database only (the command line never creates one).
    Raises :class:`~flowhook.store.StoreError` when the file cannot be used, and
    :class:`~flowhook_hookspec.errors.ConfigError` when a newer flowhook wrote it.
    """

    dialect = SQLITE
    newer_fix = ", or set FLOWHOOK_HOME to another directory"

    def _open(self, path: Path, *, create: bool, migrate: bool) -> None:
        self.location, self.path = str(path), path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._guard = threading.Lock()
        self._closed = False
        #: Bumped when the file is re-created under this store: older connections are dropped.
        self._generation = 0
        self._file: tuple[int, int] | None = None
        #: ``PRAGMA mmap_size`` of the connections opened from now on (see :meth:`map_reads`).
        self._mapped = 0
        try:
            if not path.is_file():
                if not create:
                    raise StoreError(f"there is no flowhook database at {path}")
                if not migrate:  # a new database is a schema change too: never made here
                    raise older_schema(self.location, 0, SCHEMA_VERSION)
                _prepare_files(path)
            self._file = _identity(path)
            if self._due_migrations(
                self._version(self._connection()), create=create, migrate=migrate
            ):
                self._migrate_file()
        except sqlite3.DatabaseError as exc:
            self._raise_damage(exc)
            raise StoreError(f"cannot use the flowhook database {path}: {exc}") from exc
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise StoreError(f"cannot use the flowhook database {path}: {reason}") from exc

    # -- connections and transactions ---------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._local.generation != self._generation:
            conn = None  # the file was re-created: that connection was to the old one
        if conn is None:
            if self._closed:
                raise StoreError(f"the store at {self.location} is closed")
            conn = sqlite3.connect(
                self.location,
                timeout=min(5.0, self.lock_timeout),
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute("PRAGMA synchronous = NORMAL")
            if self._mapped:
                conn.execute(f"PRAGMA mmap_size = {self._mapped}").fetchall()
            with self._guard:
                self._connections.append(conn)
            self._local.conn = conn
            self._local.generation = self._generation
        return conn

    def map_reads(self) -> None:
        """Read the file through a memory map, on this thread's connection and every one opened
        from now on, for a process that reads for long (the web UI): a page read then costs
        no system call and no copy from the operating system's cache, which makes a scan of a
        large index (the counts of a flow run's million task runs) about a quarter cheaper when
        it is read again. A command reads each page once: the map would only turn its copies
        into page faults, so it reads without one."""
        self._mapped = 1 << 31  # SQLite caps it at its own maximum, 2 GiB unless built otherwise
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.execute(f"PRAGMA mmap_size = {self._mapped}").fetchall()

    def unavailable(self, error: Exception) -> bool:
        """Locked past the lock timeout, disk full, I/O errors, a read-only or damaged file: the
        database cannot be written now. Constraint and binding errors refuse the data."""
        return isinstance(error, (StoreError, sqlite3.OperationalError, OSError))

    def _check_file(self) -> None:
        """Before a write: when the database file was deleted or replaced under this store, say
        so once and go on in the file now at the path (a new one, if it was deleted)."""
        if self._file is None or _identity(self.path) == self._file:
            return
        with self._guard:
            found = _identity(self.path)
            if found == self._file:
                return
            connections, self._connections = self._connections, []
            self._generation += 1
        _close(connections)
        if found is None:
            what = "was deleted"
            for leftover in ("-wal", "-shm"):  # the old file's: never to be applied to a new one
                with contextlib.suppress(OSError):
                    os.unlink(f"{self.location}{leftover}")
            _prepare_files(self.path)
        else:
            what = "was replaced by another file"
        self._file = _identity(self.path)
        import logging  # only here: a process that reads never logs

        logging.getLogger("flowhook.store").error(
            "the flowhook database %s %s while this process was recording runs; recording goes "
            "on in %s: the runs in progress keep only the states recorded from now on",
            self.location,
            what,
            "a new database there" if found is None else "that file",
        )
        self._migrate_file()

    def _retrying(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.005
        while True:
            conn = self._connection()
            try:
                return operation(conn)
            except DamagedData as exc:
                raise self._damaged(str(exc)) from exc
            except sqlite3.DatabaseError as exc:
                busy = isinstance(exc, sqlite3.OperationalError) and _is_busy(exc)
                if not busy or time.monotonic() >= deadline:
                    self._raise_damage(exc)
                    raise
            import random  # only when the database is busy

            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.25)

    def _raise_damage(self, exc: sqlite3.DatabaseError) -> None:
        """Raise a :class:`StoreError` when ``exc`` says that the file or a value in it is
        damaged."""
        text = str(exc)
        undecodable = _UNDECODABLE_TEXT.match(text)
        if type(exc) is sqlite3.DatabaseError:  # SQLITE_CORRUPT, SQLITE_NOTADB: the file itself
            raise self._damaged(text) from exc
        if not isinstance(exc, sqlite3.OperationalError):
            return
        if undecodable:  # CPython's sqlite3 module could not decode a TEXT value
            what = f"the column {undecodable.group(1)!r} holds text that is not UTF-8"
            raise self._damaged(what) from exc
        if text == "malformed JSON":  # SQLite's JSON functions, on a JSON column
            raise self._damaged("a JSON column holds text that is not JSON") from exc

    def _damaged(self, detail: str) -> StoreError:
        return StoreError(
            f"the flowhook database {self.location} is damaged ({detail}); move it away "
            "(flowhook then starts a new one) or restore it from a backup"
        )

    def _transaction(
        self, body: Callable[[sqlite3.Connection], T], *, write: bool, rehearse: bool
    ) -> T:
        """Run ``body`` in a transaction (``BEGIN IMMEDIATE`` to write), retried while the
        database is locked; committed, or else rolled back."""
        if write and not rehearse:
            self._check_file()

        def transaction(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                result = body(conn)
                if write and not rehearse:
                    conn.execute("COMMIT")
                return result
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")

        return self._retrying(transaction)

    def _insert_many(self, db: Any, statement: str, rows: list[Any], into: Into) -> None:
        """Many rows of an insert go in statements of many rows each (:mod:`.many_rows`)."""
        insert_many(db, statement, rows)

    @staticmethod
    def _version(db: sqlite3.Connection) -> int:
        return int(db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate_file(self) -> None:
        """Apply the missing migrations, in WAL mode (``PRAGMA user_version`` counts them)."""
        version = self._version(self._connection())
        self._refuse_newer(version)
        if version != SCHEMA_VERSION:
            self._retrying(lambda conn: conn.execute("PRAGMA journal_mode = WAL").fetchone())
            self._write(self._migrate)

    def close(self) -> None:
        """Close every connection this store opened, in any thread."""
        with self._guard:
            self._closed = True
            connections, self._connections = self._connections, []
        _close(connections)
