"""How many task runs a flow run has, as its run page reads it: exact on both stores, however the
task runs were written (PostgreSQL keeps the counts as it inserts the rows: schema version 12)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from store_helpers import execute, fake_process

from flowhook import states
from flowhook.store import (
    BatchKey,
    NewRun,
    Store,
    Transition,
    Write,
    completed_run_record,
    new_run_record,
)


def counted_in_rows(store: Store, flow_run_id: str) -> dict[str, int]:
    """The flow run's task runs by state type, counted row by row."""
    rows = execute(
        store,
        "SELECT state_type, count(*) FROM task_runs WHERE flow_run_id = ? GROUP BY state_type",
        flow_run_id,
    )
    return {str(state): int(count) for state, count in rows}


def as_read(store: Store, flow_run_id: str) -> dict[str, int]:
    """The counts the run page reads, without the state types that have none."""
    return {state: n for state, n in store.task_state_counts(flow_run_id).items() if n}


def flow_run(store: Store, process_id: int) -> uuid.UUID:
    run_id = uuid.uuid4()
    running = states.Running(run_id=run_id)
    store.write(
        [
            NewRun("flow", run_id, "counted-1", "counted", None, time.time(), process_id),
            Transition("flow", run_id, run_id, running, 1, running.timestamp, None),
        ]
    )
    return run_id


def completed(flow_run_id: uuid.UUID, process_id: int, run_id: uuid.UUID | None = None) -> Any:
    """A completed task run's one record, as the recorder makes it for nearly every task run."""
    now = time.time()
    new = new_run_record(
        "task", run_id or uuid.uuid4(), "step-1", "step", None, now, process_id, flow_run_id
    )
    return completed_run_record(new, now, now)


def failed(flow_run_id: uuid.UUID, process_id: int) -> list[Write]:
    run_id = uuid.uuid4()
    state = states.Failed(message="no", run_id=run_id)
    return [
        NewRun("task", run_id, "step-2", "step", None, time.time(), process_id, flow_run_id),
        Transition("task", run_id, flow_run_id, state, 1, state.timestamp, state.timestamp),
    ]


def test_the_counts_agree_with_the_rows_however_the_task_runs_were_written(store: Store) -> None:
    first, second = (fake_process(store, pid=pid) for pid in (41, 42))
    run_id = flow_run(store, first)
    many = [completed(run_id, first) for _ in range(300)]
    store.write(many)  # many rows: PostgreSQL copies them
    store.write(failed(run_id, first))  # one row alone
    keyed = [completed(run_id, first) for _ in range(10)]
    store.write([*keyed, BatchKey(first, 5)])
    store.write([*keyed, BatchKey(first, 5)])  # a replay after a lost COMMIT: skipped whole
    again = [completed(run_id, first, run_id=uuid.UUID(int=record[1])) for record in many[:2]]
    store.write([*again, completed(run_id, first), completed(run_id, first)])  # 2 taken keys
    store.write([completed(run_id, second) for _ in range(20)])  # another process's
    store.write(failed(run_id, second))
    alone = uuid.uuid4()  # a task run outside any flow counts for none
    store.write([NewRun("task", alone, "solo-1", "solo", None, time.time(), first)])

    expected = {"COMPLETED": 300 + 10 + 2 + 20, "FAILED": 2}
    assert counted_in_rows(store, str(run_id)) == expected
    assert as_read(store, str(run_id)) == expected
    assert as_read(store, str(uuid.uuid4())) == {}  # a flow run without task runs


def test_a_flow_runs_counts_follow_its_task_runs_out_when_it_is_pruned(store: Store) -> None:
    process = fake_process(store, pid=43)
    run_id = flow_run(store, process)
    store.write([completed(run_id, process) for _ in range(5)])
    done = states.Completed(run_id=run_id)
    store.write([Transition("flow", run_id, run_id, done, 1, done.timestamp, done.timestamp)])
    assert as_read(store, str(run_id)) == {"COMPLETED": 5}

    report = store.prune(time.time() + 1)

    assert (report.flow_runs, report.task_runs) == (1, 5)
    assert as_read(store, str(run_id)) == {}
