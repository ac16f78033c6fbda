"""The SQLite store: what is SQLite's own (its :mod:`.dialect`, and its :mod:`.connection`s,
transactions and file checks); every statement is the store core's (:mod:`.._sql`)."""

from .._sql.schema import SCHEMA_VERSION
from .connection import SQLiteStore

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]
