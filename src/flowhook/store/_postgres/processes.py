"""Processes: registering them, their heartbeats, crashing the runs of dead ones, asking to
cancel a flow run (the rest is :mod:`flowhook.store._sql.processes`'s, the same for both)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from flowhook_hookspec.states import State

from .._records import (
    CrashHook,
    OutboxEntry,
    ProcessInfo,
    RunKindName,
)
from .._sql.outbox import outbox_row
from .._sql.processes import Processes
from .._sql.processes import exit_in as shared_exit_in
from .._sqlite.rows import event_row, state_columns
from .connection import Cursor, PostgresBase
from .outbox import INSERT_OUTBOX
from .rows import INSERT_EVENT

__all__ = ["CANCEL_CHANNEL", "PostgresProcesses", "beat_in", "exit_in"]

#: The ``NOTIFY`` channel of cancel requests; the payload is the process id that owns the run.
CANCEL_CHANNEL = "flowhook_cancel"

#: Task runs crash before the flow runs they belong to, as they would in a live process.
_CRASH_ORDER: tuple[tuple[RunKindName, str, str], ...] = (
    ("task", "task_runs", "coalesce(flow_run_id, id)"),
    ("flow", "flow_runs", "id"),
)


class PostgresProcesses(Processes, PostgresBase):
    """The store's processes, crash detection and cancel requests."""

    def register_process(self, process: ProcessInfo) -> int:
        now = time.time()
        process_id = self._write(lambda cur: _insert_process(cur, None, process, now))
        self._registered[process_id] = process
        return process_id

    def heartbeat(self, process_id: int, at: float) -> None:
        self._write(lambda cur: beat_in(cur, process_id, at, self._registered))

    def crash_runs(
        self,
        process_id: int,
        state: State,
        *,
        alerts: Mapping[str, Sequence[OutboxEntry]] | None = None,
        hooks_by: str | None = None,
    ) -> list[tuple[RunKindName, str]]:
        """Move every unfinished run of a dead process to ``state``; returns those this call moved.

        One conditional ``UPDATE ... WHERE end_time IS NULL ... RETURNING`` per table: a reaper
        on another host changing the same rows makes this one wait, then skip the rows it
        finished, so each run is crashed, and its Crashed event written, exactly once. In the
        same transaction, for each run it moved, the messages ``alerts`` holds for its id are
        queued, and, with ``hooks_by`` (the reaper's claimant id), a :class:`CrashHook` records
        that its hooks are still to be fired. Task runs come first, then flow runs, newest
        first (subflows before their parents).
        """
        at = state.timestamp.timestamp()
        columns = state_columns(state, None)
        alerts = alerts or {}

        def crash(cur: Cursor) -> list[tuple[RunKindName, str]]:
            crashed: list[tuple[RunKindName, str]] = []
            for kind, table, history_column in _CRASH_ORDER:
                cur.execute(
                    f"UPDATE {table} SET state_type = %s, state_name = %s, state_message = %s, "
                    "end_time = %s WHERE process_id = %s AND end_time IS NULL "
                    f"RETURNING id, {history_column}, created",
                    (state.type.value, state.name, state.message, at, process_id),
                )
                rows = sorted(cur.fetchall(), key=lambda row: row[2], reverse=True)
                if not rows:
                    continue
                cur.executemany(
                    INSERT_EVENT,
                    [
                        event_row(kind, run_id, history_id, [columns])
                        for run_id, history_id, _ in rows
                    ],
                )
                queued = [
                    outbox_row(entry) for run_id, _, _ in rows for entry in alerts.get(run_id, ())
                ]
                if queued:
                    cur.executemany(INSERT_OUTBOX, queued)
                if hooks_by is not None:
                    now = time.time()
                    cur.executemany(
                        "INSERT INTO crash_hooks (run_id, run_kind, process_id, claimed_by, "
                        "created) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (run_id) DO UPDATE "
                        "SET claimed_by = EXCLUDED.claimed_by, created = EXCLUDED.created",
                        [(run_id, kind, process_id, hooks_by, now) for run_id, _, _ in rows],
                    )
                crashed += [(kind, run_id) for run_id, _, _ in rows]
            return crashed

        return self._write(crash)

    # -- crashed runs whose hooks are still to be fired ----------------------------------------

    def crash_hooks(self) -> list[CrashHook]:
        """The crashed runs whose hooks have not been fired yet, oldest first."""
        rows = self._read(
            "SELECT run_id, run_kind, process_id, claimed_by FROM crash_hooks ORDER BY seq"
        )
        return [CrashHook(*row) for row in rows]

    # -- cancellation -------------------------------------------------------------------------

    def request_cancel(self, flow_run_id: str, message: str | None, at: float) -> bool:
        """Record a cancel request and ``NOTIFY`` the run's process; False when it is final."""

        def request(cur: Cursor) -> bool:
            cur.execute(
                "UPDATE flow_runs SET cancel_requested = coalesce(cancel_requested, %s), "
                "cancel_message = coalesce(cancel_message, %s) "
                "WHERE id = %s AND end_time IS NULL RETURNING process_id",
                (at, message, flow_run_id),
            )
            row = cur.fetchone()
            if row is None:
                return False
            self._announce_request(cur, row[0])
            return True

        return self._write(request)

    def _announce_request(self, db: Any, process_id: int) -> None:
        db.execute("SELECT pg_notify(%s, %s)", (CANCEL_CHANNEL, str(process_id)))


def _insert_process(cur: Cursor, process_id: int | None, process: ProcessInfo, now: float) -> int:
    """Insert a process row; ``process_id`` None lets the server pick the id."""
    values = (
        process.pid,
        process.host,
        process.start_token,
        process.started,
        now,
        process.command,
        process.flowhook_version,
    )
    if process_id is None:
        cur.execute(
            "INSERT INTO processes (pid, host, start_token, started, last_heartbeat, command, "
            "flowhook_version) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
            values,
        )
        row = cur.fetchone()
        return int(row[0]) if row else 0
    # The id the server gave it before: taken as it is (the identity only yields higher ones).
    cur.execute(
        "INSERT INTO processes (id, pid, host, start_token, started, last_heartbeat, command, "
        "flowhook_version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
        (process_id, *values),
    )
    return process_id


def beat_in(cur: Cursor, process_id: int, at: float, registered: Mapping[int, ProcessInfo]) -> None:
    """Record, in the transaction of ``cur``, that ``process_id`` is alive; a process this store
    registered whose row is gone gets it back with its id, so that the reaper finds its runs."""
    cur.execute(
        "UPDATE processes SET last_heartbeat = greatest(last_heartbeat, %s) WHERE id = %s",
        (at, process_id),
    )
    info = registered.get(process_id)
    if cur.rowcount == 0 and info is not None:
        _insert_process(cur, process_id, info, at)


def exit_in(db: Cursor, process_id: int, at: float) -> None:
    """Record, in the transaction of ``db``, that ``process_id`` shut down normally."""
    shared_exit_in(db, process_id, at, "%s")
