"""The notification outbox: rendered messages waiting for delivery, and their retries."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from .._query import outbox_filter
from .._records import OutboxEntry, OutboxRecord
from .connection import SQLiteBase

__all__ = ["INSERT_OUTBOX", "SQLiteOutbox", "outbox_row"]

_OUTBOX_COLUMNS = (
    "id, block_type, block_name, status, attempts, next_attempt, last_error, subject, body, "
    "run_kind, run_id, event, rule, created, delivered, idempotency_key"
)
INSERT_OUTBOX = (
    "INSERT OR IGNORE INTO notification_outbox (idempotency_key, block_type, block_name, rule, "
    "run_kind, run_id, event, subject, body, next_attempt, created) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def outbox_row(entry: OutboxEntry) -> tuple[Any, ...]:
    return (
        entry.key,
        entry.block_type,
        entry.block_name,
        entry.rule,
        entry.run_kind,
        entry.run_id,
        entry.event,
        entry.subject,
        entry.body,
        entry.created,
        entry.created,
    )


def delete_sent_outbox(conn: sqlite3.Connection, before: float) -> int:
    """Delete the messages delivered before ``before`` (part of ``prune``); returns how many.

    Pending and dead messages are kept, however old: they still have something to say.
    """
    return conn.execute(
        "DELETE FROM notification_outbox WHERE status = 'sent' AND delivered < ?", (before,)
    ).rowcount


def _outbox_record(row: tuple[Any, ...]) -> OutboxRecord:
    return OutboxRecord(*row)


class SQLiteOutbox(SQLiteBase):
    """The store's notification outbox."""

    def enqueue_outbox(self, entries: Iterable[OutboxEntry]) -> None:
        rows = [outbox_row(entry) for entry in entries]
        if rows:
            self._write(lambda conn: conn.executemany(INSERT_OUTBOX, rows))

    def claim_outbox(
        self, worker: str, now: float, limit: int, lease_seconds: float
    ) -> list[OutboxRecord]:
        """Reserve up to ``limit`` due messages for ``worker`` until ``now + lease_seconds``."""

        def claim(conn: sqlite3.Connection) -> list[OutboxRecord]:
            rows = conn.execute(
                f"SELECT {_OUTBOX_COLUMNS} FROM notification_outbox WHERE status = 'pending' "
                "AND next_attempt <= ? AND (claimed_until IS NULL OR claimed_until < ?) "
                "ORDER BY next_attempt, id LIMIT ?",
                (now, now, limit),
            ).fetchall()
            conn.executemany(
                "UPDATE notification_outbox SET claimed_by = ?, claimed_until = ? WHERE id = ?",
                [(worker, now + lease_seconds, row[0]) for row in rows],
            )
            return [_outbox_record(row) for row in rows]

        return self._write(claim)

    def outbox_claimants(self) -> list[str]:
        """The worker ids that hold claims on pending messages, sorted."""
        rows = self._read(
            "SELECT DISTINCT claimed_by FROM notification_outbox "
            "WHERE status = 'pending' AND claimed_by IS NOT NULL ORDER BY claimed_by"
        )
        return [str(claimed_by) for (claimed_by,) in rows]

    def renew_outbox_claim(self, message_id: int, worker: str, until: float) -> bool:
        """Extend ``worker``'s claim on a pending message; False when the claim is not its own
        any more (it ran out and another worker took the message, or sent it)."""
        return bool(
            self._write(
                lambda conn: (
                    conn.execute(
                        "UPDATE notification_outbox SET claimed_until = ? "
                        "WHERE id = ? AND claimed_by = ? AND status = 'pending'",
                        (until, message_id, worker),
                    ).rowcount
                )
            )
        )

    def release_outbox_claims(self, worker_prefix: str) -> int:
        """Release the claims of a worker that died (its ids start with ``worker_prefix``)."""
        return self._write(
            lambda conn: (
                conn.execute(
                    "UPDATE notification_outbox SET claimed_by = NULL, claimed_until = NULL "
                    "WHERE status = 'pending' AND claimed_by LIKE ? ESCAPE '\\'",
                    (worker_prefix.replace("%", "\\%").replace("_", "\\_") + "%",),
                ).rowcount
            )
        )

    def mark_outbox_sent(self, message_id: int, at: float) -> None:
        self._write(
            lambda conn: conn.execute(
                "UPDATE notification_outbox SET status = 'sent', attempts = attempts + 1, "
                "delivered = ?, claimed_by = NULL, claimed_until = NULL, last_error = NULL "
                "WHERE id = ?",
                (at, message_id),
            )
        )

    def mark_outbox_retry(
        self, message_id: int, attempts: int, next_attempt: float, error: str
    ) -> None:
        self._write(
            lambda conn: conn.execute(
                "UPDATE notification_outbox SET attempts = ?, next_attempt = ?, last_error = ?, "
                "claimed_by = NULL, claimed_until = NULL WHERE id = ?",
                (attempts, next_attempt, error, message_id),
            )
        )

    def mark_outbox_dead(self, message_id: int, attempts: int, error: str) -> None:
        self._write(
            lambda conn: conn.execute(
                "UPDATE notification_outbox SET status = 'dead', attempts = ?, last_error = ?, "
                "claimed_by = NULL, claimed_until = NULL WHERE id = ?",
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
            f"SELECT count(*) FROM notification_outbox WHERE status = 'pending'{where}", parameters
        )
        return int(rows[0][0])

    def list_outbox(
        self, status: str | None = None, limit: int = 200, *, flow_run_id: str | None = None
    ) -> list[OutboxRecord]:
        """Messages, newest first: those of ``status``, and those of one flow run and its task
        runs (``flow_run_id``)."""
        where, parameters = outbox_filter(status, flow_run_id, "?")
        rows = self._read(
            f"SELECT {_OUTBOX_COLUMNS} FROM notification_outbox {where} ORDER BY id DESC LIMIT ?",
            [*parameters, limit],
        )
        return [_outbox_record(row) for row in rows]

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


def _of_blocks(blocks: Collection[str] | None) -> tuple[str, tuple[str, ...]]:
    """The SQL condition (and its parameters) that keeps the messages of ``blocks`` only."""
    if blocks is None:
        return "", ()
    names = tuple(sorted(blocks))
    marks = ", ".join("?" * len(names))
    return f" AND block_type || '/' || block_name IN ({marks})", names
