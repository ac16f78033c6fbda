"""Run history in a real database file: what is recorded, when it is durable, and failures."""

from __future__ import annotations

import datetime as dt
import importlib.machinery
import logging
import sqlite3
import stat
import sys
import time
import types
import uuid
from pathlib import Path

import pytest
from store_helpers import execute

import flowhook._runtime.attach
import flowhook.store
from flowhook import flow, states, task
from flowhook._runtime import attach, recorder
from flowhook.store import SCHEMA_VERSION, SQLiteStore, Store, StoreError, open_store
from flowhook.store._sql.rows import INSERT_EVENT, event_row, state_columns
from flowhook_hookspec.notify import MASK, Secret, as_secret
from flowhook_hookspec.serde import converter

SECRET = "result-value-that-must-never-be-stored-7f3a"


def database(home: Path) -> Path:
    return home / "flowhook.db"


def read(home: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    """Read with a store of our own (SQLite's or PostgreSQL's), as another process would."""
    store = open_store(create=False)
    try:
        return execute(store, sql, *params)
    finally:
        store.close()


def test_history_of_a_flow_with_tasks_retries_and_a_failure(flowhook_home: Path) -> None:
    attempts = []

    @task(retries=1, retry_delay_seconds=0)
    def flaky(n: int) -> str:
        attempts.append(n)
        if len(attempts) == 1:
            raise ConnectionError("flaky source")
        return SECRET

    @task
    def broken() -> None:
        raise ValueError("broken step")

    @flow(flow_run_name="etl-{n}", tags=["nightly"])
    def etl(n: int) -> str:
        flaky(n)
        broken(return_state=True)
        raise KeyError("the flow gives up")

    state = etl(3, return_state=True)
    assert state.is_failed()

    store = open_store()
    try:
        [run] = store.list_flow_runs(flowhook.store.RunQuery())
        assert (run.name, run.owner_name, run.state_name, run.run_count) == (
            "etl-3",
            "etl",
            "Failed",
            1,
        )
        assert run.parameters == {"n": 3} and run.tags == ("nightly",)
        assert run.import_path == f"{__name__}:{etl.fn.__qualname__}"
        assert run.start_time is not None and run.end_time is not None
        assert [e.name for e in store.events(run.id, run.id)] == ["Pending", "Running", "Failed"]
        failed = store.events(run.id, run.id)[-1]
        assert failed.state["exception"] == {"type": "KeyError", "message": "'the flow gives up'"}
        assert failed.traceback is not None and "the flow gives up" in failed.traceback
        assert 'raise KeyError("the flow gives up")' in failed.traceback

        tasks = {t.owner_name: t for t in store.task_run_page(run.id, limit=1000)}
        assert set(tasks) == {"flaky", "broken"}
        flaky_events = store.events(tasks["flaky"].id, run.id)
        assert [e.name for e in flaky_events] == [
            "Pending",
            "Running",
            "AwaitingRetry",
            "Retrying",
            "Completed",
        ]
        assert flaky_events[2].state["exception"]["type"] == "ConnectionError"
        assert flaky_events[2].state["scheduled_time"] is not None
        assert flaky_events[-1].state["exception"] is None and flaky_events[-1].traceback is None
        assert tasks["flaky"].run_count == 2 and tasks["flaky"].state_name == "Completed"
        assert tasks["broken"].state_name == "Failed"
        assert "broken step" in (store.events(tasks["broken"].id, run.id)[-1].traceback or "")
    finally:
        store.close()

    flowhook._runtime.attach.detach()  # everything written and checkpointed: the files say all there is
    files = b"".join(p.read_bytes() for p in flowhook_home.iterdir() if p.is_file())
    assert SECRET.encode() not in files


def test_a_completed_state_whose_result_is_an_exception_records_no_exception() -> None:
    state = states.Completed(data=ValueError(SECRET))
    row = event_row(
        "task", "r", "r", [state_columns(states.Pending(), None), state_columns(state, None)]
    )
    assert SECRET not in repr(row)


@pytest.mark.sqlite_only
@pytest.mark.parametrize(
    "state",
    [
        states.Pending(),
        states.Running("go"),
        states.Failed("no", data=ValueError("bad value")),
        states.AwaitingRetry(
            "again", data=OSError("io"), scheduled_time=states.Running().timestamp
        ),
        states.Crashed("gone", data=KeyboardInterrupt()),
        states.Cancelled(),
    ],
    ids=lambda s: s.name,
)
def test_event_columns_are_the_converters_form_of_the_state(tmp_path: Path, state) -> None:
    """The writer reads states directly for speed; what comes back must be the converter's form."""
    run_id = str(uuid.uuid4())
    store = SQLiteStore(tmp_path / "x.db")
    try:
        store._write(
            lambda conn: conn.execute(
                INSERT_EVENT, event_row("flow", run_id, run_id, [state_columns(state, None)])
            )
        )
        [event] = store.events(run_id, run_id)
        # The same state packed as an earlier state of a row reads back the same.
        store._write(
            lambda conn: conn.execute(
                INSERT_EVENT,
                event_row("flow", "other", "other", [state_columns(state, None)] * 2),
            )
        )
        packed, last = store.events("other", "other")
    finally:
        store.close()
    assert packed.state == last.state
    packed.state["run_id"] = run_id
    assert packed.state == event.state
    expected = converter.unstructure(state)
    expected["run_id"] = run_id
    assert event.state == expected
    back = converter.structure(event.state, states.State)
    assert (back.type, back.name, back.message, back.timestamp) == (
        state.type,
        state.name,
        state.message,
        state.timestamp,
    )


def test_running_is_durable_before_the_body_and_everything_before_the_call_returns(
    flowhook_home: Path,
) -> None:
    seen_in_body = []

    @task
    def step(i: int) -> int:
        return i

    @flow
    def durable() -> None:
        seen_in_body.extend(read(flowhook_home, "SELECT state_name FROM flow_runs"))
        for i in range(50):
            step(i)

    durable()
    assert seen_in_body == [("Running",)]
    # No flush, another connection: the call has returned, so every event is in the file.
    [(flow_state,)] = read(flowhook_home, "SELECT state_name FROM flow_runs")
    assert flow_state == "Completed"
    other = open_store(create=False)
    try:
        assert other.count_events() == 3 + 50 * 3  # type: ignore[attr-defined]
    finally:
        other.close()
    assert read(flowhook_home, "SELECT DISTINCT state_name FROM task_runs") == [("Completed",)]


def test_a_failing_flow_is_durable_before_it_raises(flowhook_home: Path) -> None:
    @flow
    def fails() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fails()
    assert read(flowhook_home, "SELECT state_name FROM flow_runs") == [("Failed",)]


def test_subflows_and_standalone_tasks(flowhook_home: Path) -> None:
    @task
    def alone() -> int:
        return 1

    @flow
    def child() -> int:
        return 2

    @flow
    def parent() -> int:
        return child()

    parent()
    alone()
    assert attach.flush()
    store = open_store()
    try:
        runs = {r.owner_name: r for r in store.list_flow_runs(flowhook.store.RunQuery())}
        assert runs["child"].parent_flow_run_id == runs["parent"].id
        subflows, total = store.subflow_run_page(runs["parent"].id, limit=10)
        assert [s.id for s in subflows] == [runs["child"].id] and total == 1
        [(task_id,)] = read(flowhook_home, "SELECT id FROM task_runs WHERE flow_run_id IS NULL")
        assert [e.name for e in store.events(str(task_id), str(task_id))] == [
            "Pending",
            "Running",
            "Completed",
        ]
    finally:
        store.close()


def test_hook_errors_are_recorded_with_their_run(flowhook_home: Path) -> None:
    def broken_hook(flow, flow_run, state):
        raise ValueError("hook went wrong")

    @flow(on_completion=[broken_hook])
    def hooked() -> int:
        return 1

    hooked()
    assert attach.flush()
    store = open_store()
    try:
        [run] = store.list_flow_runs(flowhook.store.RunQuery())
        [error], _ = store.run_hook_errors(run.id, with_task_runs=True, limit=10)
    finally:
        store.close()
    assert error.run_id == run.id and error.kind == "flow"
    assert "broken_hook" in error.description and "hook went wrong" in error.description
    assert error.traceback is not None and "hook went wrong" in error.traceback


@pytest.mark.sqlite_only
def test_home_and_database_permissions(tmp_path: Path, monkeypatch) -> None:
    home = tmp_path / "not" / "yet" / "home"
    monkeypatch.setenv("FLOWHOOK_HOME", str(home))
    flow(lambda: 1)()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE(database(home).stat().st_mode) == 0o600
    for sidecar in home.glob("flowhook.db-*"):
        assert stat.S_IMODE(sidecar.stat().st_mode) & 0o077 == 0, sidecar


def test_store_off_records_nothing(flowhook_home: Path, monkeypatch) -> None:
    monkeypatch.setenv("FLOWHOOK_STORE", "off")
    assert flow(lambda: 1)() == 1
    assert not database(flowhook_home).exists()


def test_schema_version_and_append_only_events(store: Store) -> None:
    assert store.schema_version() == SCHEMA_VERSION  # type: ignore[attr-defined]
    flow(lambda: 1)()
    with pytest.raises((sqlite3.IntegrityError, StoreError), match="append-only"):
        execute(store, "UPDATE state_events SET name = 'x'")


def test_a_damaged_value_read_back_is_a_store_error_naming_its_column(store: Store) -> None:
    """On either database, a value flowhook does not write (here text that is not JSON in a
    run's tags) is a StoreError that names the column, for every read: on PostgreSQL, the
    decoders' DamagedData once escaped the reads of single records as it was."""
    flow(flow_run_name="damaged")(lambda: 1)()
    flowhook._runtime.attach.detach()
    [(run_id,)] = execute(store, "SELECT id FROM flow_runs")
    execute(store, "UPDATE flow_runs SET tags = ? WHERE id = ?", '["a"', run_id)
    column = "flow_runs.tags holds text '[\"a\"', which is not JSON"
    for read in (lambda: store.get_run("flow", run_id), lambda: store.find_runs(run_id[:8])):
        with pytest.raises(StoreError, match="damaged") as raised:
            read()
        assert column in str(raised.value)


@pytest.mark.sqlite_only
def test_a_database_from_a_newer_flowhook_is_refused(flowhook_home: Path, caplog) -> None:
    conn = sqlite3.connect(database(flowhook_home))
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(flowhook.ConfigError, match="newer flowhook"):
        open_store()
    with caplog.at_level(logging.ERROR, logger="flowhook.store"):
        assert flow(lambda: 5)() == 5  # the run goes on without a store
    assert "newer flowhook" in caplog.text and "runs are not recorded" in caplog.text


@pytest.mark.sqlite_only
def test_an_unusable_database_path_never_fails_a_run(flowhook_home: Path, caplog) -> None:
    database(flowhook_home).mkdir()  # a directory where the file should be
    with caplog.at_level(logging.ERROR, logger="flowhook.store"):
        assert flow(lambda: 7)() == 7
        assert task(lambda: 8)() == 8
    assert "runs are not recorded" in caplog.text and "flowhook.db" in caplog.text


@pytest.mark.sqlite_only
@pytest.mark.thread_writer
def test_a_full_disk_during_a_run_never_fails_it(flowhook_home: Path, monkeypatch, caplog) -> None:
    def full(self, batch):
        raise sqlite3.OperationalError("database or disk is full")

    @task
    def step(i: int) -> int:
        return i

    @flow
    def busy() -> int:
        return sum(step(i) for i in range(20))

    flow(lambda: 0)()  # attached, while the disk had room
    monkeypatch.setattr(SQLiteStore, "write", full)
    with caplog.at_level(logging.ERROR, logger="flowhook.store"):
        assert busy() == sum(range(20))
    assert "database or disk is full" in caplog.text
    assert "they are kept and tried again, and the runs go on" in caplog.text


def test_a_bad_setting_is_logged_and_the_run_goes_on(monkeypatch, caplog) -> None:
    monkeypatch.setenv("FLOWHOOK_HEARTBEAT_SECONDS", "often")
    with caplog.at_level(logging.ERROR, logger="flowhook.store"):
        assert flow(lambda: 3)() == 3
    assert "FLOWHOOK_HEARTBEAT_SECONDS" in caplog.text


def test_parameters_that_are_not_json_are_noted_not_stored(flowhook_home: Path) -> None:
    class Opaque:
        def __repr__(self) -> str:
            return SECRET

    @flow
    def takes(a: object, b: list, token: Secret, when: dt.date, c: str = "x" * 10_000) -> None:
        pass

    takes(Opaque(), [1, 2], as_secret("hunter2-token"), dt.date(2026, 1, 2))
    store = open_store()
    try:
        [run] = store.list_flow_runs(flowhook.store.RunQuery())
    finally:
        store.close()
    assert run.parameters == {
        "a": "<Opaque, not recorded>",
        "b": [1, 2],
        "token": MASK,
        "when": "2026-01-02",
        "c": "<str, not recorded>",
    }
    flowhook._runtime.attach.detach()
    files = b"".join(p.read_bytes() for p in flowhook_home.iterdir() if p.is_file())
    assert b"hunter2-token" not in files and SECRET.encode() not in files


@pytest.mark.parametrize(
    ("spec_name", "expected"),
    [
        (None, "__main__:job"),
        ("jobs.nightly", "jobs.nightly:job"),
        ("jobs.__main__", "__main__:job"),
    ],
)
def test_the_import_path_of_a_flow_run_with_python_m(monkeypatch, spec_name, expected) -> None:
    main = types.ModuleType("__main__")
    main.__spec__ = None if spec_name is None else importlib.machinery.ModuleSpec(spec_name, None)
    monkeypatch.setitem(sys.modules, "__main__", main)

    def job() -> None:
        pass

    job.__module__, job.__qualname__ = "__main__", "job"
    assert recorder.import_path(flow(job)) == expected


@pytest.mark.sqlite_only
def test_a_version_1_database_is_upgraded_and_its_events_still_read(flowhook_home: Path) -> None:
    """Schema 2 packs a run's states of one batch into one row; rows written by schema 1 (one
    state each) read as before, and new runs are recorded next to them."""
    from flowhook.store._sqlite.dialect import SQLITE

    conn = sqlite3.connect(database(flowhook_home))
    for statement in SQLITE.migrations[0]:
        conn.execute(statement)
    conn.executemany(
        "INSERT INTO state_events (run_id, run_kind, history_id, type, name, timestamp) "
        "VALUES ('old', 'flow', 'old', ?, ?, ?)",
        [("PENDING", "Pending", 1.0), ("RUNNING", "Running", 2.0), ("COMPLETED", "Completed", 3.0)],
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()

    @task
    def step() -> int:
        return 1

    @flow
    def pipeline() -> int:
        return step()

    state = pipeline(return_state=True)
    store = open_store()
    try:
        assert store.schema_version() == SCHEMA_VERSION
        assert [e.name for e in store.events("old", "old")] == ["Pending", "Running", "Completed"]
        [task_run] = store.task_run_page(str(state.run_id))
        events = store.run_events([str(state.run_id), task_run.id], str(state.run_id))
        assert store.count_events() == 3 + 3 + 3
    finally:
        store.close()
    assert [[e.name for e in run_events] for run_events in events.values()] == [
        ["Pending", "Running", "Completed"]
    ] * 2


def test_a_short_task_run_is_one_row_holding_its_three_states(flowhook_home: Path) -> None:
    @task
    def step(i: int) -> int:
        return i

    @flow
    def pipeline() -> None:
        for i in range(20):
            step(i)

    pipeline()
    assert read(flowhook_home, "SELECT count(*) FROM state_events WHERE run_kind = 'task'") == [
        (0,)
    ]
    rows = read(flowhook_home, "SELECT state_name, json_array_length(states) FROM task_runs")
    assert rows == [("Completed", 3)] * 20
    store = open_store()
    try:
        [task_run, *_] = store.task_run_page(
            read(flowhook_home, "SELECT id FROM flow_runs")[0][0], limit=1000
        )
        events = store.events(task_run.id, task_run.flow_run_id)
        assert [e.name for e in events] == ["Pending", "Running", "Completed"]
        assert events[0].state["timestamp"] <= events[1].state["timestamp"]
        report = store.prune(time.time() + 1)
    finally:
        store.close()
    assert report.events == 3 + 20 * 3  # pruning counts states, not rows


def test_a_task_run_written_over_two_batches_reads_its_states_in_order(
    flowhook_home: Path,
) -> None:
    """Pending and Running are written with the run's row while it runs; Completed comes in a
    later batch, as an event row: events and run_events read all three, in order."""

    @task
    def long_running() -> int:
        assert attach.flush()  # what is queued (this run's row, Pending, Running) is written
        return 1

    @flow
    def pipeline() -> int:
        return long_running()

    state = pipeline(return_state=True)
    [(task_run_id, in_row)] = read(
        flowhook_home, "SELECT id, json_array_length(states) FROM task_runs"
    )
    assert in_row == 2
    assert read(flowhook_home, "SELECT name FROM state_events WHERE run_id = ?", task_run_id) == [
        ("Completed",)
    ]
    store = open_store()
    try:
        events = store.events(str(task_run_id), str(state.run_id))
        both = store.run_events([str(task_run_id)], str(state.run_id))
    finally:
        store.close()
    assert [e.name for e in events] == ["Pending", "Running", "Completed"]
    assert both == {str(task_run_id): events}


@pytest.mark.sqlite_only
def test_a_version_2_database_gets_the_task_run_states_column(flowhook_home: Path) -> None:
    """Version 2 added only ``state_events.earlier`` (an earlier commit wrote such databases):
    opening one adds ``task_runs.states``, and runs are recorded and read back."""
    from flowhook.store._sqlite.dialect import SQLITE

    conn = sqlite3.connect(database(flowhook_home))
    for statement in (*SQLITE.migrations[0], "ALTER TABLE state_events ADD COLUMN earlier TEXT"):
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()

    @task
    def step() -> int:
        return 1

    @flow
    def pipeline() -> int:
        return step()

    state = pipeline(return_state=True)
    store = open_store()
    try:
        assert store.schema_version() == SCHEMA_VERSION
        [flow_run] = store.find_runs(str(state.run_id))
        [task_run] = store.task_run_page(str(state.run_id))
        events = store.run_events([str(state.run_id), task_run.id], str(state.run_id))
    finally:
        store.close()
    assert flow_run.state_name == "Completed"
    assert [[e.name for e in run_events] for run_events in events.values()] == [
        ["Pending", "Running", "Completed"]
    ] * 2
