"""The store core: every statement and all the store logic, written once for every database.

Statements are written with ``?`` for their parameters; the store's :class:`~.dialect.Dialect`
gives the pieces of SQL that differ and its driver's marks. A backend adds only its connections,
its transactions and its dialect (the recipe: "Adding a store backend" in docs/architecture.md).
:class:`SQLStore` is what the core needs of a backend; :mod:`.schema` holds the tables,
:mod:`.records` and :mod:`.rows` the rows read back and written, and the other modules the
store's methods by area, which :mod:`.core` joins.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from .._errors import NoSchema, newer_schema, older_schema
from .schema import SCHEMA_VERSION

if TYPE_CHECKING:
    from .dialect import Dialect

__all__ = ["Executor", "Into", "SQLStore"]

T = TypeVar("T")
#: What decodes a row into a record.
Decode = Callable[[tuple[Any, ...]], T]
#: A query of :meth:`SQLStore._snapshot`: what decodes a row, the SQL (``?`` marks), its
#: parameters.
Query = tuple[Decode[T], str, Sequence[Any]]
#: An insert of a batch's rows: its table, its columns, and what follows the rows (``ON
#: CONFLICT ...``, or nothing).
Into = tuple[str, str, str]


class Executor(Protocol):
    """``execute(sql, parameters)`` returning an object with ``rowcount`` and ``fetchone``."""

    def execute(self, sql: str, parameters: Sequence[Any], /) -> Any: ...


class SQLStore:
    """The base of every backend's base class, as the core sees it."""

    #: The SQL of the database behind the store.
    dialect: ClassVar[Dialect]
    #: How to read a database of a newer schema, after "Upgrade flowhook" (in messages).
    newer_fix: ClassVar[str] = ""
    #: Appended to the error for a database without a schema opened with ``create=False``;
    #: None where such a database is migrated when migrations are on (an empty SQLite file).
    no_schema_fix: ClassVar[str | None] = None
    #: Whether opening the store applies missing migrations when ``migrate`` is not given.
    auto_migrate: ClassVar[bool] = True
    #: Where the data lives, for messages (a file path, a URL without its password); the
    #: backend's ``_open`` sets it first.
    location: str

    def __init__(
        self,
        target: Any,
        *,
        lock_timeout: float = 30.0,
        create: bool = True,
        migrate: bool | None = None,
    ) -> None:
        """Open the database ``target`` names (a file, a URL) with the backend's ``_open`` (which
        sets :attr:`location` first): ``create=False`` opens an existing one only, ``migrate``
        overrides :attr:`auto_migrate`."""
        self.lock_timeout = lock_timeout
        #: The processes this store registered: a heartbeat whose row is gone re-inserts it.
        self._registered: dict[int, Any] = {}
        #: The schema version this store found and migrated from on open; None if none was due.
        self.migrated_from: int | None = None
        try:
            self._open(
                target, create=create, migrate=self.auto_migrate if migrate is None else migrate
            )
        except BaseException:
            self.close()  # what it opened before it failed
            raise

    def _due_migrations(self, version: int, *, create: bool, migrate: bool) -> bool:
        """Whether a database of schema ``version`` is to be migrated on open: refuses one of
        a newer flowhook, and an older one (or one without a schema) unless ``migrate``."""
        self._refuse_newer(version)
        if version == SCHEMA_VERSION:
            return False
        if version == 0 and not create and (self.no_schema_fix is not None or not migrate):
            raise NoSchema(
                f"there is no flowhook schema in {self.location}{self.no_schema_fix or ''}"
            )
        if not migrate:
            raise older_schema(self.location, version, SCHEMA_VERSION)
        self.migrated_from = version
        return True

    def _refuse_newer(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise newer_schema(self.location, version, SCHEMA_VERSION, self.newer_fix)

    def _migrate(self, db: Any) -> int:
        """Apply, in the transaction of ``db``, the migrations its schema lacks, after the
        dialect's ``migration_lock``, and record the version; the version it found."""
        for statement in self.dialect.migration_lock:
            db.execute(statement)
        current = self._version(db)
        self._upgrade(db, current)
        for statement in self.dialect.set_version:
            db.execute(statement.format(version=SCHEMA_VERSION))
        return current

    def schema_version(self) -> int:
        return self._reading(self._version)

    def _upgrade(self, db: Any, current: int) -> None:
        """Apply, in the transaction of ``db``, the migrations from version ``current`` on."""
        self._refuse_newer(current)
        for migration in self.dialect.migrations[current:]:
            for statement in migration:
                db.execute(statement)

    if TYPE_CHECKING:

        def _open(self, target: Any, *, create: bool, migrate: bool) -> None: ...
        def close(self) -> None: ...
        def _version(self, db: Any) -> int:
            """The schema version of the database, read in the transaction of ``db``."""
            ...

        def _transaction(self, body: Callable[[Any], T], *, write: bool, rehearse: bool) -> T:
            """Run ``body`` in one transaction of the backend (its retries around it)."""
            ...

    def _write(self, body: Callable[[Any], T]) -> T:
        """Run ``body`` in one write transaction."""
        return self._transaction(body, write=True, rehearse=False)

    def _rehearsed(self, body: Callable[[Any], T]) -> T:
        """Run ``body`` in a write transaction that is always rolled back: what it would do,
        counted by the very statements that would do it (``prune --dry-run``)."""
        return self._transaction(body, write=True, rehearse=True)

    def _reading(self, body: Callable[[Any], T]) -> T:
        """Run ``body`` in one read transaction: all its queries see the same snapshot."""
        return self._transaction(body, write=False, rehearse=False)

    def _read(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of one query (``?`` marks), in a read transaction."""
        return self._records(tuple, sql, parameters)

    def _records(self, into: Decode[T], sql: str, parameters: Sequence[Any] = ()) -> list[T]:
        """The rows of one query (``?`` marks), each decoded by ``into``."""
        return self._snapshot((into, sql, parameters))[0]

    def _snapshot(self, *queries: Query[T]) -> list[list[T]]:
        """The rows of each query, decoded by its ``into``, all read in one transaction (one
        snapshot): a row found damaged (``DamagedData``) is a
        :class:`~flowhook.store.StoreError` naming the database."""
        statements = [
            (into, self.dialect.sql(sql), parameters) for into, sql, parameters in queries
        ]
        return self._reading(
            lambda db: [
                [into(row) for row in db.execute(sql, parameters).fetchall()]
                for into, sql, parameters in statements
            ]
        )

    def _capped(
        self, into: Decode[T], statements: tuple[str, str], key: str, limit: int
    ) -> tuple[list[T], int]:
        """The rows of ``statements`` (see :func:`.listing.capped_sql`) for ``key``, at most
        ``limit``, and how many there are, in one snapshot."""
        page, count = statements
        found: list[list[Any]] = self._snapshot((into, page, (key, limit)), (tuple, count, (key,)))
        return found[0], int(found[1][0][0])

    def _change(self, sql: str, parameters: Sequence[Any]) -> int:
        """Run one statement (``?`` marks) in a write transaction; how many rows it changed."""
        statement = self.dialect.sql(sql)
        return int(self._write(lambda db: db.execute(statement, parameters).rowcount))

    def _insert_rows(self, db: Any, statement: str, rows: list[Any], into: Into | None) -> None:
        """Apply ``statement`` to each of ``rows`` in a batch's transaction; ``into``, when the
        statement inserts, names its table, columns and ending: then many rows go through
        :meth:`_insert_many`."""
        if into is None or len(rows) < 2:
            db.executemany(statement, rows)
            return
        self._insert_many(db, statement, rows, into)

    def _insert_many(self, db: Any, statement: str, rows: list[Any], into: Into) -> None:
        """Insert two rows or more, in their order, as ``statement`` would one by one: a
        backend sends them in fewer statements (SQLite: many rows each; PostgreSQL: COPY)."""
        db.executemany(statement, rows)
