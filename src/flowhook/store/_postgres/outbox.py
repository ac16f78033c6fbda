"""The notification outbox: claiming messages and retrying dead ones (the rest is
:mod:`flowhook.store._sql.outbox`'s, the same for both stores).

Claims take their rows ``FOR UPDATE SKIP LOCKED``: two senders on two hosts claiming at once
each get different messages, and neither waits for the other.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from .._records import OutboxRecord
from .._sql import marked
from .._sql import outbox as shared
from .._sql.outbox import OUTBOX_COLUMNS, outbox_record
from .connection import Cursor, PostgresBase

__all__ = ["INSERT_OUTBOX", "OUTBOX_COLUMNS", "PostgresOutbox"]

INSERT_OUTBOX = marked(shared.INSERT_OUTBOX, "%s")


class PostgresOutbox(shared.Outbox, PostgresBase):
    """The store's notification outbox."""

    def claim_outbox(
        self, worker: str, now: float, limit: int, lease_seconds: float
    ) -> list[OutboxRecord]:
        """Reserve up to ``limit`` due messages for ``worker`` until ``now + lease_seconds``."""

        def claim(cur: Cursor) -> list[OutboxRecord]:
            cur.execute(
                "UPDATE notification_outbox SET claimed_by = %s, claimed_until = %s "
                "WHERE id IN (SELECT id FROM notification_outbox WHERE status = 'pending' "
                "AND next_attempt <= %s AND (claimed_until IS NULL OR claimed_until < %s) "
                "ORDER BY next_attempt, id LIMIT %s FOR UPDATE SKIP LOCKED) "
                f"RETURNING {OUTBOX_COLUMNS}",
                (worker, now + lease_seconds, now, now, limit),
            )
            rows = sorted(cur.fetchall(), key=lambda row: (row[5], row[0]))
            return [outbox_record(row) for row in rows]

        return self._write(claim)

    def retry_outbox(self, message_ids: Sequence[int] | None) -> list[int]:
        """Make messages pending again, due now: the given ids, or every dead one (None).

        Returns the ids that were changed (sent messages are left alone).
        """
        now = time.time()
        reset = (
            "UPDATE notification_outbox SET status = 'pending', attempts = 0, "
            "next_attempt = %s, claimed_by = NULL, claimed_until = NULL "
        )

        def retry(cur: Cursor) -> list[int]:
            if message_ids is None:
                cur.execute(f"{reset} WHERE status = 'dead' RETURNING id", (now,))
                return sorted(int(row[0]) for row in cur.fetchall())
            cur.execute(
                f"{reset} WHERE id = ANY(%s) AND status != 'sent' RETURNING id",
                (now, list(message_ids)),
            )
            changed = {int(row[0]) for row in cur.fetchall()}
            return [
                message_id for message_id in dict.fromkeys(message_ids) if message_id in changed
            ]

        return self._write(retry)
