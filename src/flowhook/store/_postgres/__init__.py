"""The PostgreSQL store: the SQLite store's schema and semantics on a server many hosts share.

Imported only when ``FLOWHOOK_STORE_URL`` names a PostgreSQL database (it brings psycopg, from
the ``flowhook[postgres]`` extra). Split by area as the SQLite store is, so that a change to one
has its counterpart in the same module of the other:

- :mod:`.schema`: the tables, as migrations, and the schema version.
- :mod:`.connection`: the pool, transactions and their retries, migration.
- :mod:`.rows`: the insert statements (rows are built and read by :mod:`.._sqlite.rows`).
- :mod:`.runs`, :mod:`.processes`, :mod:`.outbox`: as in the SQLite store; the blocks, and the
  parts of the outbox and processes whose SQL is the same, are :mod:`flowhook.store._sql`'s.
- :mod:`.listen`: waiting for cancel requests with ``LISTEN``.
"""

from __future__ import annotations

from .._sql.blocks import Blocks
from .listen import CancelListener
from .outbox import PostgresOutbox
from .processes import CANCEL_CHANNEL, PostgresProcesses
from .runs import PostgresRuns
from .schema import MIGRATIONS, SCHEMA_VERSION

__all__ = ["CANCEL_CHANNEL", "MIGRATIONS", "SCHEMA_VERSION", "CancelListener", "PostgresStore"]


class PostgresStore(PostgresRuns, PostgresProcesses, PostgresOutbox, Blocks):
    """The :class:`~flowhook.store.Store` on one PostgreSQL database.

    ``create=False`` refuses a database without flowhook's schema (the command line never
    creates one); ``migrate`` applies missing migrations (``FLOWHOOK_STORE_AUTO_MIGRATE``).
    Raises :class:`~flowhook.store.StoreError` when the server cannot be used (the message names
    it without its password), and :class:`~flowhook_hookspec.errors.ConfigError` when its schema
    is newer than this flowhook's, or older and ``migrate`` is false.
    """

    def cancel_listener(self, process_id: int) -> CancelListener:
        """A listener that wakes when a cancel request for ``process_id``'s runs arrives."""
        return CancelListener(self.url, CANCEL_CHANNEL, str(process_id))
