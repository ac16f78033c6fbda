"""The SQLite store: what is SQLite's own; every statement is the store core's (:mod:`.._sql`).

- :mod:`.dialect`: SQLite's SQL where it differs.
- :mod:`.connection`: the store class: connections, ``BEGIN IMMEDIATE`` transactions and their
  retries, the file's checks (deleted or replaced under the store, damaged), migration.
"""

from .._sql.schema import SCHEMA_VERSION
from .connection import SQLiteStore

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]
