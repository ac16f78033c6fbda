"""The SQLite store: the schema, its migrations and every SQL statement flowhook runs.

- :mod:`.schema`: the tables, as migrations, and the schema version.
- :mod:`.connection`: connections, transactions and their retries, migration; ``StoreError``.
- :mod:`.rows`: runs and events as table rows and back, with the column lists they fill.
- :mod:`.runs`: recording batches, reading runs and their events, pruning.
- :mod:`.processes`: processes, crashing the runs of dead ones, cancel requests.
- :mod:`.outbox`: the notification outbox.

Each area is a subclass of :class:`~.connection.SQLiteBase`, which holds the connections and
the transactions; :class:`SQLiteStore` inherits them all, and the areas whose SQL is the same
on both stores (:mod:`flowhook.store._sql`: the blocks, parts of the outbox and processes).
"""

from __future__ import annotations

from .._sql.blocks import Blocks
from .connection import StoreError
from .outbox import SQLiteOutbox
from .processes import SQLiteProcesses
from .rows import INSERT_EVENT, event_row, state_columns
from .runs import SQLiteRuns
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


class SQLiteStore(SQLiteRuns, SQLiteProcesses, SQLiteOutbox, Blocks):
    """The :class:`~flowhook.store.Store` on one SQLite file.

    ``create=False`` opens an existing database only (the command line never creates one).
    Raises :class:`StoreError` when the file cannot be used, and
    :class:`~flowhook_hookspec.errors.ConfigError` when a newer flowhook wrote it.
    """
