"""Runs and their events: recording batches, reading the history, and pruning it."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import psycopg

from .._batch import PreparedBatch, claim_batch, mark_batch, prepare_batch
from .._errors import StoreError
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
from .._sqlite.logs import delete_logs, insert_log, read_run_logs
from .._sqlite.rows import (
    event_records,
    flow_record,
    hook_error_record,
    process_record,
    task_record,
)
from .connection import Cursor, PostgresBase
from .outbox import INSERT_OUTBOX
from .processes import beat_in, exit_in
from .rows import (
    EVENT_SELECT,
    FLOW_COLUMNS,
    HOOK_ERROR_COLUMNS,
    INSERT_EVENT,
    INSERT_FLOW_RUN,
    INSERT_HOOK_ERROR,
    INSERT_TASK_RUN,
    PROCESS_COLUMNS,
    TASK_COLUMNS,
)

__all__ = ["PostgresRuns"]

#: A compare-and-set: a late write (from a process that was taken for dead, or that lost a race
#: with a cancel) never overwrites Crashed or Cancelled; its events are still recorded.
_UPDATE_RUN = (
    "UPDATE {table} SET state_type = %s, state_name = %s, state_message = %s, run_count = %s, "
    "start_time = %s, end_time = %s WHERE id = %s AND state_type NOT IN ('CRASHED', 'CANCELLED')"
)
_TABLES: dict[RunKindName, str] = {"flow": "flow_runs", "task": "task_runs"}
_INSERT_LOG = insert_log("%s")
_DELETE_LOGS = delete_logs("SELECT id FROM pruned")
_COUNT_EVENTS = "count(*) + coalesce(sum(json_array_length(earlier::json)), 0)"
_COUNT_RUN_ROW_STATES = "coalesce(sum(json_array_length(states::json)), 0)"


class PostgresRuns(PostgresBase):
    """The store's runs: recording, reading and pruning."""

    def write(self, batch: Iterable[Write]) -> None:
        """Apply a batch of writes in one transaction, in order (rows as :func:`prepare_batch`
        sorts them)."""
        prepared = prepare_batch(batch)
        try:
            self._apply(prepared)
        except StoreError as exc:
            if not isinstance(exc.__context__, (psycopg.DataError, UnicodeEncodeError)):
                raise
            # Text PostgreSQL cannot hold (NUL, a lone surrogate): written escaped, not lost.
            self._apply(prepared.escaped(nul=True))

    def _apply(self, prepared: PreparedBatch) -> None:
        key = prepared.key

        def apply(cur: Cursor) -> None:
            claimed = True if key is None else claim_batch(cur, key, "%s")
            if claimed is None:
                return  # applied before: a replay after a lost COMMIT writes nothing twice
            if prepared.fresh["flow"]:
                cur.executemany(INSERT_FLOW_RUN, prepared.fresh["flow"])
            if prepared.fresh["task"]:
                cur.executemany(INSERT_TASK_RUN, prepared.fresh["task"])
            for kind, table in _TABLES.items():
                if prepared.updates[kind]:
                    cur.executemany(_UPDATE_RUN.format(table=table), prepared.updates[kind])
            if prepared.events:
                cur.executemany(INSERT_EVENT, prepared.events)
            if prepared.hook_errors:
                cur.executemany(INSERT_HOOK_ERROR, prepared.hook_errors)
            if prepared.outbox:
                cur.executemany(INSERT_OUTBOX, prepared.outbox)
            if prepared.logs:
                cur.executemany(_INSERT_LOG, prepared.logs)
            if prepared.beat is not None:
                beat_in(cur, prepared.beat.process_id, prepared.beat.at, self._registered)
            if prepared.exited is not None:
                exit_in(cur, prepared.exited.process_id, prepared.exited.at)
            if not claimed and key is not None:
                mark_batch(cur, key, "%s")

        self._write(apply)

    # -- reading ------------------------------------------------------------------------------

    def get_run(self, kind: RunKindName, run_id: str) -> RunRecord | None:
        if kind == "flow":
            found = self._records(
                flow_record, f"SELECT {FLOW_COLUMNS} FROM flow_runs WHERE id = %s", (run_id,)
            )
        else:
            found = self._records(
                task_record, f"SELECT {TASK_COLUMNS} FROM task_runs WHERE id = %s", (run_id,)
            )
        return found[0] if found else None

    def find_runs(self, prefix: str, limit: int = 10) -> list[RunRecord]:
        """Flow runs, then task runs, whose id starts with ``prefix`` (lower-case hex and -)."""
        bounds = (prefix, prefix + "~", limit)
        flows = self._records(
            flow_record,
            f'SELECT {FLOW_COLUMNS} FROM flow_runs WHERE id COLLATE "C" >= %s AND id COLLATE "C" < %s '
            'ORDER BY id COLLATE "C" LIMIT %s',
            bounds,
        )
        tasks = self._records(
            task_record,
            f'SELECT {TASK_COLUMNS} FROM task_runs WHERE id COLLATE "C" >= %s AND id COLLATE "C" < %s '
            'ORDER BY id COLLATE "C" LIMIT %s',
            bounds,
        )
        return flows + tasks

    def list_flow_runs(self, query: RunQuery) -> list[RunRecord]:
        """The top-level runs, newest first: flow runs, and task runs called outside any flow
        (``query.flow_name`` then matches the task's name)."""
        flows = listing_sql(query, "flow_runs", FLOW_COLUMNS, "%s")
        tasks = listing_sql(query, "task_runs", TASK_COLUMNS, "%s")

        def read(cur: Cursor) -> list[RunRecord]:
            cur.execute(*flows)
            found = [flow_record(row) for row in cur.fetchall()]
            cur.execute(*tasks)
            found += [task_record(row) for row in cur.fetchall()]
            return merged(found, query.limit)

        return self._reading(read)

    def state_counts(
        self, since: float, until: float, buckets: int, *, flow_name: str | None = None
    ) -> list[StateCount]:
        """How many top-level runs were created in each of ``buckets`` equal slices of
        [since, until), by state type."""
        queries = [
            state_counts_sql(table, since, until, buckets, flow_name, "%s", "floor({})")
            for table in ("flow_runs", "task_runs")
        ]

        def read(cur: Cursor) -> list[StateCount]:
            rows: list[tuple[Any, ...]] = []
            for query in queries:
                cur.execute(*query)
                rows += cur.fetchall()
            return summed_counts(rows, buckets)

        return self._reading(read)

    def task_runs(self, flow_run_id: str) -> list[RunRecord]:
        return self._records(
            task_record,
            f"SELECT {TASK_COLUMNS} FROM task_runs WHERE flow_run_id = %s ORDER BY created",
            (flow_run_id,),
        )

    def subflow_runs(self, flow_run_id: str) -> list[RunRecord]:
        return self._records(
            flow_record,
            f"SELECT {FLOW_COLUMNS} FROM flow_runs WHERE parent_flow_run_id = %s ORDER BY created",
            (flow_run_id,),
        )

    def events(self, run_id: str, history_id: str) -> list[EventRecord]:
        """The states ``run_id`` entered, in order; ``history_id`` is its flow run's id."""

        def read(cur: Cursor) -> list[EventRecord]:
            cur.execute(
                "SELECT id, states FROM task_runs WHERE id = %s AND states IS NOT NULL", (run_id,)
            )
            in_row = cur.fetchall()
            cur.execute(
                f"SELECT {EVENT_SELECT} FROM state_events WHERE history_id = %s AND run_id = %s "
                "ORDER BY seq",
                (history_id, run_id),
            )
            return event_records(in_row, cur.fetchall(), in_time_order=False)

        return self._reading(read)

    def history(self, history_id: str) -> list[EventRecord]:
        """The events of a flow run and of its task runs, in the order of their timestamps."""

        def read(cur: Cursor) -> list[EventRecord]:
            cur.execute(
                "SELECT id, states FROM task_runs WHERE flow_run_id = %s AND states IS NOT NULL "
                "UNION ALL SELECT id, states FROM task_runs "
                "WHERE id = %s AND flow_run_id IS NULL AND states IS NOT NULL",
                (history_id, history_id),
            )
            in_rows = cur.fetchall()
            cur.execute(
                f"SELECT {EVENT_SELECT} FROM state_events WHERE history_id = %s ORDER BY seq",
                (history_id,),
            )
            return event_records(in_rows, cur.fetchall(), in_time_order=True)

        return self._reading(read)

    def hook_errors(self, history_id: str) -> list[HookErrorRecord]:
        return self._records(
            hook_error_record,
            f"SELECT {HOOK_ERROR_COLUMNS} FROM hook_errors WHERE history_id = %s ORDER BY seq",
            (history_id,),
        )

    def run_logs(
        self, run_id: str, *, after_id: int = 0, min_level: int = 0, limit: int = 1000
    ) -> list[LogRecord]:
        """The log records of the flow run ``run_id`` and its task runs, or of the task run
        ``run_id``, in id order: those with ``id > after_id`` and ``level >= min_level``."""

        def read(cur: Cursor) -> list[LogRecord]:
            def query(sql: str, parameters: Any) -> list[tuple[Any, ...]]:
                cur.execute(sql, parameters)
                return cur.fetchall()

            return read_run_logs(query, "%s", run_id, after_id, min_level, limit)

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
        log records, the outbox messages sent before it, and the rows of processes that are dead (see
        :func:`~flowhook.store.death_reason`) and own no run. ``dry_run``: count them only.

        Runs that are not final are never deleted, however old; nor is the row of a process
        that may be alive, even without runs: its next run would be found by no reaper.
        """

        def delete(cur: Cursor) -> PruneReport:
            cur.execute("CREATE TEMP TABLE pruned (id TEXT PRIMARY KEY) ON COMMIT DROP")
            cur.execute(
                "INSERT INTO pruned SELECT id FROM flow_runs "
                "WHERE end_time IS NOT NULL AND end_time < %s",
                (before,),
            )
            cur.execute(
                "INSERT INTO pruned SELECT id FROM task_runs "
                "WHERE flow_run_id IS NULL AND end_time IS NOT NULL AND end_time < %s",
                (before,),
            )
            pruned_events = "FROM state_events WHERE history_id IN (SELECT id FROM pruned)"
            pruned_tasks = (
                "FROM task_runs WHERE flow_run_id IN (SELECT id FROM pruned) "
                "OR id IN (SELECT id FROM pruned)"
            )
            cur.execute(
                f"SELECT (SELECT {_COUNT_EVENTS} {pruned_events}) + "
                f"(SELECT {_COUNT_RUN_ROW_STATES} {pruned_tasks})"
            )
            events = int(cur.fetchone()[0])  # type: ignore[index]
            cur.execute(f"DELETE {pruned_events}")
            cur.execute("DELETE FROM hook_errors WHERE history_id IN (SELECT id FROM pruned)")
            logs = 0
            for statement in _DELETE_LOGS:
                cur.execute(statement)
                logs += cur.rowcount
            cur.execute(f"DELETE {pruned_tasks}")
            tasks = cur.rowcount
            cur.execute("DELETE FROM flow_runs WHERE id IN (SELECT id FROM pruned)")
            flows = cur.rowcount
            processes = _prune_processes(cur, before, crash_after_seconds)
            cur.execute(
                "DELETE FROM notification_outbox WHERE status = 'sent' AND delivered < %s",
                (before,),
            )
            return PruneReport(
                flow_runs=flows,
                task_runs=tasks,
                events=events,
                processes=processes,
                sent_messages=cur.rowcount,
                logs=logs,
            )

        return self._rehearsed(delete) if dry_run else self._write(delete)


def _prune_processes(cur: Cursor, before: float, crash_after: float) -> int:
    """Delete the rows of processes silent since ``before`` that own no run and are dead."""
    cur.execute(
        f"SELECT {PROCESS_COLUMNS} FROM processes WHERE last_heartbeat < %s "
        "AND id NOT IN (SELECT process_id FROM flow_runs WHERE process_id IS NOT NULL) "
        "AND id NOT IN (SELECT process_id FROM task_runs WHERE process_id IS NOT NULL)",
        (before,),
    )
    now = time.time()
    dead = [
        process.id
        for process in map(process_record, cur.fetchall())
        if process.exited is not None or death_reason(process, now, crash_after) is not None
    ]
    if dead:
        cur.execute("DELETE FROM processes WHERE id = ANY(%s)", (dead,))
    return len(dead)
