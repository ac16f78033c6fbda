"""The store's one error, whichever database is behind it."""

from __future__ import annotations

__all__ = ["NoSchema", "StoreError"]


class StoreError(Exception):
    """The database cannot be used: unreadable, corrupt, not a database, unreachable, refused
    (a wrong password, a missing database), or no space left."""


class NoSchema(StoreError):
    """The database exists but holds no flowhook schema yet (a new PostgreSQL database): for
    reading, there is no history; for recording, ``flowhook store migrate`` creates it."""
