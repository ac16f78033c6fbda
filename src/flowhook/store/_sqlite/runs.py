"""Runs and their events: recording batches, reading the history, and pruning it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from .._batch import prepare_batch
from .._records import (
    EventRecord,
    HookErrorRecord,
    PruneReport,
    RunKindName,
    RunQuery,
    RunRecord,
    Write,
)
from .connection import SQLiteBase
from .outbox import INSERT_OUTBOX
from .rows import (
    EVENT_SELECT,
    FLOW_COLUMNS,
    HOOK_ERROR_COLUMNS,
    INSERT_EVENT,
    INSERT_FLOW_RUN,
    INSERT_TASK_RUN,
    TASK_COLUMNS,
    event_records,
    flow_record,
    hook_error_record,
    task_record,
)

__all__ = ["SQLiteRuns"]

_UPDATE_RUN = (
    "UPDATE {table} SET state_type = ?, state_name = ?, state_message = ?, run_count = ?, "
    "start_time = ?, end_time = ? WHERE id = ?"
)
_TABLES: dict[RunKindName, str] = {"flow": "flow_runs", "task": "task_runs"}
_COUNT_EVENTS = "count(*) + coalesce(sum(json_array_length(earlier)), 0)"
_COUNT_RUN_ROW_STATES = "coalesce(sum(json_array_length(states)), 0)"


class SQLiteRuns(SQLiteBase):
    """The store's runs: recording, reading and pruning."""

    # -- recording ----------------------------------------------------------------------------

    def write(self, batch: Iterable[Write]) -> None:
        """Apply a batch of writes in one transaction, in order (rows as :func:`prepare_batch`
        sorts them)."""
        prepared = prepare_batch(batch)
        fresh, updates, events = prepared.fresh, prepared.updates, prepared.events
        hook_errors, outbox, beat = prepared.hook_errors, prepared.outbox, prepared.beat

        def apply(conn: sqlite3.Connection) -> None:
            if fresh["flow"]:
                conn.executemany(INSERT_FLOW_RUN, fresh["flow"])
            if fresh["task"]:
                conn.executemany(INSERT_TASK_RUN, fresh["task"])
            for kind, table in _TABLES.items():
                if updates[kind]:
                    conn.executemany(_UPDATE_RUN.format(table=table), updates[kind])
            if events:
                conn.executemany(INSERT_EVENT, events)
            if hook_errors:
                conn.executemany(
                    "INSERT INTO hook_errors (run_id, run_kind, history_id, timestamp, "
                    "description, traceback) VALUES (?, ?, ?, ?, ?, ?)",
                    hook_errors,
                )
            if outbox:
                conn.executemany(INSERT_OUTBOX, outbox)
            if beat is not None:
                conn.execute(
                    "UPDATE processes SET last_heartbeat = max(last_heartbeat, ?) WHERE id = ?",
                    (beat.at, beat.process_id),
                )

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
        clauses: list[str] = []
        parameters: list[Any] = []
        if query.flow_name is not None:
            clauses.append("flow_name = ?")
            parameters.append(query.flow_name)
        if query.state is not None:
            clauses.append("(upper(state_type) = ? OR upper(state_name) = ?)")
            parameters += [query.state.upper()] * 2
        if query.since is not None:
            clauses.append("created >= ?")
            parameters.append(query.since)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        return self._records(
            flow_record,
            f"SELECT {FLOW_COLUMNS} FROM flow_runs{where} ORDER BY created DESC LIMIT ?",
            [*parameters, query.limit],
        )

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

    def count_events(self) -> int:
        """How many states are recorded (a row holds one state and its ``earlier`` ones)."""
        [(count,)] = self._read(
            f"SELECT (SELECT {_COUNT_EVENTS} FROM state_events) + "
            f"(SELECT {_COUNT_RUN_ROW_STATES} FROM task_runs)"
        )
        return int(count)

    # -- pruning ------------------------------------------------------------------------------

    def prune(self, before: float) -> PruneReport:
        """Delete finished runs that ended before ``before``, with their events and hook errors.

        Runs that are not final are never deleted, however old.
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
            tasks = conn.execute(f"DELETE {pruned_tasks}").rowcount
            flows = conn.execute(
                "DELETE FROM flow_runs WHERE id IN (SELECT id FROM temp.pruned)"
            ).rowcount
            processes = conn.execute(
                "DELETE FROM processes WHERE last_heartbeat < ? "
                "AND id NOT IN (SELECT process_id FROM flow_runs WHERE process_id IS NOT NULL) "
                "AND id NOT IN (SELECT process_id FROM task_runs WHERE process_id IS NOT NULL)",
                (before,),
            ).rowcount
            conn.execute("DELETE FROM temp.pruned")
            return PruneReport(flow_runs=flows, task_runs=tasks, events=events, processes=processes)

        return self._write(delete)
