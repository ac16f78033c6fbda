"""The PostgreSQL store: the SQLite store's schema and semantics on a server many hosts share.

Imported only when ``FLOWHOOK_STORE_URL`` names a PostgreSQL database (it brings psycopg, from
the ``flowhook[postgres]`` extra). Every statement is the store core's (:mod:`.._sql`); what is
PostgreSQL's own is here:

- :mod:`.dialect`: PostgreSQL's SQL where it differs (``SKIP LOCKED`` claims, identity
  columns).
- :mod:`.connection`: the pool, transactions and their retries, migration; around it,
  :mod:`.outage` (one line when the server is lost, one when it is back), :mod:`.watchdog`
  (a transaction whose server went silent is broken, never left hanging) and :mod:`.quiet`
  (the driver's warnings about each broken connection kept out of the log).
- :mod:`.listen`: waiting for cancel requests with ``LISTEN``; :class:`PostgresStore` sends
  them with ``NOTIFY``.
"""

from __future__ import annotations

from typing import Any

from .._sql.core import SQLCore
from .connection import PostgresBase
from .listen import CancelListener

__all__ = ["CANCEL_CHANNEL", "CancelListener", "PostgresStore"]

#: The ``NOTIFY`` channel of cancel requests; the payload is the process id that owns the run.
CANCEL_CHANNEL = "flowhook_cancel"


class PostgresStore(SQLCore, PostgresBase):
    """The :class:`~flowhook.store.Store` on one PostgreSQL database.

    ``create=False`` refuses a database without flowhook's schema (the command line never
    creates one); ``migrate`` applies missing migrations (``FLOWHOOK_STORE_AUTO_MIGRATE``).
    Raises :class:`~flowhook.store.StoreError` when the server cannot be used (the message names
    it without its password), and :class:`~flowhook_hookspec.errors.ConfigError` when its schema
    is newer than this flowhook's, or older and ``migrate`` is false.
    """

    def _announce_request(self, db: Any, flow_run_id: str) -> None:
        """``NOTIFY`` the process that owns ``flow_run_id`` (sent when the request commits)."""
        db.execute(
            "SELECT pg_notify(%s, process_id::text) FROM flow_runs WHERE id = %s",
            (CANCEL_CHANNEL, flow_run_id),
        )

    def cancel_listener(self, process_id: int) -> CancelListener:
        """A listener that wakes when a cancel request for ``process_id``'s runs arrives."""
        return CancelListener(self.url, CANCEL_CHANNEL, str(process_id))
