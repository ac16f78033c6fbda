"""An outbox in memory, for best-effort delivery where no database makes it durable
(``FLOWHOOK_STORE=off``, or a store that cannot be opened): what is pending when the process
ends is lost. The messages are kept in a SQLite database in memory, with the store core's own
outbox statements (:class:`~._sql.outbox.Outbox`), so that the same delivery code claims,
retries and lists them as in a store.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import TypeVar

from ._records import OutboxEntry
from ._sql.outbox import Outbox
from ._sqlite.dialect import SQLITE

__all__ = ["MemoryOutbox"]

T = TypeVar("T")

_UNCLAIMED = "WHERE status = 'pending' AND (claimed_until IS NULL OR claimed_until < ?)"
#: The columns of a message that make its :class:`OutboxEntry`, in the order of its fields.
_ENTRY_COLUMNS = (
    "idempotency_key, block_type, block_name, rule, run_kind, run_id, event, subject, body, "
    "created, flow_run_id"
)


class MemoryOutbox(Outbox):
    """The outbox part of the :class:`~flowhook.store.Store` interface, in this process's memory.

    Thread-safe (one connection, used under a lock); ``close`` does nothing, so one instance
    serves every user in the process.
    """

    dialect = SQLITE
    location = "memory (FLOWHOOK_STORE=off or no usable store: not durable)"

    def __init__(self) -> None:
        super().__init__(None)

    def _open(self, target: None, *, create: bool, migrate: bool) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self._write(lambda db: self._upgrade(db, 0))

    def close(self) -> None:
        """Nothing to close: the messages live as long as the process."""

    def _transaction(
        self, body: Callable[[sqlite3.Connection], T], *, write: bool, rehearse: bool
    ) -> T:
        with self._lock, self._db:  # the connection commits, or rolls back on an error
            self._db.execute("BEGIN")
            result = body(self._db)
            if rehearse:
                self._db.rollback()
            return result

    def take_pending(self, now: float) -> list[OutboxEntry]:
        """Remove the pending messages that no delivery holds a claim on, and return them as
        entries to enqueue elsewhere (a store that became usable). Their attempts start over."""

        def take(db: sqlite3.Connection) -> list[OutboxEntry]:
            found = f"SELECT {_ENTRY_COLUMNS} FROM notification_outbox {_UNCLAIMED} ORDER BY id"
            rows = db.execute(found, (now,)).fetchall()
            db.execute(f"DELETE FROM notification_outbox {_UNCLAIMED}", (now,))
            return [OutboxEntry(*row) for row in rows]

        return self._write(take)
