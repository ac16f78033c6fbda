"""The notification outbox: claiming messages and retrying dead ones (the rest is
:mod:`flowhook.store._sql.outbox`'s, the same for both stores)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

from .._records import OutboxRecord
from .._sql import outbox as shared
from .._sql.outbox import OUTBOX_COLUMNS, outbox_record, outbox_row
from .connection import SQLiteBase

__all__ = ["INSERT_OUTBOX", "SQLiteOutbox", "delete_sent_outbox", "outbox_row"]

INSERT_OUTBOX = shared.INSERT_OUTBOX


def delete_sent_outbox(conn: sqlite3.Connection, before: float) -> int:
    """Delete the messages delivered before ``before`` (part of ``prune``); returns how many."""
    return shared.delete_sent_outbox(conn, before, "?")


class SQLiteOutbox(shared.Outbox, SQLiteBase):
    """The store's notification outbox."""

    def claim_outbox(
        self, worker: str, now: float, limit: int, lease_seconds: float
    ) -> list[OutboxRecord]:
        """Reserve up to ``limit`` due messages for ``worker`` until ``now + lease_seconds``."""

        def claim(conn: sqlite3.Connection) -> list[OutboxRecord]:
            rows = conn.execute(
                f"SELECT {OUTBOX_COLUMNS} FROM notification_outbox WHERE status = 'pending' "
                "AND next_attempt <= ? AND (claimed_until IS NULL OR claimed_until < ?) "
                "ORDER BY next_attempt, id LIMIT ?",
                (now, now, limit),
            ).fetchall()
            conn.executemany(
                "UPDATE notification_outbox SET claimed_by = ?, claimed_until = ? WHERE id = ?",
                [(worker, now + lease_seconds, row[0]) for row in rows],
            )
            return [outbox_record(row) for row in rows]

        return self._write(claim)

    def retry_outbox(self, message_ids: Sequence[int] | None) -> list[int]:
        """Make messages pending again, due now: the given ids, or every dead one (None).

        Returns the ids that were changed (sent messages are left alone).
        """
        now = time.time()

        def retry(conn: sqlite3.Connection) -> list[int]:
            if message_ids is None:
                ids = [
                    row[0]
                    for row in conn.execute(
                        "SELECT id FROM notification_outbox WHERE status = 'dead'"
                    )
                ]
            else:
                ids = [
                    row[0]
                    for message_id in message_ids
                    for row in conn.execute(
                        "SELECT id FROM notification_outbox WHERE id = ? AND status != 'sent'",
                        (message_id,),
                    )
                ]
            conn.executemany(
                "UPDATE notification_outbox SET status = 'pending', attempts = 0, next_attempt = ?, "
                "claimed_by = NULL, claimed_until = NULL WHERE id = ?",
                [(now, message_id) for message_id in ids],
            )
            return ids

        return self._write(retry)
