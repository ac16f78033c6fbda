"""An outbox in memory: delivery, best effort, when there is no database to make it durable.

With ``FLOWHOOK_STORE=off``, or a store that cannot be opened, notification rules still notify:
their messages wait here, and the same delivery code (claims, retries, backoff, the exit drain)
sends them while the process lives. What is pending when the process ends is lost.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Collection, Iterable
from typing import Any

import attrs

from ._records import OutboxEntry, OutboxRecord

__all__ = ["MemoryOutbox"]


@attrs.define
class _Message:
    record: OutboxRecord
    claimed_until: float | None = None


class MemoryOutbox:
    """The outbox part of the :class:`~flowhook.store.Store` interface, in this process's memory.

    Thread-safe; ``close`` does nothing, so one instance serves every user in the process.
    """

    location = "memory (FLOWHOOK_STORE=off or no usable store: not durable)"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: dict[int, _Message] = {}
        self._keys: set[str] = set()
        self._ids = itertools.count(1)

    def close(self) -> None:
        """Nothing to close: the messages live as long as the process."""

    def enqueue_outbox(self, entries: Iterable[OutboxEntry]) -> None:
        with self._lock:
            for entry in entries:
                if entry.key in self._keys:
                    continue  # the same event, rule and block: enqueued once, as in the database
                self._keys.add(entry.key)
                message_id = next(self._ids)
                self._messages[message_id] = _Message(
                    OutboxRecord(
                        message_id,
                        entry.block_type,
                        entry.block_name,
                        "pending",
                        0,
                        entry.created,
                        None,
                        entry.subject,
                        entry.body,
                        entry.run_kind,
                        entry.run_id,
                        entry.event,
                        entry.rule,
                        entry.created,
                        None,
                        entry.key,
                    )
                )

    def take_pending(self, now: float) -> list[OutboxEntry]:
        """Remove the pending messages that no delivery holds a claim on, and return them as
        entries to enqueue elsewhere (a store that became usable). Their attempts start over."""
        with self._lock:
            taken = [
                (message_id, message.record)
                for message_id, message in self._messages.items()
                if message.record.status == "pending"
                and (message.claimed_until is None or message.claimed_until < now)
            ]
            for message_id, record in taken:
                del self._messages[message_id]
                self._keys.discard(record.key or "")
        return [
            OutboxEntry(
                record.key or f"memory:{record.id}",
                record.block_type,
                record.block_name,
                record.rule or "",
                "task" if record.run_kind == "task" else "flow",
                record.run_id or "",
                record.event or "",
                record.subject or "",
                record.body,
                record.created,
            )
            for _, record in taken
        ]

    def claim_outbox(
        self, worker: str, now: float, limit: int, lease_seconds: float
    ) -> list[OutboxRecord]:
        with self._lock:
            due = sorted(
                (
                    message
                    for message in self._messages.values()
                    if message.record.status == "pending"
                    and message.record.next_attempt <= now
                    and (message.claimed_until is None or message.claimed_until < now)
                ),
                key=lambda message: (message.record.next_attempt, message.record.id),
            )[:limit]
            for message in due:
                message.claimed_until = now + lease_seconds
            return [message.record for message in due]

    def renew_outbox_claim(self, message_id: int, worker: str, lease_seconds: float) -> bool:
        # One process, one worker: a claim is its own unless the message left "pending".
        with self._lock:
            message = self._messages[message_id]
            if message.record.status != "pending":
                return False
            message.claimed_until = time.time() + lease_seconds
            return True

    def mark_outbox_sent(self, message_id: int, at: float) -> None:
        self._update(message_id, status="sent", delivered=at, last_error=None, attempts=None)

    def mark_outbox_retry(
        self, message_id: int, attempts: int, next_attempt: float, error: str
    ) -> None:
        self._update(message_id, attempts=attempts, next_attempt=next_attempt, last_error=error)

    def mark_outbox_dead(self, message_id: int, attempts: int, error: str) -> None:
        self._update(message_id, status="dead", attempts=attempts, last_error=error)

    def next_outbox_attempt(self, blocks: Collection[str] | None = None) -> float | None:
        pending = [record.next_attempt for record in self._pending(blocks)]
        return min(pending) if pending else None

    def pending_outbox_count(self, blocks: Collection[str] | None = None) -> int:
        return len(self._pending(blocks))

    def list_outbox(self, status: str | None = None, limit: int = 200) -> list[OutboxRecord]:
        with self._lock:
            records = [message.record for message in self._messages.values()]
        chosen = [record for record in records if status is None or record.status == status]
        return sorted(chosen, key=lambda record: record.id, reverse=True)[:limit]

    def _pending(self, blocks: Collection[str] | None) -> list[OutboxRecord]:
        with self._lock:
            return [
                message.record
                for message in self._messages.values()
                if message.record.status == "pending"
                and (blocks is None or message.record.block in blocks)
            ]

    def _update(self, message_id: int, attempts: int | None, **changes: Any) -> None:
        """Change one message and release its claim; ``attempts=None`` counts one more."""
        with self._lock:
            message = self._messages[message_id]
            count = message.record.attempts + 1 if attempts is None else attempts
            message.record = attrs.evolve(message.record, attempts=count, **changes)
            message.claimed_until = None
