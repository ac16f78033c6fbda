"""The PostgreSQL store: the SQLite store's schema and semantics on a server many hosts share.

Imported only when ``FLOWHOOK_STORE_URL`` names a PostgreSQL database (it brings psycopg, from
the ``flowhook[postgres]`` extra). Every statement is the store core's (:mod:`.._sql`); what is
PostgreSQL's own is here: its :mod:`.dialect`, the pool and transactions (:mod:`.connection`,
with :mod:`.outage` and :mod:`.watchdog`), a batch's rows by ``COPY`` (:mod:`.copying`), and
``LISTEN`` for requests (:mod:`.listen`).
"""

from .connection import PostgresStore
from .listen import CancelListener

__all__ = ["CancelListener", "PostgresStore"]
