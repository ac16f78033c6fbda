"""Runs and their events: recording batches, reading the history, and pruning it."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from typing import Any

import attrs

from .._batch import PreparedBatch, claim_batch, mark_batch, prepare_batch
from .._processes import death_reason
from .._records import (
    EventRecord,
    HookErrorRecord,
    LogRecord,
    PruneReport,
    RunKindName,
    RunQuery,
    RunRecord,
    StateCount,
    Write,
)
from .._sql.listing import listing_sql, merged, state_counts_sql, summed_counts
from .connection import SQLiteBase
from .logs import delete_logs, insert_log, read_run_logs
from .outbox import INSERT_OUTBOX, delete_sent_outbox
from .processes import beat_in, exit_in
from .rows import (
    EVENT_SELECT,
    FLOW_COLUMNS,
    HOOK_ERROR_COLUMNS,
    INSERT_EVENT,
    INSERT_FLOW_RUN,
    INSERT_TASK_RUN,
    PROCESS_COLUMNS,
    TASK_COLUMNS,
    event_records,
    flow_record,
    hook_error_record,
    process_record,
    task_record,
)

__all__ = ["SQLiteRuns"]

#: A compare-and-set: a late write (from a process that was taken for dead, or that lost a race
#: with a cancel) never overwrites Crashed or Cancelled; its events are still recorded.
_UPDATE_RUN = (
    "UPDATE {table} SET state_type = ?, state_name = ?, state_message = ?, run_count = ?, "
    "start_time = ?, end_time = ? WHERE id = ? AND state_type NOT IN ('CRASHED', 'CANCELLED')"
)
_TABLES: dict[RunKindName, str] = {"flow": "flow_runs", "task": "task_runs"}
_INSERT_HOOK_ERROR = (
    "INSERT INTO hook_errors (run_id, run_kind, history_id, timestamp, description, traceback) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_INSERT_LOG = insert_log("?")
_DELETE_LOGS = delete_logs("SELECT id FROM temp.pruned")
_COUNT_EVENTS = "count(*) + coalesce(sum(json_array_length(earlier)), 0)"
_COUNT_RUN_ROW_STATES = "coalesce(sum(json_array_length(states)), 0)"


class SQLiteRuns(SQLiteBase):
    """The store's runs: recording, reading and pruning."""

    # -- recording ----------------------------------------------------------------------------

    def write(self, batch: Iterable[Write]) -> None:
        """Apply a batch of writes in one transaction, in order (rows as :func:`prepare_batch`
        sorts them)."""
        prepared = prepare_batch(batch)
        try:
            self._apply(prepared)
        except UnicodeEncodeError:
            # A lone surrogate (a filename from os.listdir that is not UTF-8, say): SQLite takes
            # only UTF-8. Such text is stored with backslash escapes (\udcff) and the batch again.
            self._apply(prepared.escaped())

    def _apply(self, prepared: PreparedBatch) -> None:
        rows: dict[str, Any] = {
            INSERT_FLOW_RUN: prepared.fresh["flow"],
            INSERT_TASK_RUN: prepared.fresh["task"],
            **{
                _UPDATE_RUN.format(table=table): prepared.updates[kind]
                for kind, table in _TABLES.items()
            },
            INSERT_EVENT: prepared.events,
            _INSERT_HOOK_ERROR: prepared.hook_errors,
            INSERT_OUTBOX: prepared.outbox,
            _INSERT_LOG: prepared.logs,
        }
        beat, exited, key = prepared.beat, prepared.exited, prepared.key

        def apply(conn: sqlite3.Connection) -> None:
            claimed = True if key is None else claim_batch(conn, key, "?")
            if claimed is None:
                return  # applied before: a replay writes nothing twice
            for statement, values in rows.items():
                if values:
                    conn.executemany(statement, values)
            if beat is not None:
                beat_in(conn, beat.process_id, beat.at, self._registered)
            if exited is not None:
                exit_in(conn, exited.process_id, exited.at)
            if not claimed and key is not None:
                mark_batch(conn, key, "?")

        self._write(apply)

    # -- reading ------------------------------------------------------------------------------

    def get_run(self, kind: RunKindName, run_id: str) -> RunRecord | None:
        if kind == "flow":
            found = self._records(
                flow_record, f"SELECT {FLOW_COLUMNS} FROM flow_runs WHERE id = ?", (run_id,)
            )
        else:
            found = self._records(
                task_record, f"SELECT {TASK_COLUMNS} FROM task_runs WHERE id = ?", (run_id,)
            )
        return found[0] if found else None

    def find_runs(self, prefix: str, limit: int = 10) -> list[RunRecord]:
        """Flow runs, then task runs, whose id starts with ``prefix`` (lower-case hex and -)."""
        bounds = (prefix, prefix + "~", limit)
        flows = self._records(
            flow_record,
            f"SELECT {FLOW_COLUMNS} FROM flow_runs WHERE id >= ? AND id < ? LIMIT ?",
            bounds,
        )
        tasks = self._records(
            task_record,
            f"SELECT {TASK_COLUMNS} FROM task_runs WHERE id >= ? AND id < ? LIMIT ?",
            bounds,
        )
        return flows + tasks

    def list_flow_runs(self, query: RunQuery) -> list[RunRecord]:
        """The top-level runs, newest first: flow runs, and task runs called outside any flow
        (``query.flow_name`` then matches the task's name)."""
        flows = listing_sql(query, "flow_runs", FLOW_COLUMNS, "?")
        tasks = listing_sql(query, "task_runs", TASK_COLUMNS, "?")

        def read(conn: sqlite3.Connection) -> list[RunRecord]:
            found = [flow_record(row) for row in conn.execute(*flows).fetchall()]
            found += [task_record(row) for row in conn.execute(*tasks).fetchall()]
            return merged(found, query.limit)

        return self._reading(read)

    def state_counts(
        self, since: float, until: float, buckets: int, *, flow_name: str | None = None
    ) -> list[StateCount]:
        """How many top-level runs were created in each of ``buckets`` equal slices of
        [since, until), by state type."""
        queries = [
            state_counts_sql(table, since, until, buckets, flow_name, "?", "CAST({} AS INTEGER)")
            for table in ("flow_runs", "task_runs")
        ]

        def read(conn: sqlite3.Connection) -> list[StateCount]:
            rows = [row for query in queries for row in conn.execute(*query).fetchall()]
            return summed_counts(rows, buckets)

        return self._reading(read)

    def task_runs(self, flow_run_id: str) -> list[RunRecord]:
        return self._records(
            task_record,
            f"SELECT {TASK_COLUMNS} FROM task_runs WHERE flow_run_id = ? ORDER BY created",
            (flow_run_id,),
        )

    def subflow_runs(self, flow_run_id: str) -> list[RunRecord]:
        return self._records(
            flow_record,
            f"SELECT {FLOW_COLUMNS} FROM flow_runs WHERE parent_flow_run_id = ? ORDER BY created",
            (flow_run_id,),
        )

    def events(self, run_id: str, history_id: str) -> list[EventRecord]:
        """The states ``run_id`` entered, in order; ``history_id`` is its flow run's id (its own
        id for a flow run, or a task run outside any flow)."""

        def read(conn: sqlite3.Connection) -> list[EventRecord]:
            in_row = conn.execute(
                "SELECT id, states FROM task_runs WHERE id = ? AND states IS NOT NULL", (run_id,)
            ).fetchall()
            rows = conn.execute(
                f"SELECT {EVENT_SELECT} FROM state_events WHERE history_id = ? AND run_id = ? "
                "ORDER BY seq",
                (history_id, run_id),
            ).fetchall()
            return event_records(in_row, rows, in_time_order=False)

        return self._reading(read)

    def history(self, history_id: str) -> list[EventRecord]:
        """The events of a flow run and of its task runs (or of a task run outside any flow), in
        the order of their timestamps."""

        def read(conn: sqlite3.Connection) -> list[EventRecord]:
            in_rows = conn.execute(
                "SELECT id, states FROM task_runs WHERE flow_run_id = ? AND states IS NOT NULL "
                "UNION ALL SELECT id, states FROM task_runs "
                "WHERE id = ? AND flow_run_id IS NULL AND states IS NOT NULL",
                (history_id, history_id),
            ).fetchall()
            rows = conn.execute(
                f"SELECT {EVENT_SELECT} FROM state_events WHERE history_id = ? ORDER BY seq",
                (history_id,),
            ).fetchall()
            return event_records(in_rows, rows, in_time_order=True)

        return self._reading(read)

    def hook_errors(self, history_id: str) -> list[HookErrorRecord]:
        """Hook errors of a flow run and of its task runs (or of a task run outside any flow)."""
        return self._records(
            hook_error_record,
            f"SELECT {HOOK_ERROR_COLUMNS} FROM hook_errors WHERE history_id = ? ORDER BY seq",
            (history_id,),
        )

    def run_logs(
        self, run_id: str, *, after_id: int = 0, min_level: int = 0, limit: int = 1000
    ) -> list[LogRecord]:
        """The log records of the flow run ``run_id`` and its task runs, or of the task run
        ``run_id``, in id order: those with ``id > after_id`` and ``level >= min_level``, at
        most ``limit``."""

        def read(conn: sqlite3.Connection) -> list[LogRecord]:
            return read_run_logs(
                lambda sql, parameters: conn.execute(sql, parameters).fetchall(),
                "?",
                run_id,
                after_id,
                min_level,
                limit,
            )

        return self._reading(read)

    def count_events(self) -> int:
        """How many states are recorded (a row holds one state and its ``earlier`` ones)."""
        [(count,)] = self._read(
            f"SELECT (SELECT {_COUNT_EVENTS} FROM state_events) + "
            f"(SELECT {_COUNT_RUN_ROW_STATES} FROM task_runs)"
        )
        return int(count)

    # -- pruning ------------------------------------------------------------------------------

    def prune(
        self, before: float, *, dry_run: bool = False, crash_after_seconds: float = 60.0
    ) -> PruneReport:
        """Delete finished runs that ended before ``before``, with their events, hook errors and
        log records, the outbox messages sent before it, and the rows of processes that are dead
        (see :func:`~flowhook.store.death_reason`; ``crash_after_seconds`` is its limit for processes
        on other hosts) and own no run. ``dry_run``: count them, delete nothing.

        Runs that are not final are never deleted, however old; nor is the row of a process
        that may be alive, even without runs: its next run would be found by no reaper.
        """

        def delete(conn: sqlite3.Connection) -> PruneReport:
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS pruned (id TEXT PRIMARY KEY)")
            conn.execute("DELETE FROM temp.pruned")
            conn.execute(
                "INSERT INTO temp.pruned SELECT id FROM flow_runs "
                "WHERE end_time IS NOT NULL AND end_time < ?",
                (before,),
            )
            conn.execute(
                "INSERT INTO temp.pruned SELECT id FROM task_runs "
                "WHERE flow_run_id IS NULL AND end_time IS NOT NULL AND end_time < ?",
                (before,),
            )
            pruned_events = "FROM state_events WHERE history_id IN (SELECT id FROM temp.pruned)"
            events = conn.execute(f"SELECT {_COUNT_EVENTS} {pruned_events}").fetchone()[0]
            pruned_tasks = (
                "FROM task_runs WHERE flow_run_id IN (SELECT id FROM temp.pruned) "
                "OR id IN (SELECT id FROM temp.pruned)"
            )
            events += conn.execute(f"SELECT {_COUNT_RUN_ROW_STATES} {pruned_tasks}").fetchone()[0]
            conn.execute(f"DELETE {pruned_events}")
            conn.execute("DELETE FROM hook_errors WHERE history_id IN (SELECT id FROM temp.pruned)")
            logs = sum(conn.execute(statement).rowcount for statement in _DELETE_LOGS)
            tasks = conn.execute(f"DELETE {pruned_tasks}").rowcount
            flows = conn.execute(
                "DELETE FROM flow_runs WHERE id IN (SELECT id FROM temp.pruned)"
            ).rowcount
            processes = _prune_processes(conn, before, crash_after_seconds)
            conn.execute("DELETE FROM temp.pruned")
            report = PruneReport(
                flow_runs=flows, task_runs=tasks, events=events, processes=processes, logs=logs
            )
            return attrs.evolve(report, sent_messages=delete_sent_outbox(conn, before))

        return self._rehearsed(delete) if dry_run else self._write(delete)


def _prune_processes(conn: sqlite3.Connection, before: float, crash_after: float) -> int:
    """Delete the rows of processes silent since ``before`` that own no run and are dead."""
    rows = conn.execute(
        f"SELECT {PROCESS_COLUMNS} FROM processes WHERE last_heartbeat < ? "
        "AND id NOT IN (SELECT process_id FROM flow_runs WHERE process_id IS NOT NULL) "
        "AND id NOT IN (SELECT process_id FROM task_runs WHERE process_id IS NOT NULL)",
        (before,),
    ).fetchall()
    now = time.time()
    dead = [
        (process.id,)
        for process in map(process_record, rows)
        if process.exited is not None or death_reason(process, now, crash_after) is not None
    ]
    conn.executemany("DELETE FROM processes WHERE id = ?", dead)
    return len(dead)
