"""Processes, their heartbeats and the runs of dead ones, and requests to cancel flow runs."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping, Sequence

from flowhook_hookspec.states import State

from .._records import (
    CancelRequest,
    CrashHook,
    OutboxEntry,
    ProcessInfo,
    ProcessRecord,
    RunKindName,
    RunRecord,
)
from .connection import SQLiteBase
from .outbox import INSERT_OUTBOX, outbox_row
from .rows import (
    FLOW_COLUMNS,
    INSERT_EVENT,
    PROCESS_COLUMNS,
    TASK_COLUMNS,
    event_row,
    flow_record,
    process_record,
    state_columns,
    task_record,
)

__all__ = ["SQLiteProcesses", "beat_in", "exit_in"]

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
        process_id = self._write(lambda conn: _insert_process(conn, None, process, now))
        self._registered[process_id] = process
        return process_id

    def heartbeat(self, process_id: int, at: float) -> None:
        self._write(lambda conn: beat_in(conn, process_id, at, self._registered))

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

    def unfinished_runs(self, process_id: int) -> list[RunRecord]:
        """The runs of ``process_id`` not in a final state: task runs first, then flow runs,
        newest first, the order :meth:`crash_runs` moves them in."""

        def read(conn: sqlite3.Connection) -> list[RunRecord]:
            tasks = conn.execute(
                f"SELECT {TASK_COLUMNS} FROM task_runs WHERE process_id = ? AND end_time IS NULL "
                "ORDER BY created DESC",
                (process_id,),
            ).fetchall()
            flows = conn.execute(
                f"SELECT {FLOW_COLUMNS} FROM flow_runs WHERE process_id = ? AND end_time IS NULL "
                "ORDER BY created DESC",
                (process_id,),
            ).fetchall()
            return [task_record(row) for row in tasks] + [flow_record(row) for row in flows]

        return self._reading(read)

    # -- crashed runs whose hooks are still to be fired ----------------------------------------

    def crash_hooks(self) -> list[CrashHook]:
        """The crashed runs whose hooks have not been fired yet, oldest first."""
        rows = self._read(
            "SELECT run_id, run_kind, process_id, claimed_by FROM crash_hooks ORDER BY rowid"
        )
        return [CrashHook(*row) for row in rows]

    def claim_crash_hook(self, run_id: str, claimed_by: str, worker: str) -> bool:
        """Take over firing the hooks of ``run_id`` from ``claimed_by``; False if another did."""
        return bool(
            self._write(
                lambda conn: (
                    conn.execute(
                        "UPDATE crash_hooks SET claimed_by = ? WHERE run_id = ? AND claimed_by = ?",
                        (worker, run_id, claimed_by),
                    ).rowcount
                )
            )
        )

    def crash_hook_fired(self, run_id: str) -> None:
        """The hooks of the crashed run ``run_id`` were fired."""
        self._write(
            lambda conn: conn.execute("DELETE FROM crash_hooks WHERE run_id = ?", (run_id,))
        )

    def record_exit(self, process_id: int, at: float) -> None:
        """``process_id`` is shutting down normally."""
        self._write(lambda conn: exit_in(conn, process_id, at))

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


def exit_in(conn: sqlite3.Connection, process_id: int, at: float) -> None:
    """Record, in the transaction of ``conn``, that ``process_id`` shut down normally."""
    conn.execute("UPDATE processes SET exited = ? WHERE id = ?", (at, process_id))


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
