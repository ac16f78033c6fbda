"""The SQLite store: what is SQLite's own; every statement is the store core's (:mod:`.._sql`).

- :mod:`.dialect`: SQLite's SQL where it differs.
- :mod:`.connection`: connections, ``BEGIN IMMEDIATE`` transactions and their retries, the
  file's checks (deleted or replaced under the store, damaged), migration.
"""

from __future__ import annotations

from .._sql.core import SQLCore
from .._sql.schema import SCHEMA_VERSION
from .connection import SQLiteBase

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]


class SQLiteStore(SQLCore, SQLiteBase):
    """The :class:`~flowhook.store.Store` on one SQLite file.

    ``create=False`` opens an existing database only (the command line never creates one).
    Raises :class:`~flowhook.store.StoreError` when the file cannot be used, and
    :class:`~flowhook_hookspec.errors.ConfigError` when a newer flowhook wrote it.
    """
