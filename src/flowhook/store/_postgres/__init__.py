"""The PostgreSQL store: the SQLite store's schema and semantics on a server many hosts share.

Imported only when ``FLOWHOOK_STORE_URL`` names a PostgreSQL database (it brings psycopg, from
the ``flowhook[postgres]`` extra). Every statement is the store core's (:mod:`.._sql`); what is
PostgreSQL's own is here:

- :mod:`.dialect`: PostgreSQL's SQL where it differs (``SKIP LOCKED`` claims, identity
  columns, ``NOTIFY`` of cancel and resume requests).
- :mod:`.connection`: the store class: the pool, transactions and their retries, migration;
  around it, :mod:`.outage` (one line when the server is lost, one when it is back, and the
  driver's own warnings about each broken connection kept out of the log) and
  :mod:`.watchdog` (a transaction whose server went silent is broken, never left hanging).
- :mod:`.listen`: waiting for those requests with ``LISTEN``.
"""

from .connection import PostgresStore
from .listen import CancelListener

__all__ = ["CancelListener", "PostgresStore"]
