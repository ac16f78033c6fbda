"""The store's errors, whichever database is behind it, and the lines both stores say."""

from __future__ import annotations

from flowhook_hookspec.errors import ConfigError, FlowhookError

__all__ = ["DamagedData", "NoSchema", "StoreError", "newer_schema", "older_schema"]


class StoreError(FlowhookError):
    """The database cannot be used: unreadable, corrupt, not a database, unreachable, refused
    (a wrong password, a missing database), or no space left."""


class NoSchema(StoreError):
    """The database exists but holds no flowhook schema yet (a new PostgreSQL database): for
    reading, there is no history; for recording, ``flowhook store migrate`` creates it."""


class DamagedData(Exception):
    """A value read from the database is not one flowhook writes: bytes flipped on disk, or an
    edit by hand. Raised by the row decoders (:mod:`._sql.records`); each store turns it into a
    :class:`StoreError` that names the database and how to recover."""


def newer_schema(location: str, version: int, needed: int, fix: str) -> ConfigError:
    """The one line of both stores when a newer flowhook wrote the database at ``location``."""
    return ConfigError(
        f"the flowhook database {location} has schema version {version}, written by a newer "
        f"flowhook; this one reads up to version {needed}. Upgrade flowhook{fix}"
    )


def older_schema(location: str, version: int, needed: int) -> ConfigError:
    """The one line of both stores when ``FLOWHOOK_STORE_AUTO_MIGRATE`` is off and the database
    at ``location`` lacks migrations (``version`` 0: no schema at all, a new database)."""
    found = "has no flowhook schema yet" if version == 0 else f"has schema version {version}"
    return ConfigError(
        f"the flowhook database {location} {found}; this flowhook needs version {needed}. Run "
        "`flowhook store migrate` (or set FLOWHOOK_STORE_AUTO_MIGRATE=1)"
    )
