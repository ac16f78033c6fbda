"""The schema in SQLite's SQL (:mod:`flowhook.store._sql.schema`); ``PRAGMA user_version`` is
the number of migrations applied."""

from __future__ import annotations

from .._sql.schema import SCHEMA_VERSION, migrations
from .dialect import SQLITE

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

MIGRATIONS = migrations(SQLITE)
