"""A task run that entered just Pending, Running and Completed keeps their names alone in its row.

Schema version 10: its ``states`` are ``["Pending","Running","Completed"]`` and their times are
its row's ``created``, ``start_time`` and ``end_time``. It reads back exactly as the full JSON
form of the same states does, on both stores and by every way the writes reach the store; any
other run keeps the full form.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from pathlib import Path

import pytest
from store_helpers import SHIPPED, as_shipped, doubling, execute

from flowhook import states
from flowhook.store import (
    SCHEMA_VERSION,
    NewRun,
    RunQuery,
    Store,
    StoreError,
    Transition,
    Write,
    open_store,
)
from flowhook.store._sql.records import PLAIN_STATES

NAMES = ["Pending", "Running", "Completed"]


def a_task_run(
    *, created_at_pending: bool = True, message: str | None = None
) -> tuple[uuid.UUID, uuid.UUID, list[states.State], list[Write]]:
    """The writes of a flow run and of a task run that entered Pending, Running and Completed
    in one batch; the task run is created at its Pending state's time unless told otherwise."""
    flow_id, task_id = uuid.uuid4(), uuid.uuid4()
    pending, running = states.Pending(), states.Running()
    done = states.Completed(data=42, message=message)
    created = pending.timestamp.timestamp() if created_at_pending else time.time() + 1
    writes: list[Write] = [
        NewRun("flow", flow_id, "f", "f", None, time.time(), None),
        NewRun("task", task_id, "t", "t", None, created, None, flow_id),
        Transition("task", task_id, flow_id, pending, 0, None, None),
        Transition("task", task_id, flow_id, running, 1, running.timestamp, None),
        Transition("task", task_id, flow_id, done, 1, running.timestamp, done.timestamp),
    ]
    return flow_id, task_id, [pending, running, done], writes


def stored_states(store: Store, task_id: uuid.UUID) -> str:
    [(text,)] = execute(store, "SELECT states FROM task_runs WHERE id = ?", str(task_id))
    return text if isinstance(text, str) else json.dumps(text, separators=(",", ":"))


@pytest.mark.parametrize("shipped", SHIPPED)
def test_the_three_plain_states_are_kept_by_name_and_read_back_with_their_times(
    store: Store, shipped: str
) -> None:
    flow_id, task_id, entered, writes = a_task_run()
    store.write(as_shipped(writes, shipped))

    assert stored_states(store, task_id) == PLAIN_STATES
    events = store.events(str(task_id), str(flow_id))
    assert [event.state["name"] for event in events] == NAMES
    assert [event.state["type"] for event in events] == ["PENDING", "RUNNING", "COMPLETED"]
    assert [event.state["timestamp"] for event in events] == [
        state.timestamp.isoformat() for state in entered
    ]
    assert {event.seq for event in events} == {0}
    assert store.count_events() == 3  # type: ignore[attr-defined]
    [(length,)] = execute(
        store, "SELECT json_array_length(states) FROM task_runs WHERE id = ?", str(task_id)
    )
    assert length == 3


def test_the_short_form_reads_back_exactly_as_the_full_form(store: Store) -> None:
    """The same run's states, read from its row in either form, are the same events."""
    flow_id, task_id, _, writes = a_task_run()
    store.write(writes)
    short = store.run_events([str(task_id)], str(flow_id))
    [(created, start, end)] = execute(
        store, "SELECT created, start_time, end_time FROM task_runs WHERE id = ?", str(task_id)
    )
    full = json.dumps(
        [[kind, name, None, at, None, None, None, None] for kind, name, at in zip(
            ["PENDING", "RUNNING", "COMPLETED"], NAMES, [created, start, end], strict=True
        )],
        separators=(",", ":"),
    )  # fmt: skip
    execute(store, "UPDATE task_runs SET states = ? WHERE id = ?", full, str(task_id))
    assert store.run_events([str(task_id)], str(flow_id)) == short


@pytest.mark.parametrize("differs", ["created", "message"])
def test_any_other_task_run_keeps_its_states_in_full(store: Store, differs: str) -> None:
    """A run created at another time than its Pending state's, or whose state carries a
    message, keeps every state in full: its row's times could not give them back."""
    flow_id, task_id, entered, writes = a_task_run(
        created_at_pending=differs != "created", message="done" if differs == "message" else None
    )
    store.write(writes)
    text = stored_states(store, task_id)
    assert text != PLAIN_STATES
    assert [state[3] for state in json.loads(text)] == [
        state.timestamp.timestamp() for state in entered
    ]
    events = store.events(str(task_id), str(flow_id))
    assert [(e.state["name"], e.state["message"]) for e in events] == [
        ("Pending", None),
        ("Running", None),
        ("Completed", "done" if differs == "message" else None),
    ]


def test_a_flows_completed_task_runs_take_the_short_form(store: Store) -> None:
    """Through the engine and the writer: every task run that completed plainly is stored
    short, the failed one in full, and the flow's history reads every state of both."""
    assert doubling(3) == [0, 2, 4]
    flow_run = store.list_flow_runs(RunQuery(flow_name="doubling", limit=1))[0]
    rows = execute(
        store,
        "SELECT id, state_type, states FROM task_runs WHERE flow_run_id = ? ORDER BY created",
        flow_run.id,
    )
    assert [(row[1], row[2] == PLAIN_STATES) for row in rows] == [("FAILED", False)] + [
        ("COMPLETED", True)
    ] * 3
    by_run = store.run_events([row[0] for row in rows], flow_run.id)
    assert [[e.state["name"] for e in by_run[row[0]]] for row in rows] == [
        ["Pending", "Running", "Failed"]
    ] + [NAMES] * 3


def test_a_short_form_whose_row_lost_its_end_time_is_named_damaged(store: Store) -> None:
    flow_id, task_id, _, writes = a_task_run()
    store.write(writes)
    execute(store, "UPDATE task_runs SET end_time = NULL WHERE id = ?", str(task_id))
    with pytest.raises(StoreError, match=f"task_runs.states of {task_id} .* no end_time"):
        store.events(str(task_id), str(flow_id))


@pytest.mark.sqlite_only
def test_a_version_9_database_is_migrated_and_its_full_states_still_read(
    flowhook_home: Path,
) -> None:
    """Rows written before version 10 keep their full JSON; they read as before, next to
    runs written after the upgrade in the short form."""
    from flowhook.store._sqlite.dialect import SQLITE

    conn = sqlite3.connect(flowhook_home / "flowhook.db")
    for migration in SQLITE.migrations[:9]:
        for statement in migration:
            conn.execute(statement)
    old = [["PENDING", "Pending", None, 1.0, None, None, None, None]]
    old += [["RUNNING", "Running", None, 2.0, None, None, None, None]]
    old += [["COMPLETED", "Completed", None, 3.0, None, None, None, None]]
    conn.execute(
        "INSERT INTO task_runs (id, name, task_name, created, states, state_type, state_name, "
        "run_count, start_time, end_time) VALUES ('old', 't', 't', 1.0, ?, 'COMPLETED', "
        "'Completed', 1, 2.0, 3.0)",
        [json.dumps(old, separators=(",", ":"))],
    )
    conn.execute("PRAGMA user_version = 9")
    conn.commit()
    conn.close()

    assert doubling(1) == [0]
    store = open_store()
    try:
        assert store.schema_version() == SCHEMA_VERSION  # type: ignore[attr-defined]
        events = store.events("old", "old")
        assert [(e.state["name"], e.state["timestamp"][:19]) for e in events] == [
            ("Pending", "1970-01-01T00:00:01"),
            ("Running", "1970-01-01T00:00:02"),
            ("Completed", "1970-01-01T00:00:03"),
        ]
        flow_run = store.list_flow_runs(RunQuery(flow_name="doubling", limit=1))[0]
        _, doubled = store.task_run_page(flow_run.id)
        assert stored_states(store, uuid.UUID(doubled.id)) == PLAIN_STATES
        assert [e.state["name"] for e in store.events(doubled.id, flow_run.id)] == NAMES
    finally:
        store.close()


@pytest.mark.parametrize("column", ["task_runs.states", "state_events.earlier"])
def test_a_damaged_states_column_is_a_store_error_naming_it(store: Store, column: str) -> None:
    """Reading a run's states from a damaged column raises the store's error, which names the
    database and the column, never a bare decoding error."""
    flow_id, task_id, _, writes = a_task_run()
    store.write(writes)
    if column == "task_runs.states":
        execute(store, "UPDATE task_runs SET states = ? WHERE id = ?", '["a"', str(task_id))
        damaged = task_id
    else:
        damaged = flow_id
        execute(
            store,
            "INSERT INTO state_events (run_id, run_kind, history_id, type, name, timestamp, "
            "earlier) VALUES (?, 'flow', ?, 'RUNNING', 'Running', 1.0, '[1, 2]')",
            str(flow_id),
            str(flow_id),
        )
    with pytest.raises(StoreError, match=column.replace(".", r"\.")):
        store.events(str(damaged), str(flow_id))
