"""The PostgreSQL store, imported only when ``FLOWHOOK_STORE_URL`` names a PostgreSQL database
(psycopg comes with the ``flowhook[postgres]`` extra); every statement is the store core's."""

from .connection import PostgresStore
from .listen import CancelListener

__all__ = ["CancelListener", "PostgresStore"]
