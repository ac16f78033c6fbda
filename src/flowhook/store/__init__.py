"""The store: run history, state events, run logs, processes, blocks and the notification outbox.

Zero configuration: runs are recorded in ``$FLOWHOOK_HOME/flowhook.db`` (SQLite, WAL mode), and
``FLOWHOOK_STORE=off`` turns recording off. Everything talks to :class:`Store` (:mod:`._protocol`),
which the backends :mod:`._sqlite` and :mod:`._postgres` (loaded only when selected) implement on
one core of statements, :mod:`._sql`. :mod:`._records` and :mod:`._details` hold what it writes
and reads, :mod:`._batch` and :mod:`._writer` how writes are queued and batched,
:mod:`._processes` who runs flows and whether they are alive, :mod:`._memory` an outbox without a
database, :mod:`._settings` the configuration. This package imports the contract only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowhook_hookspec.lazy import lazy_names

from . import _records
from ._errors import NoSchema, StoreError
from ._protocol import Store
from ._records import *  # noqa: F403 (the records: their list is _records.__all__)
from ._settings import POSTGRES_SCHEMES, StoreSettings, load_settings, mask_url

if TYPE_CHECKING:
    from ._batch import Waiter, writes_and_waiters
    from ._copy import copy_history
    from ._details import *  # noqa: F403
    from ._memory import MemoryOutbox
    from ._processes import (
        Heartbeat,
        current_process,
        death_reason,
        hostname,
        local_worker_death,
        local_worker_id,
        start_token,
    )
    from ._sqlite import SCHEMA_VERSION, SQLiteStore
    from ._writer import BatchWriter

__all__ = [
    "POSTGRES_SCHEMES",
    "SCHEMA_VERSION",
    "BatchWriter",
    "Heartbeat",
    "MemoryOutbox",
    "NoSchema",
    "SQLiteStore",
    "Store",
    "StoreError",
    "StoreSettings",
    "Waiter",
    "copy_history",
    "current_process",
    "death_reason",
    "hostname",
    "load_settings",
    "local_worker_death",
    "local_worker_id",
    "mask_url",
    "open_existing_store",
    "open_store",
    "start_token",
    "writes_and_waiters",
]
#: The records of :mod:`._details` (its ``__all__``), loaded with it on first use: listed here,
#: because reading its ``__all__`` would load it.
_DETAILS = (
    "CancelRequest",
    "EventRecord",
    "HookErrorRecord",
    "LogRecord",
    "OutboxRecord",
    "ProcessInfo",
    "ProcessRecord",
    "PruneReport",
    "StateCount",
)
__all__ += _records.__all__
__all__ += _DETAILS

# The run list's records, the errors, the settings and the interface load with the package; the
# rest with its module on first use (PEP 562): ``flowhook runs ls`` reads the store without the
# writer, the process registry (socket, subprocess), the outbox in memory or the other records.
__getattr__, __dir__ = lazy_names(
    __name__,
    {
        "BatchWriter": "._writer:BatchWriter",
        "Waiter": "._batch:Waiter",
        "writes_and_waiters": "._batch:writes_and_waiters",
        "MemoryOutbox": "._memory:MemoryOutbox",
        "copy_history": "._copy:copy_history",
        "SCHEMA_VERSION": "._sqlite:SCHEMA_VERSION",
        "SQLiteStore": "._sqlite:SQLiteStore",
        **{name: f"._details:{name}" for name in _DETAILS},
        **{
            name: f"._processes:{name}"
            for name in (
                "Heartbeat",
                "current_process",
                "death_reason",
                "hostname",
                "local_worker_death",
                "local_worker_id",
                "start_token",
            )
        },
    },
)


def open_store(
    settings: StoreSettings | None = None,
    *,
    create: bool = True,
    migrate: bool | None = None,
    lock_timeout: float | None = None,
) -> Store:
    """The store the settings point at. ``create=False`` refuses to create a new database;
    ``migrate`` overrides ``FLOWHOOK_STORE_AUTO_MIGRATE`` (:attr:`StoreSettings.migrates`);
    ``lock_timeout`` overrides how long opening it may wait for other processes' locks.

    Raises :class:`StoreError` when it cannot be used and
    :class:`~flowhook_hookspec.errors.ConfigError` when it was written by a newer flowhook, or
    when its schema is older (or missing) and migrations are off. psycopg is imported only
    when the settings name a PostgreSQL database, so that ``import flowhook`` never pays for it.
    """
    settings = settings or load_settings()
    timeout = settings.lock_timeout_seconds if lock_timeout is None else lock_timeout
    migrate = settings.migrates if migrate is None else migrate
    if settings.url is None:
        from ._sqlite import SQLiteStore

        return SQLiteStore(settings.database, lock_timeout=timeout, create=create, migrate=migrate)
    try:
        from ._postgres import PostgresStore
    except ImportError as exc:
        raise StoreError(
            f"FLOWHOOK_STORE_URL names a PostgreSQL database, but its driver is missing "
            f"({exc.name or exc}); install it with: pip install 'flowhook[postgres]'"
        ) from None
    return PostgresStore(settings.url, lock_timeout=timeout, create=create, migrate=migrate)


def open_existing_store(settings: StoreSettings | None = None) -> Store | None:
    """The store, or None when its database does not exist yet: for reading, which must never
    create one. Raises as :func:`open_store` does."""
    settings = settings or load_settings()
    if not settings.exists():
        return None
    try:
        return open_store(settings, create=False)
    except NoSchema:
        return None
