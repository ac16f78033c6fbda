"""A flow's task run waits to be written until it ends, or for the writer's linger at most.

The recorder holds a task run's plain Pending and Running (``flowhook/_runtime/held_runs.py``).
A run that completes meanwhile is written as one record; any other goes as it would have. Every
test here runs on both stores, with the writer thread and the writer process: what the store
holds must be the same whenever the held states are let go.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from locked_store import lock_database, touch
from store_helpers import SHIPPED, as_shipped, execute, wait_for

import flowhook._runtime.attach
import flowhook_slack
from flowhook import flow, states, task
from flowhook._engine import observers
from flowhook._runtime.held_runs import MAX_HELD
from flowhook._runtime.recorder import Recorder
from flowhook.store import (
    COMPLETED_RUN_FIELDS,
    BatchWriter,
    NewRun,
    RunQuery,
    Store,
    Transition,
    completed_run_record,
    new_run_record,
    open_store,
)
from flowhook.testing import PluginManager

NAMES = ["Pending", "Running", "Completed"]


@task
def plain_step(i: int) -> int:
    return i


@task
def failing_step() -> int:
    raise ValueError("refused")


@flow
def steps(fail: bool = False) -> None:
    plain_step(1)
    if fail:
        failing_step(return_state=True)
    plain_step(2)


def attached() -> Recorder:
    steps()  # attaches the store
    recorder = flowhook._runtime.attach.current()
    assert recorder is not None
    return recorder


def stored_states(store: Store, run: Any) -> list[tuple[str, str]]:
    """The (name, timestamp) of each state ``run`` has in ``store``."""
    events = store.events(str(run.id), str(run.flow_run_id))
    return [(event.name, event.state["timestamp"]) for event in events]


def entered(run: Any) -> list[tuple[str, str]]:
    return [(state.name, state.timestamp.isoformat()) for state in run.state_history]


@pytest.fixture
def task_runs() -> Iterator[dict[uuid.UUID, Any]]:
    """The task runs moved while the test runs, by id (an observer after the recorder's)."""
    seen: dict[uuid.UUID, Any] = {}

    def keep(kind: Any, owner: Any, run: Any, old: Any, new: Any) -> None:
        if kind.name == "task":
            seen[run.id] = run

    observers.append(keep)
    yield seen
    observers.remove(keep)


def a_completed_task_run() -> tuple[uuid.UUID, uuid.UUID, list[states.State], list[Any]]:
    """A flow run's new run, then a task run that went Pending, Running, Completed plainly as
    four records."""
    flow_id, task_id = uuid.uuid4(), uuid.uuid4()
    pending, running, done = states.Pending(), states.Running(), states.Completed(data=3)
    created = pending.timestamp.timestamp()
    four = [
        NewRun("task", task_id, "t-1", "t", "m:t", created, None, flow_id, tags='["a"]'),
        Transition("task", task_id, flow_id, pending, 0, None, None),
        Transition("task", task_id, flow_id, running, 1, running.timestamp, None),
        Transition("task", task_id, flow_id, done, 1, running.timestamp, done.timestamp),
    ]
    return flow_id, task_id, [pending, running, done], four


@pytest.mark.parametrize("shipped", SHIPPED[1:])
def test_a_completed_runs_record_is_stored_as_the_four_records_it_stands_for_are(
    store: Store, shipped: str
) -> None:
    flow_id, four_id, entered_states, four = a_completed_task_run()
    one_id = uuid.uuid4()
    pending, running, done = entered_states
    new_run = new_run_record(
        "task", one_id, "t-1", "t", "m:t", pending.timestamp.timestamp(), None, flow_id,
        tags='["a"]',
    )  # fmt: skip
    one = completed_run_record(new_run, running.timestamp.timestamp(), done.timestamp.timestamp())
    assert len(one) == COMPLETED_RUN_FIELDS
    flow_run = NewRun("flow", flow_id, "f", "f", None, time.time(), None)
    store.write(as_shipped([flow_run, *four, one], shipped))

    columns = (
        "name, task_name, import_path, created, process_id, flow_run_id, tags, states, "
        "state_type, state_name, state_message, run_count, start_time, end_time"
    )
    select = f"SELECT {columns} FROM task_runs WHERE id = ?"
    assert execute(store, select, str(one_id)) == execute(store, select, str(four_id))
    one_events = store.events(str(one_id), str(flow_id))
    four_events = store.events(str(four_id), str(flow_id))
    assert [{**event.state, "run_id": None} for event in one_events] == [
        {**event.state, "run_id": None} for event in four_events
    ]
    assert [event.name for event in one_events] == NAMES
    assert store.count_events() == 6  # type: ignore[attr-defined]


@pytest.mark.parametrize("fail", [False, True], ids=["completes", "one fails"])
@pytest.mark.parametrize(
    "moments",
    [(), ("Pending",), ("Running",), ("Pending", "Running", "Completed", "Failed")],
    ids=["never", "at Pending", "at Running", "at every state"],
)
@pytest.mark.parametrize("placed", ["before", "after"])
def test_held_states_let_go_at_any_moment_are_stored_once_each_in_order(
    store: Store, task_runs: dict[uuid.UUID, Any], moments: tuple[str, ...], placed: str, fail: bool
) -> None:
    """What is held is let go (as the writer's linger does) just before or just after the
    recorder sees a state: before, the state is in the run's history but not yet seen."""
    recorder = attached()
    task_runs.clear()

    def let_go(kind: Any, owner: Any, run: Any, old: Any, new: Any) -> None:
        if kind.name == "task" and new.name in moments:
            recorder.held.release()

    observers.insert(0 if placed == "before" else len(observers), let_go)
    try:
        steps(fail)
    finally:
        observers.remove(let_go)
    assert recorder.flush()

    runs = list(task_runs.values())
    assert len(runs) == (3 if fail else 2)
    for run in runs:
        assert stored_states(store, run) == entered(run)
    if fail:
        [failed] = [run for run in runs if run.state.is_failed()]
        events = store.events(str(failed.id), str(failed.flow_run_id))
        assert [event.name for event in events] == ["Pending", "Running", "Failed"]
        assert events[-1].state["exception"] == {"type": "ValueError", "message": "refused"}
        assert events[-1].traceback is not None and "refused" in events[-1].traceback
    assert recorder.held.runs == {}


def test_a_task_run_that_runs_on_is_in_the_store_as_running_meanwhile(store: Store) -> None:
    """Held for the writer's linger at most: a long task run is seen running, not only once it
    ends."""
    attached()
    go = threading.Event()

    @task
    def waits() -> int:
        go.wait(60)
        return 1

    @flow
    def waiting() -> None:
        waits()

    def running() -> bool:
        rows = execute(store, "SELECT state_type FROM task_runs WHERE task_name = 'waits'")
        return rows == [("RUNNING",)]

    flow_thread = threading.Thread(target=waiting)
    flow_thread.start()
    try:
        wait_for(running, timeout=10, what="the task run to be stored as Running")
    finally:
        go.set()
        flow_thread.join(60)
    assert flowhook._runtime.attach.flush()
    [run] = store.list_flow_runs(RunQuery(flow_name="waiting"))
    [task_run] = store.task_run_page(run.id, limit=10)
    events = store.events(task_run.id, run.id)
    assert [event.name for event in events] == NAMES


def test_task_runs_waiting_in_a_pool_are_held_a_few_at_a_time_and_stored_whole(
    store: Store,
) -> None:
    """Hundreds of task runs submitted at once wait in Pending for a thread of the pool: at most
    MAX_HELD are held (letting go of all of them at once would hold up every run's thread)."""
    recorder = attached()
    go = threading.Event()
    most_held: list[int] = []

    @task
    def waits(i: int) -> int:
        go.wait(30)
        return i

    @flow
    def pooled(n: int) -> list[int]:
        futures = [waits.submit(i) for i in range(n)]
        most_held.append(len(recorder.held.runs))
        go.set()
        return [future.result() for future in futures]

    count = 3 * MAX_HELD
    assert pooled(count) == list(range(count))
    assert most_held == [MAX_HELD]
    assert recorder.flush()
    [run] = store.list_flow_runs(RunQuery(flow_name="pooled"))
    task_runs = store.task_run_page(run.id, limit=1000)
    assert len(task_runs) == count
    for task_run in task_runs:
        assert [event.name for event in store.events(task_run.id, run.id)] == NAMES
    assert recorder.held.runs == {}


def test_a_rule_about_task_runs_running_holds_nothing(
    store: Store,
    flowhook_home: Path,
    flowhook_plugins: PluginManager,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A rule's message is written with the state that causes it: the states it is about are
    never held (nor is a task run that could enter them)."""
    flowhook_plugins.register(flowhook_slack)
    (flowhook_home / "flowhook.toml").write_text(
        '[blocks."slack-webhook/ops"]\nurl = "http://127.0.0.1:9/nothing-listens-here"\n\n'
        '[[notifications]]\non = ["Running"]\ntasks = ["*"]\nblocks = ["slack-webhook/ops"]\n'
    )
    monkeypatch.setenv("FLOWHOOK_CONFIG", str(flowhook_home / "flowhook.toml"))
    recorder = attached()
    assert recorder.held.runs == {}
    assert not recorder._holding
    assert recorder.flush()
    [run] = store.list_flow_runs(RunQuery(flow_name="steps"))
    task_runs = store.task_run_page(run.id, limit=10)
    assert len(task_runs) == 2
    for task_run in task_runs:
        assert [event.name for event in store.events(task_run.id, run.id)] == NAMES
    messages = execute(
        store, "SELECT run_id, event FROM notification_outbox WHERE run_kind = 'task'"
    )
    # An event is named "<run id>:<its state's number>:<its name>".
    assert sorted((run_id, event.rpartition(":")[2]) for run_id, event in messages) == sorted(
        (task_run.id, "Running") for task_run in task_runs
    )


@pytest.mark.sqlite_only
def test_a_completed_runs_record_held_back_counts_the_three_states_it_stands_for(
    store: Store, flowhook_home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    flow_id, task_id, entered_states, _ = a_completed_task_run()
    pending, running, done = entered_states
    new_run = new_run_record(
        "task", task_id, "t-1", "t", None, pending.timestamp.timestamp(), None, flow_id
    )
    record = completed_run_record(
        new_run, running.timestamp.timestamp(), done.timestamp.timestamp()
    )
    flow_run = NewRun("flow", flow_id, "f", "f", None, time.time(), None)
    locked = open_store(lock_timeout=0.2)
    writer = BatchWriter(locked, None, wait_timeout=30)
    release = tmp_path / "release"
    locker = lock_database(flowhook_home / "flowhook.db", release)
    try:
        writer.submit_and_wait((flow_run, record))
        assert not writer.everything_written
        assert writer.held_back == 3
    finally:
        touch(release, "")
        locker.wait(30)
    try:
        wait_for(lambda: writer.flush() and writer.everything_written, what="the held writes")
    finally:
        writer.close()
        locked.close()
    assert "could not record 3 state events of 1 runs" in caplog.text
    assert [event.name for event in store.events(str(task_id), str(flow_id))] == NAMES
