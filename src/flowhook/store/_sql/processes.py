"""Processes: registering them, heartbeats, the runs dead ones left unfinished, crashing those
runs, the crashed runs whose hooks are due, and cancel and resume requests."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from flowhook_hookspec.states import State

from .._records import CrashHook, RunKindName, RunRecord
from . import Executor, SQLStore
from .dialect import Dialect
from .outbox import INSERT_OUTBOX, outbox_row
from .records import (
    FLOW_COLUMNS,
    PROCESS_COLUMNS,
    TASK_COLUMNS,
    flow_record,
    process_record,
    task_record,
)
from .rows import INSERT_EVENT, event_row, state_columns

if TYPE_CHECKING:
    from .._details import CancelRequest, ProcessInfo, ProcessRecord
    from .._protocol import Alerts, RunRef

__all__ = ["RESUMING", "Processes", "clock_in"]

#: The state name a paused flow run's row shows from a resume request until its process
#: records Running (the type stays PAUSED): the request itself, needing no column of its own.
RESUMING = "Resuming"

_PROCESS_COLUMNS = "pid, host, start_token, started, last_heartbeat, command, flowhook_version"
_OPEN = "WHERE process_id = ? AND end_time IS NULL ORDER BY created DESC"
#: Task runs crash before the flow runs they belong to, as they would in a live process: each
#: kind's table, and the query of its unfinished runs' ids and history ids.
_CRASH_ORDER: tuple[tuple[RunKindName, str, str], ...] = (
    ("task", "task_runs", f"SELECT id, coalesce(flow_run_id, id) FROM task_runs {_OPEN}"),
    ("flow", "flow_runs", f"SELECT id, id FROM flow_runs {_OPEN}"),
)
_CRASH = (
    "UPDATE {} SET state_type = ?, state_name = ?, state_message = ?, end_time = ? "
    "WHERE id = ? AND end_time IS NULL"
)
_CRASH_HOOK_COLUMNS = "run_id, run_kind, process_id, claimed_by, created"


def clock_in(db: Executor, dialect: Dialect) -> float:
    """Now, in the transaction of ``db``, by the server's clock where the dialect has one."""
    if dialect.server_clock is None:
        return time.time()
    return float(db.execute(f"SELECT {dialect.server_clock}", ()).fetchone()[0])


class Processes(SQLStore):
    """The store's processes, crash detection and cancel requests."""

    def _insert_process(
        self, db: Executor, process: ProcessInfo, now: float, process_id: int | None = None
    ) -> int:
        """Insert a process row, its first heartbeat at ``now`` (the server's clock where the
        dialect has one); ``process_id`` None lets the database pick the id. A known id is taken
        as it is (a database's own numbering only yields higher ones), and skipped if it is
        there after all."""
        dialect = self.dialect
        clock, at = dialect.now(now)
        values = (process.pid, process.host, process.start_token, process.started, *at)
        values += (process.command, process.flowhook_version)
        columns, marks = _PROCESS_COLUMNS, f"?, ?, ?, ?, {clock}, ?, ?"
        if process_id is None:
            insert = f"INSERT INTO processes ({columns}) VALUES ({marks}){dialect.returning_id}"
            return dialect.inserted_id(db.execute(dialect.sql(insert), values))
        insert = f"INSERT INTO processes (id, {columns}) VALUES (?, {marks}) ON CONFLICT (id) "
        db.execute(dialect.sql(insert + "DO NOTHING"), (process_id, *values))
        return process_id

    def _beat(self, db: Executor, process_id: int, at: float) -> None:
        """Record, in the transaction of ``db``, that ``process_id`` is alive at ``at`` (the
        server's clock instead, where the dialect has one); a heartbeat never moves back.

        A process this store registered whose row is gone (pruned by an older flowhook, deleted
        by hand, or in a database re-created under it) gets it back, with its id, so that the
        reaper still finds its runs.
        """
        dialect = self.dialect
        clock, now = dialect.now(at)
        beat = f"UPDATE processes SET last_heartbeat = {dialect.greatest}(last_heartbeat, {clock})"
        changed = db.execute(dialect.sql(beat + " WHERE id = ?"), (*now, process_id)).rowcount
        if changed == 0 and process_id in self._registered:
            self._insert_process(db, self._registered[process_id], at, process_id)

    def _exit(self, db: Executor, process_id: int, at: float) -> None:
        """Record, in the transaction of ``db``, that ``process_id`` shut down normally."""
        exited = self.dialect.sql("UPDATE processes SET exited = ? WHERE id = ?")
        db.execute(exited, (at, process_id))

    def register_process(self, process: ProcessInfo) -> int:
        now = time.time()
        process_id = self._write(lambda db: self._insert_process(db, process, now))
        self._registered[process_id] = process
        return process_id

    def clock(self) -> float:
        if self.dialect.server_clock is None:
            return time.time()
        return self._reading(lambda db: clock_in(db, self.dialect))

    def heartbeat(self, process_id: int, at: float) -> None:
        self._write(lambda db: self._beat(db, process_id, at))

    def record_exit(self, process_id: int, at: float) -> None:
        self._write(lambda db: self._exit(db, process_id, at))

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

    def unfinished_runs(self, process_id: int) -> list[RunRecord]:
        """The runs of ``process_id`` not in a final state, in the order :meth:`crash_runs`
        moves them in."""
        tasks, flows = self._snapshot(
            (task_record, f"SELECT {TASK_COLUMNS} FROM task_runs {_OPEN}", (process_id,)),
            (flow_record, f"SELECT {FLOW_COLUMNS} FROM flow_runs {_OPEN}", (process_id,)),
        )
        return tasks + flows

    def crash_runs(
        self, process_id: int, state: State, *, alerts: Alerts = None, hooks_by: str | None = None
    ) -> list[RunRef]:
        sql = self.dialect.sql
        moved = (state.type.value, state.name, state.message, state.timestamp.timestamp())
        columns = [state_columns(state, None)]
        hook = sql(self.dialect.insert("crash_hooks", _CRASH_HOOK_COLUMNS, "run_id", replace=True))

        def crash(db: Any, kind: RunKindName, table: str, run_id: str, history_id: str) -> bool:
            """Crash one run; True when this call moved it."""
            if db.execute(sql(_CRASH.format(table)), (*moved, run_id)).rowcount != 1:
                return False
            db.execute(sql(INSERT_EVENT), event_row(kind, run_id, history_id, columns))
            if alerts and alerts.get(run_id):
                db.executemany(sql(INSERT_OUTBOX), [outbox_row(entry) for entry in alerts[run_id]])
            if hooks_by is not None:
                db.execute(hook, (run_id, kind, process_id, hooks_by, time.time()))
            return True

        return self._write(
            lambda db: [
                (kind, run_id)
                for kind, table, unfinished in _CRASH_ORDER
                for run_id, history_id in db.execute(sql(unfinished), (process_id,)).fetchall()
                if crash(db, kind, table, run_id, history_id)
            ]
        )

    def crash_hooks(self) -> list[CrashHook]:
        """The crashed runs whose hooks have not been fired yet, oldest first."""
        rows = self._read(
            "SELECT run_id, run_kind, process_id, claimed_by FROM crash_hooks "
            f"ORDER BY {self.dialect.crash_hook_order}"
        )
        return [CrashHook(*row) for row in rows]

    def claim_crash_hook(self, run_id: str, claimed_by: str, worker: str) -> bool:
        """Take over firing the hooks of ``run_id`` from ``claimed_by``; False if another did."""
        update = "UPDATE crash_hooks SET claimed_by = ? WHERE run_id = ? AND claimed_by = ?"
        return self._change(update, (worker, run_id, claimed_by)) == 1

    def crash_hook_fired(self, run_id: str) -> None:
        self._change("DELETE FROM crash_hooks WHERE run_id = ?", (run_id,))

    def request_cancel(self, flow_run_id: str, message: str | None, at: float) -> bool:
        """Record a cancel request; False when the run is already final."""
        return self._request(
            "UPDATE flow_runs SET cancel_requested = coalesce(cancel_requested, ?), "
            "cancel_message = coalesce(cancel_message, ?) WHERE id = ? AND end_time IS NULL",
            (at, message, flow_run_id),
        )

    def request_resume(self, flow_run_id: str) -> bool:
        """Ask the process running the paused flow run ``flow_run_id`` to resume it (its row
        shows :data:`RESUMING` until that process records the run's next state); False when the
        run is not paused."""
        return self._request(
            "UPDATE flow_runs SET state_name = ? WHERE id = ? AND state_type = 'PAUSED' "
            "AND end_time IS NULL",
            (RESUMING, flow_run_id),
        )

    def _request(self, update: str, parameters: tuple[Any, ...]) -> bool:
        """Record a request with ``update`` (of one flow run, its id the last parameter) and,
        in the same transaction, wake the run's process where the dialect can
        (:attr:`~.dialect.Dialect.announce`); False when the update changed no row."""
        statement, announce = self.dialect.sql(update), self.dialect.announce

        def ask(db: Any) -> bool:
            if db.execute(statement, parameters).rowcount != 1:
                return False
            if announce is not None:
                db.execute(self.dialect.sql(announce), (parameters[-1],))
            return True

        return self._write(ask)

    def resume_requests(self, process_id: int) -> list[str]:
        """The ids of the paused flow runs of ``process_id`` asked to resume."""
        rows = self._read(
            "SELECT id FROM flow_runs WHERE process_id = ? AND end_time IS NULL "
            "AND state_type = 'PAUSED' AND state_name = ?",
            (process_id, RESUMING),
        )
        return [row[0] for row in rows]

    def cancel_requests(self, process_id: int) -> list[CancelRequest]:
        from .._details import CancelRequest  # a heartbeat's: not for a run list

        rows = self._read(
            "SELECT id, cancel_message FROM flow_runs WHERE process_id = ? "
            "AND end_time IS NULL AND cancel_requested IS NOT NULL "
            "AND cancel_delivered IS NULL",
            (process_id,),
        )
        return [CancelRequest(*row) for row in rows]

    def mark_cancel_delivered(self, flow_run_id: str, at: float) -> None:
        self._change("UPDATE flow_runs SET cancel_delivered = ? WHERE id = ?", (at, flow_run_id))
