"""A batch is written once, however often it is sent: the replay after a lost COMMIT.

On both stores, a batch sent twice (as the writer sends again a batch whose outcome it does not
know) leaves the counts of every table as one copy left them. On PostgreSQL, a real lost COMMIT:
a proxy on 127.0.0.1 forwards the COMMIT, lets the server commit, and drops the answer.
"""

from __future__ import annotations

import gc
import json
import time
import uuid
from typing import Any

import pytest
from postgres_server import PostgresServer
from store_helpers import SHIPPED, as_shipped, doubling, execute, fake_process
from tcp_proxy import LosingProxy

import flowhook._runtime.attach
from flowhook import states
from flowhook.store import (
    COMPLETED_RUN_FIELDS,
    BatchKey,
    BatchWriter,
    HookError,
    NewRun,
    OutboxEntry,
    RunQuery,
    Store,
    StoreSettings,
    Transition,
    Write,
    id_text,
    open_store,
)
from flowhook.store._records import NEW_RUN_FIELDS, TRANSITION_FIELDS

COUNTS = {
    "flow runs": "SELECT count(*) FROM flow_runs",
    "task runs": "SELECT count(*) FROM task_runs",
    "event rows": "SELECT count(*) FROM state_events",
    "hook errors": "SELECT count(*) FROM hook_errors",
    "outbox": "SELECT count(*) FROM notification_outbox",
}


def counts(store: Store) -> dict[str, int]:
    found = {name: int(execute(store, sql)[0][0]) for name, sql in COUNTS.items()}
    return {**found, "states": store.count_events()}  # type: ignore[attr-defined]


def a_flow_run(process_id: int, *, ending: bool) -> tuple[uuid.UUID, list[Write]]:
    """The writes of a flow run with a task run, a hook error and an alert: its start, or (with
    ``ending``) the start and then its failure, as the recorder makes them."""
    flow_run, task_run = uuid.uuid4(), uuid.uuid4()
    now = time.time()
    running = states.Running(run_id=flow_run)
    writes: list[Write] = [
        NewRun("flow", flow_run, "a-run", "pipeline", None, now, process_id),
        Transition("flow", flow_run, flow_run, states.Pending(), 0, None, None),
        Transition("flow", flow_run, flow_run, running, 1, running.timestamp, None),
        NewRun("task", task_run, "step-1", "step", None, now, process_id, flow_run),
        Transition("task", task_run, flow_run, states.Pending(), 0, None, None),
    ]
    if ending:
        failed = states.Failed(message="boom")
        writes += [
            Transition("flow", flow_run, flow_run, failed, 1, running.timestamp, failed.timestamp),
            HookError("flow", flow_run, flow_run, now, "a hook raised", "Traceback ..."),
            OutboxEntry(
                uuid.uuid4().hex,
                "slack",
                "team",
                "failures",
                "flow",
                str(flow_run),
                "Failed",
                "a-run failed",
                "body",
                now,
            ),
        ]
    return flow_run, writes


def test_a_batch_sent_twice_is_written_once(store: Store) -> None:
    process_id = fake_process(store, pid=4242)
    flow_run, first = a_flow_run(process_id, ending=False)
    batch = [*first, BatchKey(process_id, 1)]
    store.write(batch)
    once = counts(store)
    store.write(batch)  # the replay of a batch whose COMMIT was lost
    assert counts(store) == once
    # A later batch: states of runs created before (event rows), a hook error, an alert.
    failed = states.Failed(message="boom")
    later: list[Write] = [
        Transition("flow", flow_run, flow_run, failed, 1, None, failed.timestamp),
        HookError("flow", flow_run, flow_run, time.time(), "a hook raised", None),
        OutboxEntry(
            "alert-1", "slack", "team", "failures", "flow", str(flow_run), "Failed", "s", "b", 1.0
        ),
        BatchKey(process_id, 2),
    ]
    store.write(later)
    twice = counts(store)
    assert once == {
        "flow runs": 1,
        "task runs": 1,
        "event rows": 1,
        "hook errors": 0,
        "outbox": 0,
        "states": 3,
    }
    assert twice == {**once, "event rows": 2, "hook errors": 1, "outbox": 1, "states": 4}
    store.write(later)
    store.write(batch)  # an older batch, late: applied already
    assert counts(store) == twice
    assert [e.name for e in store.events(str(flow_run), str(flow_run))] == [
        "Pending",
        "Running",
        "Failed",
    ]
    assert store.pending_outbox_count() == 1


def test_a_batch_of_a_process_whose_row_is_gone_is_written_once(store: Store) -> None:
    """The heartbeat registers the process again in the batch's transaction; the batch's key is
    then recorded on the new row."""
    process_id = fake_process(store, pid=4243)
    store.heartbeat(process_id, time.time())  # the store knows it registered this one
    execute(store, "DELETE FROM processes WHERE id = ?", process_id)
    _, writes = a_flow_run(process_id, ending=True)
    from flowhook.store import Beat

    batch = [*writes, BatchKey(process_id, 7), Beat(process_id, time.time())]
    store.write(batch)
    once = counts(store)
    store.write(batch)
    assert counts(store) == once and once["flow runs"] == 1
    assert store.process(process_id) is not None


@pytest.fixture
def proxy(postgres_server: PostgresServer) -> Any:
    losing = LosingProxy(postgres_server.port)
    yield losing
    losing.close()


@pytest.mark.postgres_only
def test_a_lost_commit_retried_by_the_store_writes_nothing_twice(
    store: Store, proxy: LosingProxy
) -> None:
    process_id = fake_process(store, pid=4244)
    settings = StoreSettings(home=store.location, url=proxy.url(store.url))  # type: ignore[attr-defined, arg-type]
    proxied = open_store(settings)
    try:
        _, writes = a_flow_run(process_id, ending=True)
        proxy.lose_next_commit()
        proxied.write([*writes, BatchKey(process_id, 1)])  # retried at once, on a new connection
    finally:
        proxied.close()
    assert proxy.lost_commits == 1
    assert counts(store) == {
        "flow runs": 1,
        "task runs": 1,
        "event rows": 1,
        "hook errors": 1,
        "outbox": 1,
        "states": 4,
    }


@pytest.mark.postgres_only
def test_a_lost_commit_retried_by_the_writer_writes_nothing_twice(
    store: Store, proxy: LosingProxy, caplog: pytest.LogCaptureFixture
) -> None:
    """The server is out of reach past the store's own retries: the writer holds the batch and
    sends it again later, first and alone, then the writes that came meanwhile."""
    process_id = fake_process(store, pid=4245)
    settings = StoreSettings(home=store.location, url=proxy.url(store.url))  # type: ignore[attr-defined, arg-type]
    proxied = open_store(settings, lock_timeout=0.3)
    writer = BatchWriter(proxied, process_id, wait_timeout=30)
    try:
        first_run, first = a_flow_run(process_id, ending=True)
        proxy.lose_next_commit(refuse_for=1.0)
        writer.submit_and_wait(tuple(first))
        assert not writer.everything_written  # held: the writer cannot know it was committed
        second_run, second = a_flow_run(process_id, ending=True)
        writer.submit(tuple(second))
        deadline = time.monotonic() + 20
        while not (writer.flush() and writer.everything_written) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert writer.everything_written
    finally:
        writer.close()
        proxied.close()
    assert proxy.lost_commits == 1
    assert "could not record 4 state events of 2 runs" in caplog.text
    assert counts(store) == {
        "flow runs": 2,
        "task runs": 2,
        "event rows": 2,
        "hook errors": 2,
        "outbox": 2,
        "states": 8,
    }
    assert sorted(r.id for r in store.list_flow_runs(RunQuery())) == sorted(
        [str(first_run), str(second_run)]
    )
    assert store.pending_outbox_count() == 2


def test_a_task_runs_states_in_its_row_are_compact_json(store: Store) -> None:
    """A task run created and ended in one batch keeps its states in its row as compact JSON,
    non-ASCII text escaped, exactly as the standard library's encoder writes it."""
    flow_id, task_id = uuid.uuid4(), uuid.uuid4()
    running, done = states.Running(), states.Completed(message='fini ✓ "quoted"')
    store.write(
        [
            NewRun("flow", flow_id, "f", "f", None, time.time(), None),
            NewRun("task", task_id, "t", "t", None, time.time(), None, flow_id),
            Transition("task", task_id, flow_id, running, 1, running.timestamp, None),
            Transition("task", task_id, flow_id, done, 1, running.timestamp, done.timestamp),
        ]
    )
    [(text,)] = execute(store, "SELECT states FROM task_runs WHERE id = ?", str(task_id))
    if not isinstance(text, str):  # PostgreSQL's JSON column: read back as data
        text = json.dumps(text, separators=(",", ":"))
    entered = json.loads(text)
    assert [(state[0], state[1], state[2]) for state in entered] == [
        ("RUNNING", "Running", None),
        ("COMPLETED", "Completed", 'fini ✓ "quoted"'),
    ]
    assert entered[1][3] == done.timestamp.timestamp()
    assert text == json.JSONEncoder(separators=(",", ":")).encode(entered)


def test_runs_stored_before_keep_their_row_in_a_batch_of_many_new_runs(store: Store) -> None:
    """A batch without a key (nothing tells a replay apart) that creates, among others, runs
    already stored: those keep the row they have, the others are created with every column as
    written, in one batch of many rows (the way PostgreSQL copies them)."""
    process_id = fake_process(store, pid=4245)
    flow_run, now = uuid.uuid4(), time.time()
    tasks = [uuid.uuid4() for _ in range(4)]

    def ran(task_run: uuid.UUID, name: str, tags: str) -> list[Write]:
        running, done = states.Running(), states.Completed(message=f"{name} done")
        return [
            NewRun(
                "task",
                task_run,
                name,
                "step",
                "m:step",
                now,
                process_id,
                flow_run,
                None,
                None,
                tags,
            ),
            Transition("task", task_run, flow_run, running, 1, running.timestamp, None),
            Transition("task", task_run, flow_run, done, 2, running.timestamp, done.timestamp),
        ]

    store.write([NewRun("flow", flow_run, "a-run", "pipeline", None, now, process_id)])
    store.write([*ran(tasks[1], "first", '["x"]'), *ran(tasks[3], "first", '["x"]')])
    before = [store.get_run("task", str(tasks[1])), store.get_run("task", str(tasks[3]))]
    batch = [ran(task, f"again-{i}", '["y", "z"]') for i, task in enumerate(tasks)]
    store.write([write for writes in batch for write in writes])

    found = [store.get_run("task", str(task)) for task in tasks]
    assert [found[1], found[3]] == before
    assert [run.name if run else None for run in found] == ["again-0", "first", "again-2", "first"]
    for run, writes in [(found[0], batch[0]), (found[2], batch[2])]:
        assert run is not None
        new, _, done = writes
        assert isinstance(new, NewRun) and isinstance(done, Transition)
        assert (run.flow_run_id, run.process_id, run.created, run.import_path) == (
            str(flow_run),
            process_id,
            now,
            "m:step",
        )
        assert run.state_type == "COMPLETED" and run.run_count == 2
        assert run.end_time == done.state.timestamp.timestamp()  # type: ignore[union-attr]
        assert run.state_message == f"{run.name} done"
    assert found[0] is not None and found[0].tags == ("y", "z")
    assert counts(store)["task runs"] == 4


@pytest.mark.parametrize("shipped", SHIPPED)
@pytest.mark.parametrize("ending", ["completed", "failed", "scheduled", "custom name"])
def test_a_task_runs_row_is_the_same_whether_or_not_its_states_carry_more(
    store: Store, ending: str, shipped: str
) -> None:
    """A task run's row holds its states as compact JSON, its current state, and its start and
    end times in seconds, however much its states carry (plain states take a shorter way),
    whether the writes are named tuples, the plain records the recorder makes, or those
    records as the writer process gets them."""
    flow_id, task_id = uuid.uuid4(), uuid.uuid4()
    pending, running = states.Pending(), states.Running()
    done = {
        "completed": states.Completed(data=42),
        "failed": states.Failed(data=ValueError("no")),
        "scheduled": states.AwaitingRetry(scheduled_time=running.timestamp),
        "custom name": states.Completed(name="Cached"),
    }[ending]
    end = done.timestamp if done.is_final() else None
    writes: list[Write] = [
        NewRun("flow", flow_id, "f", "f", None, time.time(), None),
        NewRun("task", task_id, "t", "t", None, time.time(), None, flow_id),
        Transition("task", task_id, flow_id, pending, 0, None, None),
        Transition("task", task_id, flow_id, running, 1, running.timestamp, None),
        Transition("task", task_id, flow_id, done, 1, running.timestamp, end),
    ]
    store.write(as_shipped(writes, shipped))
    [row] = execute(
        store,
        "SELECT states, state_type, state_name, start_time, end_time FROM task_runs WHERE id = ?",
        str(task_id),
    )
    text = row[0] if isinstance(row[0], str) else json.dumps(row[0], separators=(",", ":"))
    entered = json.loads(text)
    assert text == json.JSONEncoder(separators=(",", ":")).encode(entered)
    assert [state[:2] for state in entered] == [
        ["PENDING", "Pending"],
        ["RUNNING", "Running"],
        [done.type.value, done.name],
    ]
    assert [state[3] for state in entered] == [
        pending.timestamp.timestamp(),
        running.timestamp.timestamp(),
        done.timestamp.timestamp(),
    ]
    assert entered[2][5] == ("ValueError" if ending == "failed" else None)
    scheduled = done.scheduled_time
    assert entered[2][4] == (None if scheduled is None else scheduled.timestamp())
    assert (row[1], row[2]) == (done.type.value, done.name)
    assert float(row[3]) == running.timestamp.timestamp()
    assert row[4] == (None if end is None else end.timestamp())


def test_a_task_runs_queued_writes_are_plain_data_the_garbage_collector_stops_tracking(
    store: Store,
) -> None:
    """What the recorder queues for a task run's transitions is plain data: after one young
    collection the collector no longer tracks it, so thousands of them waiting for the writer
    cost it (nearly) nothing; and the store records the runs from it, with every state."""
    doubling(1)  # attaches the store
    recorder = flowhook._runtime.attach.current()
    assert recorder is not None
    queued: list[tuple[Any, ...]] = []
    submit = recorder.writer.submit

    def keep(writes: tuple[Any, ...], **options: Any) -> None:
        queued.append(writes)
        submit(writes, **options)

    recorder.writer.submit = keep  # type: ignore[method-assign]
    try:
        assert doubling(3) == [0, 2, 4]
    finally:
        del recorder.writer.submit
    # Four task runs: three completed ones, each one record for its three transitions; the one
    # that failed, its new run and three transitions (a record's first field: its kind).
    task_writes = [write for writes in queued for write in writes if write[0] == "task"]
    assert sorted(map(len, task_writes)) == sorted(
        [COMPLETED_RUN_FIELDS] * 3 + [NEW_RUN_FIELDS] + [TRANSITION_FIELDS] * 3
    )
    gc.collect(0)
    assert [write for writes in queued for write in writes if gc.is_tracked(write)] == []
    # The tuples holding them: at the next collection of their generation (the collector looks
    # at a tuple before its contents when it finds the tuple reachable first).
    gc.collect(1)
    assert [writes for writes in queued if gc.is_tracked(writes)] == []
    recorder.writer.flush()
    flow_run = store.list_flow_runs(RunQuery(flow_name="doubling", limit=1))[0]
    runs = execute(
        store,
        "SELECT name, state_type, json_array_length(states) FROM task_runs "
        "WHERE flow_run_id = ? ORDER BY created",
        flow_run.id,
    )
    assert [tuple(run[1:]) for run in runs] == [("FAILED", 3)] + [("COMPLETED", 3)] * 3


@pytest.mark.parametrize(
    "run_id",
    [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1), uuid.UUID(int=255), uuid.uuid4(), uuid.uuid1()],
)
def test_a_run_ids_text_from_its_integer_is_the_uuids_own(run_id: uuid.UUID) -> None:
    """The store names a run by the text of its id, made from the integer a record carries."""
    assert id_text(run_id.int) == str(run_id)
