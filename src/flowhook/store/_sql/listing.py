"""The SQL of the listings (each function gives a statement and its parameters), and the reads
of a run page a page at a time (:class:`TaskRunPages`).

Every query of runs here goes through an index on ``created`` (``flow_runs_created``, and the
partial index ``task_runs_top_level`` for task runs outside any flow): none reads the task runs
of flows. A flow run's task runs (it may have a million) are paged and counted through
``task_runs_flow_run`` or the partial index ``task_runs_flow_state``, never read all; the run
page's other lists are capped alike (:func:`capped_sql`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._records import RunQuery, RunRecord
from . import SQLStore
from .records import (
    EVENT_SELECT,
    FLOW_COLUMNS,
    HOOK_ERROR_COLUMNS,
    IN_RUN_COLUMNS,
    TASK_COLUMNS,
    event_records,
    flow_record,
    hook_error_record,
    states_in_run,
    states_of_event,
    task_record,
)

if TYPE_CHECKING:
    from .._details import EventRecord, HookErrorRecord
    from .dialect import Dialect

__all__ = [
    "HOOK_ERRORS_OF_HISTORY",
    "HOOK_ERRORS_OF_RUN",
    "SUBFLOW_RUNS",
    "TaskRunPages",
    "capped_sql",
    "listing_sql",
    "outbox_filter",
    "state_counts_sql",
    "task_page_sql",
    "task_state_counts_sql",
]

#: The state most task runs end in: the index ``task_runs_flow_state`` leaves them out, so that
#: writing a task run that ends Completed (most of them, inserted in their final state) costs
#: no entry in it.
_USUAL = "COMPLETED"
#: How many task runs of one flow run are in each state type but Completed (in the partial
#: index ``task_runs_flow_state``); Completed is the rest of their total (see
#: :func:`task_state_counts_sql`). Parameter: the flow run's id.
_STATE_COUNTS = (
    "SELECT state_type, count(*) FROM task_runs "
    f"WHERE flow_run_id = ? AND state_type <> '{_USUAL}' GROUP BY state_type"
)
#: A place in a flow run's task runs, in their order: a task run's ``(created, id)``.
TaskCursor = tuple[float, str]

_TABLE_OWNER = {"flow_runs": "flow_name", "task_runs": "task_name"}


def task_state_counts_sql(dialect: Dialect) -> str:
    """How many task runs one flow run has (``NULL`` as the state type: all of them, as the
    dialect counts them, SQLite's in the index ``task_runs_flow_run``), and how many in each
    state type but Completed. Parameters: the flow run's id, twice."""
    return f"{dialect.task_run_total} UNION ALL {_STATE_COUNTS}"


def _where(clauses: list[str]) -> str:
    return f"WHERE {' AND '.join(clauses)}" if clauses else ""


def _past(cursor: TaskCursor, sign: str) -> tuple[str, list[Any]]:
    """The clause that keeps the rows past ``cursor`` (a ``(created, id)``) on the side of
    ``sign``: ``created`` alone first, so that the index bounds the scan; the id breaks ties."""
    return f"created {sign}= ? AND (created {sign} ? OR id {sign} ?)", [cursor[0], *cursor]


def _top_level(table: str, flow_name: str | None) -> tuple[list[str], list[Any]]:
    """The clauses that keep the top-level runs of ``table`` (flow runs, or task runs outside
    any flow) named ``flow_name`` (a task run's task name), and their parameters."""
    clauses = ["flow_run_id IS NULL"] if table == "task_runs" else []
    if flow_name is None:
        return clauses, []
    return [*clauses, f"{_TABLE_OWNER[table]} = ?"], [flow_name]


def listing_sql(query: RunQuery, table: str, columns: str) -> tuple[str, list[Any]]:
    """The newest ``query.limit`` top-level rows of ``table`` that match ``query``, newest
    first (by creation time, then id)."""
    clauses, parameters = _top_level(table, query.flow_name)
    if query.state is not None:
        clauses.append("(upper(state_type) = ? OR upper(state_name) = ?)")
        parameters += [query.state.upper()] * 2
    filters = [("created >= ?", [query.since]), ("created < ?", [query.until])]
    if query.before is not None:
        filters.append(_past(query.before, "<"))
    for clause, values in filters:
        if values[0] is not None:
            clauses.append(clause)
            parameters += values
    sql = f"SELECT {columns} FROM {table} {_where(clauses)} ORDER BY created DESC, id DESC LIMIT ?"
    return sql, [*parameters, query.limit]


def state_counts_sql(
    table: str, since: float, until: float, buckets: int, flow_name: str | None, floor: str
) -> tuple[str, list[Any]]:
    """How many top-level runs of ``table`` were created in each of ``buckets`` equal slices
    of [since, until), by state type: rows of (slice, state type, count) (``floor``: the
    dialect's)."""
    clauses, parameters = _top_level(table, flow_name)
    slice_of = floor.format("(created - ?) / ?")
    sql = (
        f"SELECT {slice_of} AS slice, state_type, count(*) FROM {table} "
        f"{_where([*clauses, 'created >= ?', 'created < ?'])} GROUP BY slice, state_type"
    )
    return sql, [since, (until - since) / buckets, *parameters, since, until]


def outbox_filter(status: str | None, flow_run_id: str | None) -> tuple[str, list[Any]]:
    """The WHERE clause of the outbox messages of ``status`` and of one flow run (its own and
    its task runs'), and its parameters."""
    # Each message names its flow run (schema 9): read through its index.
    given = {"status": status, "flow_run_id": flow_run_id}
    named = {column: value for column, value in given.items() if value is not None}
    return _where([f"{column} = ?" for column in named]), list(named.values())


def capped_sql(table: str, columns: str, column: str, order: str) -> tuple[str, str]:
    """A capped read of one run's rows: the first of ``table`` whose ``column`` is a given
    value, in ``order`` (parameters: the value, the limit), and how many there are (the
    value). ``column`` starts an index, and ``order`` follows it: neither reads other rows."""
    where = f"FROM {table} WHERE {column} = ?"
    return f"SELECT {columns} {where} ORDER BY {order} LIMIT ?", f"SELECT count(*) {where}"


#: The newest hook errors of a flow run and its task runs (or of a task run outside any flow),
#: by the index ``hook_errors_history``; of one run, by ``hook_errors_run``.
HOOK_ERRORS_OF_HISTORY = capped_sql("hook_errors", HOOK_ERROR_COLUMNS, "history_id", "seq DESC")
HOOK_ERRORS_OF_RUN = capped_sql("hook_errors", HOOK_ERROR_COLUMNS, "run_id", "seq DESC")
#: The first subflow runs of a flow run, by the index ``flow_runs_parent_created``.
SUBFLOW_RUNS = capped_sql("flow_runs", FLOW_COLUMNS, "parent_flow_run_id", "created, id")


def task_page_sql(
    flow_run_id: str,
    state_type: str | None,
    after: TaskCursor | None,
    before: TaskCursor | None,
    limit: int,
) -> tuple[str, list[Any]]:
    """The first ``limit`` task runs of ``flow_run_id`` (of one state type, if given) in the
    order of their creation (then id), after ``after``; or, with ``before``, the last
    ``limit`` before it, newest first."""
    clauses: list[str] = ["flow_run_id = ?"]
    parameters: list[Any] = [flow_run_id]
    if state_type is not None:
        # Spelled out, so that the database sees that the partial index holds these rows.
        usual = "" if state_type == _USUAL else f" AND state_type <> '{_USUAL}'"
        clauses.append(f"state_type = ?{usual}")
        parameters.append(state_type)
    for cursor, sign in ((after, ">"), (before, "<")):
        if cursor is not None:
            clause, values = _past(cursor, sign)
            clauses.append(clause)
            parameters += values
    order = "created, id" if before is None else "created DESC, id DESC"
    sql = f"SELECT {TASK_COLUMNS} FROM task_runs {_where(clauses)} ORDER BY {order} LIMIT ?"
    return sql, [*parameters, limit]


class TaskRunPages(SQLStore):
    """The store's reads of a run page: a flow run's task runs (counts, a page, their states),
    its hook errors and subflow runs."""

    def run_hook_errors(
        self, run_id: str, *, with_task_runs: bool, limit: int
    ) -> tuple[list[HookErrorRecord], int]:
        statements = HOOK_ERRORS_OF_HISTORY if with_task_runs else HOOK_ERRORS_OF_RUN
        return self._capped(hook_error_record, statements, run_id, limit)

    def subflow_run_page(self, flow_run_id: str, limit: int) -> tuple[list[RunRecord], int]:
        return self._capped(flow_record, SUBFLOW_RUNS, flow_run_id, limit)

    def task_state_counts(self, flow_run_id: str) -> dict[str, int]:
        """How many task runs of ``flow_run_id`` are in each state type (counted in indexes or
        kept by the database, never in the rows; a state type without any may be left out)."""
        statement = task_state_counts_sql(self.dialect)
        rows = self._read(statement, (flow_run_id, flow_run_id))
        counts = {str(state): int(count) for state, count in rows if state is not None}
        total = sum(int(count) for state, count in rows if state is None)
        counts[_USUAL] = total - sum(counts.values())
        return counts

    def task_run_page(
        self,
        flow_run_id: str,
        *,
        state_types: Sequence[str] = (),
        after: TaskCursor | None = None,
        before: TaskCursor | None = None,
        limit: int = 100,
    ) -> list[RunRecord]:
        """Up to ``limit`` task runs of ``flow_run_id`` in the order they were created (then
        by id): the first ones, those right after the cursor ``after`` or right before
        ``before`` (a task run's ``(created, id)``); only those of ``state_types`` if any
        (one indexed query per state type, merged)."""
        found = self._snapshot(
            *(
                (task_record, *task_page_sql(flow_run_id, state, after, before, limit))
                for state in (state_types or (None,))
            )
        )
        runs = sorted((run for page in found for run in page), key=lambda r: (r.created, r.id))
        return runs[-limit:] if before is not None else runs[:limit]

    def run_events(self, run_ids: Sequence[str], history_id: str) -> dict[str, list[EventRecord]]:
        """The states each of ``run_ids`` entered, in order, by run id; ``history_id`` is their
        flow run's id (its own id for a flow run, or a task run outside any flow). Reads the rows
        of these runs and the event rows of the history, never the other task runs' rows."""
        if not run_ids:
            return {}
        ids = list(run_ids)
        marks = ", ".join("?" * len(ids))
        in_run, rows = self._snapshot(
            (
                states_in_run,
                f"SELECT {IN_RUN_COLUMNS} FROM task_runs WHERE id IN ({marks}) "
                "AND states IS NOT NULL",
                ids,
            ),
            (
                states_of_event,
                f"SELECT {EVENT_SELECT} FROM state_events WHERE history_id = ? "
                f"AND run_id IN ({marks}) ORDER BY seq",
                [history_id, *ids],
            ),
        )
        by_run: dict[str, list[EventRecord]] = {run_id: [] for run_id in ids}
        for event in event_records(in_run, rows):
            by_run[event.run_id].append(event)
        return by_run

    def events(self, run_id: str, history_id: str) -> list[EventRecord]:
        """The states ``run_id`` entered, in order; ``history_id`` is its flow run's id (its own
        id for a flow run, or a task run outside any flow)."""
        return self.run_events([run_id], history_id)[run_id]
