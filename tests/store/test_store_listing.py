"""The listing queries of the web UI, on both stores: filters, keyset paging, counts by state
over time, a flow run's notifications; and, on SQLite, that they read through indexes."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from store_helpers import execute

from flowhook import states
from flowhook.store import (
    NewRun,
    OutboxEntry,
    RunQuery,
    SQLiteStore,
    StateCount,
    Store,
    Transition,
)

T0 = 1_700_000_000.0


def finished(
    kind: Any,
    name: str,
    owner: str,
    created: float,
    state: Any,
    *,
    flow_run_id: uuid.UUID | None = None,
    run_id: uuid.UUID | None = None,
) -> tuple[uuid.UUID, list[Any]]:
    """The writes of a run created at ``created`` that ended in ``state``."""
    run_id = run_id or uuid.uuid4()
    history = flow_run_id or run_id
    return run_id, [
        NewRun(kind, run_id, name, owner, None, created, None, flow_run_id),
        Transition(kind, run_id, history, state, 1, None, None),
    ]


def record(store: Store, *runs: tuple[Any, str, str, float, Any]) -> list[str]:
    writes: list[Any] = []
    ids = []
    for kind, name, owner, created, state in runs:
        run_id, more = finished(kind, name, owner, created, state)
        ids.append(str(run_id))
        writes += more
    store.write(writes)
    return ids


def names(runs: list[Any]) -> list[str]:
    return [run.name for run in runs]


def test_filters_by_flow_state_and_time_range(store: Store) -> None:
    record(
        store,
        ("flow", "a1", "alpha", T0 + 1, states.Completed()),
        ("flow", "b1", "beta", T0 + 2, states.Failed()),
        ("flow", "a2", "alpha", T0 + 3, states.Failed()),
        ("task", "t1", "solo", T0 + 4, states.Completed()),
        ("flow", "a3", "alpha", T0 + 5, states.Completed()),
    )
    assert names(store.list_flow_runs(RunQuery())) == ["a3", "t1", "a2", "b1", "a1"]
    assert names(store.list_flow_runs(RunQuery(flow_name="alpha"))) == ["a3", "a2", "a1"]
    assert names(store.list_flow_runs(RunQuery(state="failed"))) == ["a2", "b1"]
    window = RunQuery(since=T0 + 2, until=T0 + 5)
    assert names(store.list_flow_runs(window)) == ["t1", "a2", "b1"]
    assert names(store.list_flow_runs(RunQuery(flow_name="solo", until=T0 + 4.5))) == ["t1"]


def test_keyset_pages_list_every_run_once_even_when_created_at_the_same_time(
    store: Store,
) -> None:
    created = [T0 + i // 3 for i in range(20)]  # three runs in each instant
    record(
        store,
        *(
            ("task" if i % 4 == 0 else "flow", f"r{i}", "f", at, states.Completed())
            for i, at in enumerate(created)
        ),
    )
    everything = store.list_flow_runs(RunQuery(limit=100))
    pages: list[list[str]] = []
    before = None
    while True:
        page = store.list_flow_runs(RunQuery(limit=6, before=before))
        if not page:
            break
        pages.append(names(page))
        before = (page[-1].created, page[-1].id)
    assert [len(page) for page in pages] == [6, 6, 6, 2]
    assert [name for page in pages for name in page] == names(everything)
    assert sorted(names(everything)) == sorted(f"r{i}" for i in range(20))


def test_state_counts_by_time_slice(store: Store) -> None:
    record(
        store,
        ("flow", "a", "alpha", T0 + 5, states.Completed()),
        ("flow", "b", "alpha", T0 + 15, states.Completed()),
        ("flow", "c", "beta", T0 + 18, states.Failed()),
        ("task", "d", "solo", T0 + 19, states.Failed()),
        ("flow", "e", "alpha", T0 + 39.99, states.Completed()),
        ("flow", "late", "alpha", T0 + 40, states.Completed()),  # outside [since, until)
        ("flow", "early", "alpha", T0 - 1, states.Completed()),
    )
    assert store.state_counts(T0, T0 + 40, 4) == [
        StateCount(0, "COMPLETED", 1),
        StateCount(1, "COMPLETED", 1),
        StateCount(1, "FAILED", 2),
        StateCount(3, "COMPLETED", 1),
    ]
    assert store.state_counts(T0, T0 + 40, 2, flow_name="beta") == [StateCount(0, "FAILED", 1)]
    assert store.state_counts(T0 + 100, T0 + 200, 10) == []


def test_the_outbox_of_one_flow_run_holds_its_own_and_its_task_runs_messages(
    store: Store,
) -> None:
    flow_id, flow_writes = finished("flow", "main", "f", T0, states.Failed())
    task_id, task_writes = finished(
        "task", "step", "step", T0, states.Failed(), flow_run_id=flow_id
    )
    other_id, other_writes = finished("flow", "other", "f", T0, states.Failed())
    store.write([*flow_writes, *task_writes, *other_writes])

    def entry(kind: Any, run_id: uuid.UUID, subject: str) -> OutboxEntry:
        return OutboxEntry(
            uuid.uuid4().hex, "log", "ops", "r", kind, str(run_id), "Failed", subject, "b", T0
        )

    store.enqueue_outbox(
        [
            entry("flow", flow_id, "flow failed"),
            entry("task", task_id, "task failed"),
            entry("flow", other_id, "other failed"),
        ]
    )
    mine = store.list_outbox(flow_run_id=str(flow_id))
    assert [m.subject for m in mine] == ["task failed", "flow failed"]
    assert [m.subject for m in store.list_outbox("sent", flow_run_id=str(flow_id))] == []
    assert len(store.list_outbox()) == 3


def _plan(store: Store, sql: str, parameters: list[Any]) -> list[str]:
    assert isinstance(store, SQLiteStore)
    return [str(row[-1]) for row in execute(store, f"EXPLAIN QUERY PLAN {sql}", *parameters)]


@pytest.mark.sqlite_only
def test_the_listing_and_counting_queries_read_through_indexes(store: Store) -> None:
    """No query of the runs list scans a table: with 100,000 task runs in flows, a scan of
    task_runs would be most of the page's time."""
    from flowhook.store._sql.listing import listing_sql, state_counts_sql  # the SQL under test

    queries = [
        listing_sql(RunQuery(), "flow_runs", "id"),
        listing_sql(RunQuery(), "task_runs", "id"),
        listing_sql(
            RunQuery(flow_name="x", state="failed", since=T0, until=T0 + 9, before=(T0 + 5, "z")),
            "task_runs",
            "id",
        ),
        listing_sql(RunQuery(before=(T0, "z")), "flow_runs", "id"),
        state_counts_sql("flow_runs", T0, T0 + 60, 6, None, "CAST({} AS INTEGER)"),
        state_counts_sql("task_runs", T0, T0 + 60, 6, "x", "CAST({} AS INTEGER)"),
    ]
    from flowhook.store._sql.listing import outbox_filter

    where, parameters = outbox_filter(None, "f")
    queries.append((f"SELECT id FROM notification_outbox {where} ORDER BY id DESC", parameters))
    for sql, parameters in queries:
        plan = _plan(store, sql, parameters)
        assert any(" INDEX " in step and "USING" in step for step in plan), (sql, plan)
        assert not any(step.startswith("SCAN") and "INDEX" not in step for step in plan), plan
