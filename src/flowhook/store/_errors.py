"""The store's errors, whichever database is behind it, and the lines both stores say."""

from __future__ import annotations

from flowhook_hookspec.errors import ConfigError, FlowhookError

__all__ = ["NoSchema", "StoreError", "older_schema"]


class StoreError(FlowhookError):
    """The database cannot be used: unreadable, corrupt, not a database, unreachable, refused
    (a wrong password, a missing database), or no space left."""


class NoSchema(StoreError):
    """The database exists but holds no flowhook schema yet (a new PostgreSQL database): for
    reading, there is no history; for recording, ``flowhook store migrate`` creates it."""


def older_schema(location: str, version: int, needed: int) -> ConfigError:
    """The one line of both stores when ``FLOWHOOK_STORE_AUTO_MIGRATE`` is off and the database
    at ``location`` lacks migrations (``version`` 0: no schema at all, a new database)."""
    found = "has no flowhook schema yet" if version == 0 else f"has schema version {version}"
    return ConfigError(
        f"the flowhook database {location} {found}; this flowhook needs version {needed}. Run "
        "`flowhook store migrate` (or set FLOWHOOK_STORE_AUTO_MIGRATE=1)"
    )
