"""The SQL of the listing queries, shared by both stores: filters, keyset paging, state counts.

Each function takes the backend's placeholder (``?`` for SQLite, ``%s`` for PostgreSQL) and
returns the text and its parameters, so that the two stores read the same rows. Every query
here goes through an index on ``created`` (``flow_runs_created``, and the partial index
``task_runs_top_level`` for task runs outside any flow): none reads the task runs of flows.
"""

from __future__ import annotations

from typing import Any

from .._records import RunQuery, RunRecord, StateCount

__all__ = ["listing_sql", "merged", "outbox_filter", "state_counts_sql", "summed_counts"]

_TABLE_OWNER = {"flow_runs": "flow_name", "task_runs": "task_name"}


def _clauses(query: RunQuery, table: str, mark: str) -> tuple[list[str], list[Any]]:
    clauses = ["flow_run_id IS NULL"] if table == "task_runs" else []
    parameters: list[Any] = []
    if query.flow_name is not None:
        clauses.append(f"{_TABLE_OWNER[table]} = {mark}")
        parameters.append(query.flow_name)
    if query.state is not None:
        clauses.append(f"(upper(state_type) = {mark} OR upper(state_name) = {mark})")
        parameters += [query.state.upper()] * 2
    if query.since is not None:
        clauses.append(f"created >= {mark}")
        parameters.append(query.since)
    if query.until is not None:
        clauses.append(f"created < {mark}")
        parameters.append(query.until)
    if query.before is not None:
        # ``created <= x`` first, so that the index on created bounds the scan; the id breaks
        # ties between runs created in the same instant.
        created, run_id = query.before
        clauses.append(f"created <= {mark} AND (created < {mark} OR id < {mark})")
        parameters += [created, created, run_id]
    return clauses, parameters


def listing_sql(query: RunQuery, table: str, columns: str, mark: str) -> tuple[str, list[Any]]:
    """The newest ``query.limit`` rows of ``table`` (flow runs, or task runs outside any flow)
    that match ``query``, newest first (by creation time, then id)."""
    clauses, parameters = _clauses(query, table, mark)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    sql = f"SELECT {columns} FROM {table}{where} ORDER BY created DESC, id DESC LIMIT {mark}"
    return sql, [*parameters, query.limit]


def merged(found: list[RunRecord], limit: int) -> list[RunRecord]:
    """The flow runs and task runs of two listings, as one, newest first."""
    found.sort(key=lambda record: (record.created, record.id), reverse=True)
    return found[:limit]


def state_counts_sql(
    table: str,
    since: float,
    until: float,
    buckets: int,
    flow_name: str | None,
    mark: str,
    floor: str,
) -> tuple[str, list[Any]]:
    """How many runs of ``table`` were created in each of ``buckets`` equal slices of
    [since, until), by state type: rows of (slice, state type, count). ``floor`` rounds a
    non-negative number down, with ``{}`` for it (SQLite has no ``floor`` of its own)."""
    width = (until - since) / buckets
    clauses = [f"created >= {mark}", f"created < {mark}"]
    parameters: list[Any] = [since, width, since, until]
    if table == "task_runs":
        clauses.insert(0, "flow_run_id IS NULL")
    if flow_name is not None:
        clauses.append(f"{_TABLE_OWNER[table]} = {mark}")
        parameters.append(flow_name)
    sql = (
        f"SELECT {floor.format(f'(created - {mark}) / {mark}')} AS slice, state_type, count(*) FROM {table} "
        f"WHERE {' AND '.join(clauses)} GROUP BY slice, state_type"
    )
    return sql, parameters


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


def outbox_filter(status: str | None, flow_run_id: str | None, mark: str) -> tuple[str, list[Any]]:
    """The WHERE clause of the outbox messages of ``status`` and of one flow run (its own and
    its task runs'), and its parameters."""
    clauses: list[str] = []
    parameters: list[Any] = []
    if status is not None:
        clauses.append(f"status = {mark}")
        parameters.append(status)
    if flow_run_id is not None:
        clauses.append(
            f"(run_id = {mark} OR run_id IN (SELECT id FROM task_runs WHERE flow_run_id = {mark}))"
        )
        parameters += [flow_run_id, flow_run_id]
    return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), parameters
