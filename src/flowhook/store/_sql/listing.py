"""The SQL of the listing queries: filters, keyset paging, state counts, outbox filters.

Each function returns a statement (``?`` marks) and its parameters. Every query of runs here
goes through an index on ``created`` (``flow_runs_created``, and the partial index
``task_runs_top_level`` for task runs outside any flow): none reads the task runs of flows.
"""

from __future__ import annotations

from typing import Any

from .._records import RunQuery, StateCount

__all__ = ["listing_sql", "outbox_filter", "state_counts_sql", "summed_counts"]

_TABLE_OWNER = {"flow_runs": "flow_name", "task_runs": "task_name"}


def _where(clauses: list[str]) -> str:
    return f"WHERE {' AND '.join(clauses)}" if clauses else ""


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
    if query.since is not None:
        clauses.append("created >= ?")
        parameters.append(query.since)
    if query.until is not None:
        clauses.append("created < ?")
        parameters.append(query.until)
    if query.before is not None:
        # ``created <= x`` first, so that the index on created bounds the scan; the id breaks
        # ties between runs created in the same instant.
        created, run_id = query.before
        clauses.append("created <= ? AND (created < ? OR id < ?)")
        parameters += [created, created, run_id]
    sql = f"SELECT {columns} FROM {table} {_where(clauses)} ORDER BY created DESC, id DESC LIMIT ?"
    return sql, [*parameters, query.limit]


def state_counts_sql(
    table: str, since: float, until: float, buckets: int, flow_name: str | None, floor: str
) -> tuple[str, list[Any]]:
    """How many top-level runs of ``table`` were created in each of ``buckets`` equal slices
    of [since, until), by state type: rows of (slice, state type, count). ``floor`` rounds a
    non-negative number down, with ``{}`` for it (SQLite has no ``floor`` of its own)."""
    clauses, parameters = _top_level(table, flow_name)
    slice_of = floor.format("(created - ?) / ?")
    sql = (
        f"SELECT {slice_of} AS slice, state_type, count(*) FROM {table} "
        f"{_where([*clauses, 'created >= ?', 'created < ?'])} GROUP BY slice, state_type"
    )
    return sql, [since, (until - since) / buckets, *parameters, since, until]


def summed_counts(rows: list[tuple[Any, ...]], buckets: int) -> list[StateCount]:
    """The rows of the two tables' counts as one list, by slice then state type."""
    totals: dict[tuple[int, str], int] = {}
    for raw_slice, state_type, count in rows:
        key = (min(int(raw_slice), buckets - 1), str(state_type))
        totals[key] = totals.get(key, 0) + int(count)
    return [
        StateCount(bucket=bucket, state_type=state_type, count=count)
        for (bucket, state_type), count in sorted(totals.items())
    ]


def outbox_filter(status: str | None, flow_run_id: str | None) -> tuple[str, list[Any]]:
    """The WHERE clause of the outbox messages of ``status`` and of one flow run (its own and
    its task runs'), and its parameters."""
    clauses: list[str] = []
    parameters: list[Any] = []
    if status is not None:
        clauses.append("status = ?")
        parameters.append(status)
    if flow_run_id is not None:
        clauses.append("(run_id = ? OR run_id IN (SELECT id FROM task_runs WHERE flow_run_id = ?))")
        parameters += [flow_run_id, flow_run_id]
    return _where(clauses), parameters
