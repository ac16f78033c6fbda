"""Processes, the runs they left unfinished, the crashed runs whose hooks are due, cancel
requests and resume requests: what is the same SQL on both stores. Registering, heartbeats,
crashing runs and asking to cancel are each store's own (``RETURNING``, ``NOTIFY``)."""

from __future__ import annotations

from typing import Any

from .._records import CancelRequest, ProcessRecord, RunRecord
from .._sqlite.rows import (
    FLOW_COLUMNS,
    PROCESS_COLUMNS,
    TASK_COLUMNS,
    flow_record,
    process_record,
    task_record,
)
from . import Executor, SQLStore, marked

__all__ = ["RESUMING", "Processes", "exit_in"]

#: The state name a paused flow run's row shows from a resume request until its process
#: records Running (the type stays PAUSED): the request itself, needing no column of its own.
RESUMING = "Resuming"

_EXIT = "UPDATE processes SET exited = ? WHERE id = ?"


def exit_in(db: Executor, process_id: int, at: float, marks: str) -> None:
    """Record, in the transaction of ``db``, that ``process_id`` shut down normally."""
    db.execute(marked(_EXIT, marks), (at, process_id))


class Processes(SQLStore):
    """The store's processes, as far as both stores share their SQL."""

    def process(self, process_id: int) -> ProcessRecord | None:
        found = self._records(
            process_record,
            self._sql(f"SELECT {PROCESS_COLUMNS} FROM processes WHERE id = ?"),
            (process_id,),
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
        """The runs of ``process_id`` not in a final state: task runs first, then flow runs,
        newest first, the order :meth:`crash_runs` moves them in."""
        unfinished = "WHERE process_id = ? AND end_time IS NULL ORDER BY created DESC"
        tasks = self._sql(f"SELECT {TASK_COLUMNS} FROM task_runs {unfinished}")
        flows = self._sql(f"SELECT {FLOW_COLUMNS} FROM flow_runs {unfinished}")

        def read(db: Any) -> list[RunRecord]:
            found = [task_record(row) for row in db.execute(tasks, (process_id,)).fetchall()]
            return found + [flow_record(row) for row in db.execute(flows, (process_id,)).fetchall()]

        return self._reading(read)

    def claim_crash_hook(self, run_id: str, claimed_by: str, worker: str) -> bool:
        """Take over firing the hooks of ``run_id`` from ``claimed_by``; False if another did."""
        return bool(
            self._change(
                "UPDATE crash_hooks SET claimed_by = ? WHERE run_id = ? AND claimed_by = ?",
                (worker, run_id, claimed_by),
            )
        )

    def crash_hook_fired(self, run_id: str) -> None:
        """The hooks of the crashed run ``run_id`` were fired."""
        self._change("DELETE FROM crash_hooks WHERE run_id = ?", (run_id,))

    def record_exit(self, process_id: int, at: float) -> None:
        """``process_id`` is shutting down normally."""
        self._change(_EXIT, (at, process_id))

    def cancel_requests(self, process_id: int) -> list[CancelRequest]:
        rows = self._read(
            self._sql(
                "SELECT id, cancel_message FROM flow_runs WHERE process_id = ? "
                "AND end_time IS NULL AND cancel_requested IS NOT NULL "
                "AND cancel_delivered IS NULL"
            ),
            (process_id,),
        )
        return [CancelRequest(*row) for row in rows]

    def mark_cancel_delivered(self, flow_run_id: str, at: float) -> None:
        self._change("UPDATE flow_runs SET cancel_delivered = ? WHERE id = ?", (at, flow_run_id))

    def request_resume(self, flow_run_id: str) -> bool:
        """Ask the process running the paused flow run ``flow_run_id`` to resume it (its row
        shows :data:`RESUMING` until that process records the run's next state); False when the
        run is not paused. The process is woken as for a cancel request."""
        select = self._sql(
            "SELECT process_id FROM flow_runs WHERE id = ? AND state_type = 'PAUSED' "
            "AND end_time IS NULL"
        )
        update = self._sql("UPDATE flow_runs SET state_name = ? WHERE id = ?")

        def request(db: Any) -> bool:
            row = db.execute(select, (flow_run_id,)).fetchone()
            if row is None:
                return False
            db.execute(update, (RESUMING, flow_run_id))
            if row[0] is not None:
                self._announce_request(db, int(row[0]))
            return True

        return self._write(request)

    def _announce_request(self, db: Any, process_id: int) -> None:
        """Wake ``process_id`` to read its requests now: PostgreSQL's ``NOTIFY``; SQLite's
        processes poll while one of their runs is paused."""

    def resume_requests(self, process_id: int) -> list[str]:
        """The ids of the paused flow runs of ``process_id`` asked to resume."""
        rows = self._read(
            self._sql(
                "SELECT id FROM flow_runs WHERE process_id = ? AND end_time IS NULL "
                "AND state_type = 'PAUSED' AND state_name = ?"
            ),
            (process_id, RESUMING),
        )
        return [row[0] for row in rows]
