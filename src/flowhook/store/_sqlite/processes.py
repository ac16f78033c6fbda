"""Processes: registering them, their heartbeats, crashing the runs of dead ones, asking to
cancel a flow run (the rest is :mod:`flowhook.store._sql.processes`'s, the same for both)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping, Sequence

from flowhook_hookspec.states import State

from .._records import (
    CrashHook,
    OutboxEntry,
    ProcessInfo,
    RunKindName,
)
from .._sql.processes import Processes
from .._sql.processes import exit_in as shared_exit_in
from .connection import SQLiteBase
from .outbox import INSERT_OUTBOX, outbox_row
from .rows import (
    INSERT_EVENT,
    event_row,
    state_columns,
)

__all__ = ["SQLiteProcesses", "beat_in", "exit_in"]

#: Task runs crash before the flow runs they belong to, as they would in a live process.
_CRASH_ORDER: tuple[tuple[RunKindName, str, str], ...] = (
    ("task", "task_runs", "coalesce(flow_run_id, id)"),
    ("flow", "flow_runs", "id"),
)


class SQLiteProcesses(Processes, SQLiteBase):
    """The store's processes, crash detection and cancel requests."""

    # -- processes ----------------------------------------------------------------------------

    def register_process(self, process: ProcessInfo) -> int:
        now = time.time()
        process_id = self._write(lambda conn: _insert_process(conn, None, process, now))
        self._registered[process_id] = process
        return process_id

    def heartbeat(self, process_id: int, at: float) -> None:
        self._write(lambda conn: beat_in(conn, process_id, at, self._registered))

    def crash_runs(
        self,
        process_id: int,
        state: State,
        *,
        alerts: Mapping[str, Sequence[OutboxEntry]] | None = None,
        hooks_by: str | None = None,
    ) -> list[tuple[RunKindName, str]]:
        """Move every unfinished run of a dead process to ``state``; returns those this call moved.

        The update is conditional on the run still being unfinished, inside one write
        transaction, so of several reapers racing over the same runs exactly one crashes each.
        In the same transaction, for each run it moved, the messages ``alerts`` holds for its
        id are queued, and, with ``hooks_by`` (the reaper's claimant id), a :class:`CrashHook`
        records that its hooks are still to be fired.
        Task runs come first, then flow runs, newest first (subflows before their parents).
        """
        at = state.timestamp.timestamp()
        alerts = alerts or {}

        def crash(conn: sqlite3.Connection) -> list[tuple[RunKindName, str]]:
            crashed: list[tuple[RunKindName, str]] = []
            for kind, table, history_column in _CRASH_ORDER:
                rows = conn.execute(
                    f"SELECT id, {history_column} FROM {table} "
                    "WHERE process_id = ? AND end_time IS NULL ORDER BY created DESC",
                    (process_id,),
                ).fetchall()
                for run_id, history_id in rows:
                    cursor = conn.execute(
                        f"UPDATE {table} SET state_type = ?, state_name = ?, state_message = ?, "
                        "end_time = ? WHERE id = ? AND end_time IS NULL",
                        (state.type.value, state.name, state.message, at, run_id),
                    )
                    if cursor.rowcount == 1:
                        row = event_row(kind, run_id, history_id, [state_columns(state, None)])
                        conn.execute(INSERT_EVENT, row)
                        crashed.append((kind, run_id))
                        if alerts.get(run_id):
                            conn.executemany(INSERT_OUTBOX, map(outbox_row, alerts[run_id]))
                        if hooks_by is not None:
                            conn.execute(
                                "INSERT OR REPLACE INTO crash_hooks (run_id, run_kind, "
                                "process_id, claimed_by, created) VALUES (?, ?, ?, ?, ?)",
                                (run_id, kind, process_id, hooks_by, time.time()),
                            )
            return crashed

        return self._write(crash)

    # -- crashed runs whose hooks are still to be fired ----------------------------------------

    def crash_hooks(self) -> list[CrashHook]:
        """The crashed runs whose hooks have not been fired yet, oldest first."""
        rows = self._read(
            "SELECT run_id, run_kind, process_id, claimed_by FROM crash_hooks ORDER BY rowid"
        )
        return [CrashHook(*row) for row in rows]

    # -- cancellation -------------------------------------------------------------------------

    def request_cancel(self, flow_run_id: str, message: str | None, at: float) -> bool:
        """Record a cancel request; False when the run is already final."""

        def request(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE flow_runs SET cancel_requested = coalesce(cancel_requested, ?), "
                "cancel_message = coalesce(cancel_message, ?) WHERE id = ? AND end_time IS NULL",
                (at, message, flow_run_id),
            )
            return cursor.rowcount == 1

        return self._write(request)


def _insert_process(
    conn: sqlite3.Connection, process_id: int | None, process: ProcessInfo, now: float
) -> int:
    cursor = conn.execute(
        "INSERT INTO processes (id, pid, host, start_token, started, last_heartbeat, command, "
        "flowhook_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            process_id,
            process.pid,
            process.host,
            process.start_token,
            process.started,
            now,
            process.command,
            process.flowhook_version,
        ),
    )
    return int(cursor.lastrowid or 0)


def beat_in(
    conn: sqlite3.Connection, process_id: int, at: float, registered: Mapping[int, ProcessInfo]
) -> None:
    """Record, in the transaction of ``conn``, that ``process_id`` is alive.

    A process the store registered (in ``registered``) whose row is gone (pruned by an older
    flowhook, deleted by hand, or in a database re-created under it) gets it back, with its id,
    so that the reaper still finds its runs.
    """
    cursor = conn.execute(
        "UPDATE processes SET last_heartbeat = max(last_heartbeat, ?) WHERE id = ?",
        (at, process_id),
    )
    info = registered.get(process_id)
    if cursor.rowcount == 0 and info is not None:
        _insert_process(conn, process_id, info, at)


def exit_in(db: sqlite3.Connection, process_id: int, at: float) -> None:
    """Record, in the transaction of ``db``, that ``process_id`` shut down normally."""
    shared_exit_in(db, process_id, at, "?")
