"""The PostgreSQL store, imported only when ``FLOWHOOK_STORE_URL`` names a PostgreSQL database
(psycopg comes with the ``flowhook[postgres]`` extra); every statement is the store core's."""

from .connection import PostgresStore

__all__ = ["PostgresStore"]
