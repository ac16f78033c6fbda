"""The notification outbox: rendered messages waiting for delivery, and their retries.

Claims take their rows ``FOR UPDATE SKIP LOCKED``: two senders on two hosts claiming at once
each get different messages, and neither waits for the other.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from .._query import outbox_filter
from .._records import OutboxEntry, OutboxRecord
from .._sqlite.outbox import outbox_row
from .connection import Cursor, PostgresBase
from .rows import marks

__all__ = ["INSERT_OUTBOX", "OUTBOX_COLUMNS", "PostgresOutbox"]

OUTBOX_COLUMNS = (
    "id, block_type, block_name, status, attempts, next_attempt, last_error, subject, body, "
    "run_kind, run_id, event, rule, created, delivered, idempotency_key"
)
INSERT_OUTBOX = (
    "INSERT INTO notification_outbox (idempotency_key, block_type, block_name, rule, "
    f"run_kind, run_id, event, subject, body, next_attempt, created) VALUES ({marks(11)}) "
    "ON CONFLICT (idempotency_key) DO NOTHING"
)


def _outbox_record(row: tuple[Any, ...]) -> OutboxRecord:
    return OutboxRecord(*row)


def _rowcount(sql: str, parameters: Sequence[Any]) -> Any:
    def run(cur: Cursor) -> int:
        cur.execute(sql, parameters)
        return cur.rowcount

    return run


class PostgresOutbox(PostgresBase):
    """The store's notification outbox."""

    def enqueue_outbox(self, entries: Iterable[OutboxEntry]) -> None:
        rows = [outbox_row(entry) for entry in entries]
        if rows:
            self._write(lambda cur: cur.executemany(INSERT_OUTBOX, rows))

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
            return [_outbox_record(row) for row in rows]

        return self._write(claim)

    def outbox_claimants(self) -> list[str]:
        """The worker ids that hold claims on pending messages, sorted."""
        rows = self._read(
            'SELECT DISTINCT claimed_by COLLATE "C" FROM notification_outbox '
            "WHERE status = 'pending' AND claimed_by IS NOT NULL ORDER BY 1"
        )
        return [str(claimed_by) for (claimed_by,) in rows]

    def renew_outbox_claim(self, message_id: int, worker: str, until: float) -> bool:
        """Extend ``worker``'s claim on a pending message; False when it is not its own any more."""
        return bool(
            self._write(
                _rowcount(
                    "UPDATE notification_outbox SET claimed_until = %s "
                    "WHERE id = %s AND claimed_by = %s AND status = 'pending'",
                    (until, message_id, worker),
                )
            )
        )

    def release_outbox_claims(self, worker_prefix: str) -> int:
        """Release the claims of a worker that died (its ids start with ``worker_prefix``)."""
        pattern = worker_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return int(
            self._write(
                _rowcount(
                    "UPDATE notification_outbox SET claimed_by = NULL, claimed_until = NULL "
                    "WHERE status = 'pending' AND claimed_by LIKE %s",
                    (pattern,),
                )
            )
        )

    def mark_outbox_sent(self, message_id: int, at: float) -> None:
        self._write(
            _rowcount(
                "UPDATE notification_outbox SET status = 'sent', attempts = attempts + 1, "
                "delivered = %s, claimed_by = NULL, claimed_until = NULL, last_error = NULL "
                "WHERE id = %s",
                (at, message_id),
            )
        )

    def mark_outbox_retry(
        self, message_id: int, attempts: int, next_attempt: float, error: str
    ) -> None:
        self._write(
            _rowcount(
                "UPDATE notification_outbox SET attempts = %s, next_attempt = %s, "
                "last_error = %s, claimed_by = NULL, claimed_until = NULL WHERE id = %s",
                (attempts, next_attempt, error, message_id),
            )
        )

    def mark_outbox_dead(self, message_id: int, attempts: int, error: str) -> None:
        self._write(
            _rowcount(
                "UPDATE notification_outbox SET status = 'dead', attempts = %s, last_error = %s, "
                "claimed_by = NULL, claimed_until = NULL WHERE id = %s",
                (attempts, error, message_id),
            )
        )

    def next_outbox_attempt(self, blocks: Collection[str] | None = None) -> float | None:
        """When the earliest pending message (of ``blocks``, ``type/name``, if given) is due."""
        where, parameters = _of_blocks(blocks)
        rows = self._read(
            f"SELECT min(next_attempt) FROM notification_outbox WHERE status = 'pending'{where}",
            parameters,
        )
        value = rows[0][0] if rows else None
        return None if value is None else float(value)

    def pending_outbox_count(self, blocks: Collection[str] | None = None) -> int:
        """How many messages (of ``blocks``, ``type/name``, if given) are pending."""
        where, parameters = _of_blocks(blocks)
        rows = self._read(
            f"SELECT count(*) FROM notification_outbox WHERE status = 'pending'{where}",
            parameters,
        )
        return int(rows[0][0])

    def list_outbox(
        self, status: str | None = None, limit: int = 200, *, flow_run_id: str | None = None
    ) -> list[OutboxRecord]:
        """Messages, newest first: those of ``status``, and those of one flow run and its task
        runs (``flow_run_id``)."""
        where, parameters = outbox_filter(status, flow_run_id, "%s")
        rows = self._read(
            f"SELECT {OUTBOX_COLUMNS} FROM notification_outbox {where} ORDER BY id DESC LIMIT %s",
            [*parameters, limit],
        )
        return [_outbox_record(row) for row in rows]

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


def _of_blocks(blocks: Collection[str] | None) -> tuple[str, tuple[Any, ...]]:
    """The SQL condition (and its parameters) that keeps the messages of ``blocks`` only."""
    if blocks is None:
        return "", ()
    return " AND block_type || '/' || block_name = ANY(%s)", (sorted(blocks),)
