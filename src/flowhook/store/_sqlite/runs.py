"""Runs and their events: recording batches, reading the history, and pruning it."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from typing import Any

import attrs

from .._processes import death_reason
from .._records import (
    Beat,
    EventRecord,
    HookError,
    HookErrorRecord,
    NewRun,
    OutboxEntry,
    ProcessExit,
    PruneReport,
    RunKindName,
    RunQuery,
    RunRecord,
    Transition,
    Write,
)
from .connection import SQLiteBase
from .outbox import INSERT_OUTBOX, delete_sent_outbox, outbox_row
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
    TASK_ROW_STATES,
    compact_json,
    escape_surrogates,
    event_records,
    event_row,
    flow_record,
    hook_error_record,
    new_run_row,
    process_record,
    state_columns,
    task_record,
)

__all__ = ["SQLiteRuns"]

_UPDATE_RUN = (
    "UPDATE {table} SET state_type = ?, state_name = ?, state_message = ?, run_count = ?, "
    "start_time = ?, end_time = ? WHERE id = ?"
)
_TABLES: dict[RunKindName, str] = {"flow": "flow_runs", "task": "task_runs"}
_INSERT_HOOK_ERROR = (
    "INSERT INTO hook_errors (run_id, run_kind, history_id, timestamp, description, traceback) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_COUNT_EVENTS = "count(*) + coalesce(sum(json_array_length(earlier)), 0)"
_COUNT_RUN_ROW_STATES = "coalesce(sum(json_array_length(states)), 0)"


class SQLiteRuns(SQLiteBase):
    """The store's runs: recording, reading and pruning."""

    # -- recording ----------------------------------------------------------------------------

    def write(self, batch: Iterable[Write]) -> None:
        """Apply a batch of writes in one transaction, in order.

        A run created in this batch is inserted with the last state it reached in the batch, and
        a task run created in it keeps the batch's states in its own row: a short task run costs
        one insert. Other runs get one event row each for their states of the batch.
        """
        # Keyed by id() of the run's UUID object: the engine uses one object per run, and a
        # UUID's own hash is computed in Python. A miss is only slower, never wrong.
        fresh: dict[RunKindName, dict[int, list[Any]]] = {"flow": {}, "task": {}}
        updates: dict[RunKindName, dict[int, tuple[Any, ...]]] = {"flow": {}, "task": {}}
        #: Per run, in the order runs first appear: (kind, run id, history id, its states).
        run_events: dict[int, tuple[RunKindName, str, str, list[tuple[Any, ...]]]] = {}
        #: Per run, its last transition in the batch: the run row's new current state.
        last: dict[int, Transition] = {}
        hook_errors: list[tuple[Any, ...]] = []
        outbox: list[tuple[Any, ...]] = []
        beat: Beat | None = None
        exited: ProcessExit | None = None
        ids: dict[int, str] = {}
        for item in batch:
            if isinstance(item, Transition):
                kind, uuid, history_uuid, state, _, _, _, tb = item
                key = id(uuid)
                packed = run_events.get(key)
                if packed is None:
                    run_id = ids.get(key)
                    if run_id is None:
                        run_id = ids[key] = str(uuid)
                    history_id = ids.get(id(history_uuid))
                    if history_id is None:
                        history_id = ids[id(history_uuid)] = str(history_uuid)
                    packed = run_events[key] = (kind, run_id, history_id, [])
                packed[3].append(state_columns(state, tb))
                last[key] = item
            elif isinstance(item, NewRun):
                row = new_run_row(item)
                ids[id(item.id)] = row[0]
                if item.flow_run_id is not None:  # the same flow run id for all its tasks
                    flow_run_id = ids.get(id(item.flow_run_id))
                    if flow_run_id is None:
                        flow_run_id = ids[id(item.flow_run_id)] = str(item.flow_run_id)
                    row[6] = flow_run_id
                fresh[item.kind][id(item.id)] = row
            elif isinstance(item, HookError):
                hook_errors.append(
                    (
                        str(item.run_id),
                        item.kind,
                        str(item.history_id),
                        item.timestamp,
                        item.description,
                        item.traceback,
                    )
                )
            elif isinstance(item, OutboxEntry):
                outbox.append(outbox_row(item))
            elif isinstance(item, Beat):
                beat = item
            else:
                exited = item

        for key, (kind, _, _, state, run_count, start, end, _) in last.items():
            columns = (
                state.type,
                state.name,
                state.message,
                run_count,
                None if start is None else start.timestamp(),
                None if end is None else end.timestamp(),
            )
            fresh_row = fresh[kind].get(key)
            if fresh_row is not None:
                fresh_row[-6:] = columns
            else:
                updates[kind][key] = (*columns, run_events[key][1])
        events = []
        for key, packed in run_events.items():
            fresh_task = fresh["task"].get(key)
            if fresh_task is not None:  # its states go in its own row
                fresh_task[TASK_ROW_STATES] = compact_json(packed[3])
            else:
                events.append(event_row(*packed))

        rows: dict[str, Any] = {
            INSERT_FLOW_RUN: list(fresh["flow"].values()),
            INSERT_TASK_RUN: list(fresh["task"].values()),
            **{
                _UPDATE_RUN.format(table=table): list(updates[kind].values())
                for kind, table in _TABLES.items()
            },
            INSERT_EVENT: events,
            _INSERT_HOOK_ERROR: hook_errors,
            INSERT_OUTBOX: outbox,
        }

        def apply(conn: sqlite3.Connection) -> None:
            for statement, values in rows.items():
                if values:
                    conn.executemany(statement, values)
            if beat is not None:
                beat_in(conn, beat.process_id, beat.at, self._registered)
            if exited is not None:
                exit_in(conn, exited.process_id, exited.at)

        try:
            self._write(apply)
        except UnicodeEncodeError:
            # A lone surrogate (a filename from os.listdir that is not UTF-8, say): SQLite takes
            # only UTF-8. Such text is stored with backslash escapes (\udcff) and the batch again.
            for statement, values in rows.items():
                rows[statement] = [escape_surrogates(row) for row in values]
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
        clauses: list[str] = []
        parameters: list[Any] = []
        if query.flow_name is not None:
            clauses.append("{owner} = ?")
            parameters.append(query.flow_name)
        if query.state is not None:
            clauses.append("(upper(state_type) = ? OR upper(state_name) = ?)")
            parameters += [query.state.upper()] * 2
        if query.since is not None:
            clauses.append("created >= ?")
            parameters.append(query.since)
        where = " AND ".join(clauses)
        flow_where = f" WHERE {where.format(owner='flow_name')}" if where else ""
        task_where = " AND ".join(
            ["flow_run_id IS NULL", where.format(owner="task_name")]
            if where
            else ["flow_run_id IS NULL"]
        )

        def read(conn: sqlite3.Connection) -> list[RunRecord]:
            flows = conn.execute(
                f"SELECT {FLOW_COLUMNS} FROM flow_runs{flow_where} ORDER BY created DESC LIMIT ?",
                [*parameters, query.limit],
            ).fetchall()
            tasks = conn.execute(
                f"SELECT {TASK_COLUMNS} FROM task_runs WHERE {task_where} "
                "ORDER BY created DESC LIMIT ?",
                [*parameters, query.limit],
            ).fetchall()
            found = [flow_record(row) for row in flows] + [task_record(row) for row in tasks]
            found.sort(key=lambda record: record.created, reverse=True)
            return found[: query.limit]

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
        """Delete finished runs that ended before ``before``, with their events and hook errors,
        the outbox messages sent before it, and the rows of processes that are dead (see
        :func:`~flowhook.store.death_reason`; ``crash_after_seconds`` is its limit for processes
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
            tasks = conn.execute(f"DELETE {pruned_tasks}").rowcount
            flows = conn.execute(
                "DELETE FROM flow_runs WHERE id IN (SELECT id FROM temp.pruned)"
            ).rowcount
            processes = _prune_processes(conn, before, crash_after_seconds)
            conn.execute("DELETE FROM temp.pruned")
            report = PruneReport(
                flow_runs=flows, task_runs=tasks, events=events, processes=processes
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
