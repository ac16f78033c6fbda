"""Processes, their heartbeats and the runs of dead ones, and requests to cancel flow runs."""

from __future__ import annotations

import sqlite3
import time

from flowhook_hookspec.states import State

from .._records import CancelRequest, ProcessInfo, ProcessRecord, RunKindName
from .connection import SQLiteBase
from .rows import INSERT_EVENT, PROCESS_COLUMNS, event_row, process_record, state_columns

__all__ = ["SQLiteProcesses"]

#: Task runs crash before the flow runs they belong to, as they would in a live process.
_CRASH_ORDER: tuple[tuple[RunKindName, str, str], ...] = (
    ("task", "task_runs", "coalesce(flow_run_id, id)"),
    ("flow", "flow_runs", "id"),
)


class SQLiteProcesses(SQLiteBase):
    """The store's processes, crash detection and cancel requests."""

    # -- processes ----------------------------------------------------------------------------

    def register_process(self, process: ProcessInfo) -> int:
        now = time.time()

        def insert(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "INSERT INTO processes (pid, host, start_token, started, last_heartbeat, command, "
                "flowhook_version) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
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

        return self._write(insert)

    def heartbeat(self, process_id: int, at: float) -> None:
        self._write(
            lambda conn: conn.execute(
                "UPDATE processes SET last_heartbeat = max(last_heartbeat, ?) WHERE id = ?",
                (at, process_id),
            )
        )

    def process(self, process_id: int) -> ProcessRecord | None:
        found = self._records(
            process_record, f"SELECT {PROCESS_COLUMNS} FROM processes WHERE id = ?", (process_id,)
        )
        return found[0] if found else None

    def unfinished_processes(self) -> list[ProcessRecord]:
        """The processes that own at least one run not in a final state."""
        return self._records(
            process_record,
            f"SELECT {PROCESS_COLUMNS} FROM processes WHERE id IN ("
            "SELECT process_id FROM flow_runs WHERE end_time IS NULL "
            "UNION SELECT process_id FROM task_runs WHERE end_time IS NULL) ORDER BY id",
        )

    def crash_runs(self, process_id: int, state: State) -> list[tuple[RunKindName, str]]:
        """Move every unfinished run of a dead process to ``state``; returns those this call moved.

        The update is conditional on the run still being unfinished, inside one write
        transaction, so of several reapers racing over the same runs exactly one crashes each.
        Task runs come first, then flow runs, newest first (subflows before their parents).
        """
        at = state.timestamp.timestamp()

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
            return crashed

        return self._write(crash)

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

    def cancel_requests(self, process_id: int) -> list[CancelRequest]:
        rows = self._read(
            "SELECT id, cancel_message FROM flow_runs WHERE process_id = ? AND end_time IS NULL "
            "AND cancel_requested IS NOT NULL AND cancel_delivered IS NULL",
            (process_id,),
        )
        return [CancelRequest(*row) for row in rows]

    def mark_cancel_delivered(self, flow_run_id: str, at: float) -> None:
        self._write(
            lambda conn: conn.execute(
                "UPDATE flow_runs SET cancel_delivered = ? WHERE id = ?", (at, flow_run_id)
            )
        )
