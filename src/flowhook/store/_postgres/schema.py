"""The schema in PostgreSQL's SQL (:mod:`flowhook.store._sql.schema`), version for version the
SQLite store's; the table :data:`VERSION_TABLE` holds the number of migrations applied."""

from __future__ import annotations

from .._sql.schema import SCHEMA_VERSION, migrations
from .dialect import POSTGRES

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "VERSION_TABLE"]

#: The one-row table holding the schema version (SQLite's ``PRAGMA user_version``).
VERSION_TABLE = "flowhook_schema"

MIGRATIONS = migrations(POSTGRES)
