"""Processes, their heartbeats and the runs of dead ones, and requests to cancel flow runs."""

from __future__ import annotations

import time

from flowhook_hookspec.states import State

from .._records import CancelRequest, ProcessInfo, ProcessRecord, RunKindName
from .._sqlite.rows import event_row, process_record, state_columns
from .connection import Cursor, PostgresBase
from .rows import INSERT_EVENT, PROCESS_COLUMNS

__all__ = ["CANCEL_CHANNEL", "PostgresProcesses"]

#: The ``NOTIFY`` channel of cancel requests; the payload is the process id that owns the run.
CANCEL_CHANNEL = "flowhook_cancel"

#: Task runs crash before the flow runs they belong to, as they would in a live process.
_CRASH_ORDER: tuple[tuple[RunKindName, str, str], ...] = (
    ("task", "task_runs", "coalesce(flow_run_id, id)"),
    ("flow", "flow_runs", "id"),
)


class PostgresProcesses(PostgresBase):
    """The store's processes, crash detection and cancel requests."""

    def register_process(self, process: ProcessInfo) -> int:
        now = time.time()

        def insert(cur: Cursor) -> int:
            cur.execute(
                "INSERT INTO processes (pid, host, start_token, started, last_heartbeat, command, "
                "flowhook_version) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
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
            row = cur.fetchone()
            return int(row[0]) if row else 0

        return self._write(insert)

    def heartbeat(self, process_id: int, at: float) -> None:
        self._write(
            lambda cur: cur.execute(
                "UPDATE processes SET last_heartbeat = greatest(last_heartbeat, %s) WHERE id = %s",
                (at, process_id),
            )
        )

    def process(self, process_id: int) -> ProcessRecord | None:
        found = self._records(
            process_record, f"SELECT {PROCESS_COLUMNS} FROM processes WHERE id = %s", (process_id,)
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

        One conditional ``UPDATE ... WHERE end_time IS NULL ... RETURNING`` per table: a reaper
        on another host changing the same rows makes this one wait, then skip the rows it
        finished, so each run is crashed, and its Crashed event written, exactly once. Task runs
        come first, then flow runs, newest first (subflows before their parents).
        """
        at = state.timestamp.timestamp()
        columns = state_columns(state, None)

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
                if rows:
                    cur.executemany(
                        INSERT_EVENT,
                        [
                            event_row(kind, run_id, history_id, [columns])
                            for run_id, history_id, _ in rows
                        ],
                    )
                crashed += [(kind, run_id) for run_id, _, _ in rows]
            return crashed

        return self._write(crash)

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
            cur.execute("SELECT pg_notify(%s, %s)", (CANCEL_CHANNEL, str(row[0])))
            return True

        return self._write(request)

    def cancel_requests(self, process_id: int) -> list[CancelRequest]:
        rows = self._read(
            "SELECT id, cancel_message FROM flow_runs WHERE process_id = %s AND end_time IS NULL "
            "AND cancel_requested IS NOT NULL AND cancel_delivered IS NULL",
            (process_id,),
        )
        return [CancelRequest(*row) for row in rows]

    def mark_cancel_delivered(self, flow_run_id: str, at: float) -> None:
        self._write(
            lambda cur: cur.execute(
                "UPDATE flow_runs SET cancel_delivered = %s WHERE id = %s", (at, flow_run_id)
            )
        )
