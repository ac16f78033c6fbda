"""The notification outbox: queueing, claims and their leases, outcomes, what is due, listing."""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from .._records import OutboxEntry
from . import SQLStore
from .listing import capped_sql, outbox_filter

if TYPE_CHECKING:
    from .._details import OutboxRecord

__all__ = ["FLOW_RUN_OUTBOX", "INSERT_OUTBOX", "Outbox", "outbox_row"]

OUTBOX_COLUMNS = (
    "id, block_type, block_name, status, attempts, next_attempt, last_error, subject, body, "
    "run_kind, run_id, event, rule, created, delivered, idempotency_key"
)
#: Queues a message once: the same (event, rule, block) key never twice (see ``OutboxEntry``).
#: A task run's message that does not name its flow run is filed under the one the task run's
#: row names (a key lookup, made only then: COALESCE stops at its first value).
INSERT_OUTBOX = (
    "INSERT INTO notification_outbox (idempotency_key, block_type, block_name, rule, "
    "run_kind, run_id, event, subject, body, created, flow_run_id, next_attempt) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
    "COALESCE(?, (SELECT t.flow_run_id FROM task_runs AS t WHERE t.id = ?)), ?) "
    "ON CONFLICT (idempotency_key) DO NOTHING"
)
#: The newest messages of a flow run and its task runs, by ``notification_outbox_flow_run``.
FLOW_RUN_OUTBOX = capped_sql("notification_outbox", OUTBOX_COLUMNS, "flow_run_id", "id DESC")
_DUE = (
    "SELECT {columns}, {clock} FROM notification_outbox WHERE status = 'pending' "
    "AND next_attempt <= ? AND (claimed_until IS NULL OR claimed_until < {clock}) "
    "ORDER BY next_attempt, id LIMIT ?{lock}"
)


def outbox_row(entry: OutboxEntry) -> tuple[Any, ...]:
    """The :data:`INSERT_OUTBOX` row of ``entry``, due at once (``next_attempt`` is its
    creation time); a flow run's message is filed under the flow run itself."""
    flow_run_id = entry.flow_run_id
    if flow_run_id is None and entry.run_kind == "flow":
        flow_run_id = entry.run_id
    return (*entry[:-1], flow_run_id, entry.run_id, entry.created)


def outbox_record(row: tuple[Any, ...]) -> OutboxRecord:
    """A row of :data:`OUTBOX_COLUMNS` as a record."""
    from .._details import OutboxRecord  # the outbox's records: not for a run list

    return OutboxRecord(*row)


class Outbox(SQLStore):
    """The store's notification outbox."""

    def claim_outbox(
        self, worker: str, now: float, limit: int, lease_seconds: float
    ) -> list[OutboxRecord]:
        """Reserve up to ``limit`` messages due at ``now`` for ``worker``, for ``lease_seconds``.

        The lease runs by the server's clock where the database is shared by hosts (see
        :meth:`~flowhook.store._sql.dialect.Dialect.now`), else from ``now``; a message is due
        when its ``next_attempt``, written by the hosts that queued or retried it, is ``now``
        or earlier.
        """
        clock, at = self.dialect.now(now)
        due = self.dialect.sql(
            _DUE.format(columns=OUTBOX_COLUMNS, clock=clock, lock=self.dialect.claim_lock)
        )

        def take(db: Any) -> list[OutboxRecord]:
            rows = db.execute(due, (*at, now, *at, limit)).fetchall()
            if rows:  # one clock for all: one statement claims them
                claim, until = "claimed_by = ?, claimed_until = ?", rows[0][-1] + lease_seconds
                self._update(db, [row[0] for row in rows], claim, (worker, until))
            return [outbox_record(row[:-1]) for row in rows]

        return self._write(take)

    def retry_outbox(self, message_ids: Sequence[int] | None) -> list[int]:
        """Make messages pending again, due now: the given ids, or every dead one (None); the
        ids that were changed (sent messages are left alone)."""
        now, sql = time.time(), self.dialect.sql
        dead = sql("SELECT id FROM notification_outbox WHERE status = 'dead' ORDER BY id")
        reset = sql(
            "UPDATE notification_outbox SET status = 'pending', attempts = 0, next_attempt = ?, "
            "claimed_by = NULL, claimed_until = NULL WHERE id = ? AND status "
            + ("= 'dead'" if message_ids is None else "!= 'sent'")
        )

        def retry(db: Any) -> list[int]:
            ids = (
                [int(row[0]) for row in db.execute(dead, ()).fetchall()]
                if message_ids is None
                else list(dict.fromkeys(message_ids))
            )
            return [one for one in ids if db.execute(reset, (now, one)).rowcount]

        return self._write(retry)

    def enqueue_outbox(self, entries: Iterable[OutboxEntry]) -> None:
        rows = [outbox_row(entry) for entry in entries]
        statement = self.dialect.sql(INSERT_OUTBOX)
        if rows:
            self._write(lambda db: db.executemany(statement, rows))

    def outbox_claimants(self) -> list[str]:
        """The worker ids that hold claims on pending messages, sorted."""
        rows = self._read(
            f"SELECT DISTINCT claimed_by{self.dialect.binary} FROM notification_outbox "
            "WHERE status = 'pending' AND claimed_by IS NOT NULL ORDER BY 1"
        )
        return [str(claimed_by) for (claimed_by,) in rows]

    def renew_outbox_claim(self, message_id: int, worker: str, lease_seconds: float) -> bool:
        """Extend ``worker``'s claim on a pending message to ``lease_seconds`` from now (the
        server's clock where there is one); False when the claim is not its own any more (it
        ran out and another worker took the message, or sent it)."""
        clock, at = self.dialect.now(time.time())
        renew = (
            f"UPDATE notification_outbox SET claimed_until = {clock} + ? "
            "WHERE id = ? AND claimed_by = ? AND status = 'pending'"
        )
        return self._change(renew, (*at, lease_seconds, message_id, worker)) == 1

    def unclaim_outbox(self, message_ids: Sequence[int], worker: str) -> int:
        """Give back ``worker``'s claims on the pending ``message_ids`` it did not try (it is
        stopping): due again for any sender at once. How many it gave back."""
        if not message_ids:
            return 0
        changes, own = (
            "claimed_by = NULL, claimed_until = NULL",
            "claimed_by = ? AND status = 'pending'",
        )
        return self._write(lambda db: self._update(db, message_ids, changes, (), own, (worker,)))

    def release_outbox_claims(self, worker_prefix: str) -> int:
        """Release the claims of a worker that died (its ids start with ``worker_prefix``)."""
        escaped = worker_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return self._change(
            "UPDATE notification_outbox SET claimed_by = NULL, claimed_until = NULL "
            "WHERE status = 'pending' AND claimed_by LIKE ? ESCAPE '\\'",
            (escaped + "%",),
        )

    def mark_outbox_sent(self, message_ids: Sequence[int], at: float) -> None:
        """Mark messages sent at ``at``, in one statement."""
        self._settle(
            message_ids, "status = 'sent', attempts = attempts + 1, delivered = ?", at, None
        )

    def mark_outbox_retry(
        self, message_id: int, attempts: int, next_attempt: float, error: str
    ) -> None:
        self._settle((message_id,), "attempts = ?, next_attempt = ?", attempts, next_attempt, error)

    def mark_outbox_dead(self, message_id: int, attempts: int, error: str) -> None:
        self._settle((message_id,), "status = 'dead', attempts = ?", attempts, error)

    def _settle(self, message_ids: Sequence[int], changes: str, *values: Any) -> None:
        """Record how attempts to send messages ended: ``changes`` with its ``values``, then
        ``last_error`` (the last value); the messages' claims are released."""
        changes += ", last_error = ?, claimed_by = NULL, claimed_until = NULL"
        if message_ids:
            self._write(lambda db: self._update(db, message_ids, changes, values))

    def _update(
        self,
        db: Any,
        message_ids: Sequence[int],
        changes: str,
        values: Any,
        only: str = "",
        only_values: Any = (),
    ) -> int:
        """``changes`` with ``values`` to the messages ``message_ids`` (a batch's at most), those
        of them that ``only`` (with ``only_values``) also selects if given; how many changed."""
        where = f"id IN ({', '.join('?' * len(message_ids))})" + (f" AND {only}" if only else "")
        sql = f"UPDATE notification_outbox SET {changes} WHERE {where}"
        return int(
            db.execute(self.dialect.sql(sql), (*values, *message_ids, *only_values)).rowcount
        )

    def next_outbox_attempt(self, blocks: Collection[str] | None = None) -> float | None:
        """When the earliest pending message (of ``blocks``, ``type/name``, if given) is due."""
        value = self._pending("min(next_attempt)", blocks)
        return None if value is None else float(value)

    def pending_outbox_count(self, blocks: Collection[str] | None = None) -> int:
        """How many messages (of ``blocks``, ``type/name``, if given) are pending."""
        return int(self._pending("count(*)", blocks))

    def _pending(self, aggregate: str, blocks: Collection[str] | None) -> Any:
        """``aggregate`` of the pending messages of ``blocks`` (all, for None)."""
        sql = f"SELECT {aggregate} FROM notification_outbox WHERE status = 'pending'"
        names = tuple(sorted(blocks or ()))
        if blocks is not None:
            marks = ", ".join("?" * len(names))
            sql += f" AND block_type || '/' || block_name IN ({marks})" if names else " AND false"
        return self._read(sql, names)[0][0]

    def list_outbox(
        self, status: str | None = None, limit: int = 200, *, flow_run_id: str | None = None
    ) -> list[OutboxRecord]:
        """Messages, newest first: those of ``status``, and those of one flow run and its task
        runs (``flow_run_id``)."""
        where, parameters = outbox_filter(status, flow_run_id)
        sql = f"SELECT {OUTBOX_COLUMNS} FROM notification_outbox {where} ORDER BY id DESC LIMIT ?"
        return self._records(outbox_record, sql, [*parameters, limit])

    def run_notifications(self, flow_run_id: str, limit: int) -> tuple[list[OutboxRecord], int]:
        return self._capped(outbox_record, FLOW_RUN_OUTBOX, flow_run_id, limit)
