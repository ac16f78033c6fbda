"""The SQLite store: what is SQLite's own; every statement is the store core's (:mod:`.._sql`).

- :mod:`.dialect`: SQLite's SQL where it differs; :mod:`.schema`: the migrations in it.
- :mod:`.connection`: connections, ``BEGIN IMMEDIATE`` transactions and their retries, the
  file's checks (deleted or replaced under the store, damaged), migration.
"""

from __future__ import annotations

from .._errors import StoreError
from .._sql.core import SQLCore
from .._sql.rows import INSERT_EVENT, event_row, state_columns
from .connection import SQLiteBase
from .schema import MIGRATIONS, SCHEMA_VERSION

__all__ = [
    "INSERT_EVENT",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SQLiteStore",
    "StoreError",
    "event_row",
    "state_columns",
]


class SQLiteStore(SQLCore, SQLiteBase):
    """The :class:`~flowhook.store.Store` on one SQLite file.

    ``create=False`` opens an existing database only (the command line never creates one).
    Raises :class:`StoreError` when the file cannot be used, and
    :class:`~flowhook_hookspec.errors.ConfigError` when a newer flowhook wrote it.
    """
