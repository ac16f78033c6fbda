"""Pruning the history: finished runs, their events, hook errors and logs, dead processes and
sent messages, in one transaction (or counted in one that is rolled back)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import SQLStore
from .processes import clock_in
from .records import PROCESS_COLUMNS, process_record
from .runs import count_states

if TYPE_CHECKING:
    from .._details import PruneReport

__all__ = ["Pruning"]

_PRUNED_EVENTS = "FROM state_events WHERE history_id IN (SELECT id FROM pruned)"
_PRUNED_TASKS = (
    "FROM task_runs WHERE flow_run_id IN (SELECT id FROM pruned) OR id IN (SELECT id FROM pruned)"
)
_PRUNED = (
    "INSERT INTO pruned SELECT id FROM flow_runs WHERE end_time IS NOT NULL AND end_time < ?",
    "INSERT INTO pruned SELECT id FROM task_runs "
    "WHERE flow_run_id IS NULL AND end_time IS NOT NULL AND end_time < ?",
)
#: The deletes of the records of the runs in ``pruned``; each uses one index, and their row
#: counts add up (the second finds what the first left: the records of standalone task runs).
_DELETE_LOGS = (
    "DELETE FROM run_logs WHERE flow_run_id IN (SELECT id FROM pruned)",
    "DELETE FROM run_logs WHERE task_run_id IN (SELECT id FROM pruned)",
)
#: Pending and dead messages are kept, however old: they still have something to say.
_DELETE_SENT = "DELETE FROM notification_outbox WHERE status = 'sent' AND delivered < ?"
_SILENT_PROCESSES = (
    f"SELECT {PROCESS_COLUMNS} FROM processes WHERE last_heartbeat < ? "
    "AND id NOT IN (SELECT process_id FROM flow_runs WHERE process_id IS NOT NULL) "
    "AND id NOT IN (SELECT process_id FROM task_runs WHERE process_id IS NOT NULL)"
)


class Pruning(SQLStore):
    """The store's ``prune``."""

    def prune(
        self, before: float, *, dry_run: bool = False, crash_after_seconds: float = 60.0
    ) -> PruneReport:
        from .._details import PruneReport

        sql = self.dialect.sql
        counted = f"SELECT {count_states(self.dialect, _PRUNED_EVENTS, _PRUNED_TASKS)}"

        def delete(db: Any) -> PruneReport:
            for statement in self.dialect.pruned_table:
                db.execute(statement, ())
            for statement in _PRUNED:
                db.execute(sql(statement), (before,))
            events = int(db.execute(counted, ()).fetchone()[0])
            db.execute(f"DELETE {_PRUNED_EVENTS}", ())
            for statement in self.dialect.pruned_counts:
                db.execute(statement, ())
            db.execute("DELETE FROM hook_errors WHERE history_id IN (SELECT id FROM pruned)", ())
            logs = sum(db.execute(statement, ()).rowcount for statement in _DELETE_LOGS)
            tasks = db.execute(f"DELETE {_PRUNED_TASKS}", ()).rowcount
            deleted = db.execute("DELETE FROM flow_runs WHERE id IN (SELECT id FROM pruned)", ())
            flows = deleted.rowcount  # read now: a psycopg cursor is reused by what follows
            return PruneReport(
                flow_runs=flows,
                task_runs=tasks,
                events=events,
                processes=self._prune_processes(db, before, crash_after_seconds),
                sent_messages=db.execute(sql(_DELETE_SENT), (before,)).rowcount,
                logs=logs,
            )

        return self._rehearsed(delete) if dry_run else self._write(delete)

    def _prune_processes(self, db: Any, before: float, crash_after: float) -> int:
        """Delete the rows of processes silent since ``before`` that own no run and are dead."""
        from .._processes import death_reason  # socket, subprocess: only when pruning

        rows = db.execute(self.dialect.sql(_SILENT_PROCESSES), (before,)).fetchall()
        now = clock_in(db, self.dialect)
        dead = [
            (process.id,)
            for process in map(process_record, rows)
            if process.exited is not None or death_reason(process, now, crash_after) is not None
        ]
        if dead:
            db.executemany(self.dialect.sql("DELETE FROM processes WHERE id = ?"), dead)
        return len(dead)
