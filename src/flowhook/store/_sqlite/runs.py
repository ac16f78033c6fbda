"""Runs and their events: recording batches, reading the history, and pruning it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

import attrs

from .._records import (
    Beat,
    EventRecord,
    HookError,
    HookErrorRecord,
    NewRun,
    OutboxEntry,
    PruneReport,
    RunKindName,
    RunQuery,
    RunRecord,
    Transition,
    Write,
)
from .connection import SQLiteBase
from .outbox import INSERT_OUTBOX, delete_sent_outbox, outbox_row
from .rows import (
    EVENT_SELECT,
    FLOW_COLUMNS,
    HOOK_ERROR_COLUMNS,
    INSERT_EVENT,
    INSERT_FLOW_RUN,
    INSERT_TASK_RUN,
    TASK_COLUMNS,
    TASK_ROW_STATES,
    compact_json,
    event_records,
    event_row,
    flow_record,
    hook_error_record,
    new_run_row,
    state_columns,
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
            else:
                beat = item

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

        def apply(conn: sqlite3.Connection) -> None:
            if fresh["flow"]:
                conn.executemany(INSERT_FLOW_RUN, fresh["flow"].values())
            if fresh["task"]:
                conn.executemany(INSERT_TASK_RUN, fresh["task"].values())
            for kind, table in _TABLES.items():
                if updates[kind]:
                    conn.executemany(_UPDATE_RUN.format(table=table), updates[kind].values())
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

    def prune(self, before: float, *, dry_run: bool = False) -> PruneReport:
        """Delete finished runs that ended before ``before``, with their events and hook errors,
        and the outbox messages sent before it. ``dry_run``: count them, delete nothing.

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
            report = PruneReport(
                flow_runs=flows, task_runs=tasks, events=events, processes=processes
            )
            return attrs.evolve(report, sent_messages=delete_sent_outbox(conn, before))

        return self._rehearsed(delete) if dry_run else self._write(delete)
