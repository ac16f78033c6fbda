"""The store's side of crash detection, on both stores: runs left unfinished, a clean exit,
crashing runs with their alerts and due hooks in one transaction, claims on those hooks,
pruning around live processes, and which errors mean "try again later"."""

from __future__ import annotations

import os
import threading
import time
import uuid
from pathlib import Path

import pytest
from postgres_server import PostgresServer
from store_helpers import execute, fake_flow_run, fake_process, own_token
from tcp_proxy import LosingProxy

from flowhook import states
from flowhook.store import (
    NewRun,
    OutboxEntry,
    Store,
    StoreSettings,
    Transition,
    open_store,
)

LONG_AGO = time.time() - 7 * 86400


def alert(run_id: str, key: str, body: object = "body") -> OutboxEntry:
    return OutboxEntry(key, "slack", "ops", "crashes", "flow", run_id, "Crashed", "s", body, 1.0)  # type: ignore[arg-type]


def finished_flow_run(store: Store, process_id: int, ended: float) -> str:
    run = uuid.uuid4()
    done = states.Completed(run_id=run)
    store.write(
        [
            NewRun("flow", run, "done", "finished", None, ended - 1, process_id),
            Transition("flow", run, run, states.Pending(), 0, None, None),
            Transition("flow", run, run, done, 1, done.timestamp, done.timestamp),
        ]
    )
    execute(store, "UPDATE flow_runs SET end_time = ? WHERE id = ?", ended, str(run))
    return str(run)


def test_unfinished_runs_and_a_clean_exit(store: Store) -> None:
    process = fake_process(store, pid=9001, host="elsewhere")
    first_flow, first_task = fake_flow_run(store, process)
    time.sleep(0.01)
    second_flow, _ = fake_flow_run(store, process, with_task=False)
    finished_flow_run(store, process, time.time())
    other = fake_process(store, pid=9002, host="elsewhere")
    fake_flow_run(store, other, with_task=False)
    # Task runs first, then flow runs newest first: the order crash_runs moves them in.
    assert [(r.kind, r.id) for r in store.unfinished_runs(process)] == [
        ("task", first_task),
        ("flow", second_flow),
        ("flow", first_flow),
    ]
    record = store.process(process)
    assert record is not None and record.exited is None
    store.record_exit(process, 1234.5)
    record = store.process(process)
    assert record is not None and record.exited == 1234.5
    assert store.process(other).exited is None  # type: ignore[union-attr]
    assert store.unfinished_runs(9999) == []


def test_crash_runs_queues_alerts_and_due_hooks_in_its_transaction(store: Store) -> None:
    dead = fake_process(store, pid=9003, host="elsewhere", last_heartbeat=LONG_AGO)
    flow_run, task_run = fake_flow_run(store, dead)
    assert task_run is not None
    crashed_state = states.Crashed(message="gone")
    alerts = {flow_run: [alert(flow_run, "crash-1")]}
    moved = store.crash_runs(dead, crashed_state, alerts=alerts, hooks_by="reaper-a")
    assert moved == [("task", task_run), ("flow", flow_run)]
    assert [(h.run_id, h.run_kind, h.process_id, h.claimed_by) for h in store.crash_hooks()] == [
        (task_run, "task", dead, "reaper-a"),
        (flow_run, "flow", dead, "reaper-a"),
    ]
    assert [(m.run_id, m.status) for m in store.list_outbox()] == [(flow_run, "pending")]
    # A second reaper finds nothing to move: no second Crashed, alert or due hook.
    assert store.crash_runs(dead, crashed_state, alerts=alerts, hooks_by="reaper-b") == []
    assert len(store.list_outbox()) == 1 and len(store.crash_hooks()) == 2
    assert [e.name for e in store.events(flow_run, flow_run)].count("Crashed") == 1


def test_a_refused_alert_leaves_the_run_uncrashed(store: Store) -> None:
    """Crashing, queueing the alerts and recording the due hooks are one transaction: an
    alert the database refuses (a body no driver can bind) undoes the crash too."""
    dead = fake_process(store, pid=9004, host="elsewhere", last_heartbeat=LONG_AGO)
    flow_run, _ = fake_flow_run(store, dead, with_task=False)
    with pytest.raises(Exception):  # noqa: B017  (sqlite3's IntegrityError, or a StoreError)
        store.crash_runs(
            dead,
            states.Crashed(message="gone"),
            alerts={flow_run: [alert(flow_run, "crash-2", body={"not": "text"})]},
            hooks_by="reaper-a",
        )
    record = store.get_run("flow", flow_run)
    assert record is not None and record.state_name == "Running"
    assert store.crash_hooks() == [] and store.list_outbox() == []
    assert [e.name for e in store.events(flow_run, flow_run)] == ["Pending", "Running"]


def test_a_due_hook_is_taken_over_by_one_reaper(store: Store) -> None:
    dead = fake_process(store, pid=9005, host="elsewhere", last_heartbeat=LONG_AGO)
    flow_run, _ = fake_flow_run(store, dead, with_task=False)
    store.crash_runs(dead, states.Crashed(message="gone"), hooks_by="dead-reaper")
    results: list[tuple[str, bool]] = []
    barrier = threading.Barrier(4)

    def take_over(worker: str) -> None:
        own = open_store()  # another process's connections
        try:
            barrier.wait()
            results.append((worker, own.claim_crash_hook(flow_run, "dead-reaper", worker)))
        finally:
            own.close()

    threads = [threading.Thread(target=take_over, args=(f"reaper-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    winners = [worker for worker, won in results if won]
    assert len(results) == 4 and len(winners) == 1
    [due] = store.crash_hooks()
    assert due.claimed_by == winners[0]
    assert not store.claim_crash_hook(flow_run, "dead-reaper", "late-reaper")
    store.crash_hook_fired(flow_run)
    assert store.crash_hooks() == []
    assert not store.claim_crash_hook(flow_run, winners[0], "late-reaper")


def test_prune_keeps_live_processes_and_its_dry_run_counts_the_same(store: Store) -> None:
    now = time.time()
    silent = fake_process(store, pid=9006, host="elsewhere", last_heartbeat=LONG_AGO)
    exited = fake_process(store, pid=9007, host="elsewhere")
    store.record_exit(exited, now)
    remote_alive = fake_process(store, pid=9008, host="elsewhere", last_heartbeat=now - 5)
    # This very process, silent for a week: alive by its pid and start token, so kept.
    here = fake_process(store, pid=os.getpid(), token=own_token(), last_heartbeat=LONG_AGO)
    busy = fake_process(store, pid=9009, host="elsewhere", last_heartbeat=LONG_AGO)
    old = finished_flow_run(store, silent, LONG_AGO)
    running, _ = fake_flow_run(store, busy)  # unfinished: never pruned, nor its process
    execute(store, "UPDATE processes SET last_heartbeat = ? WHERE id = ?", LONG_AGO, exited)

    def rows() -> dict[str, object]:
        return {
            "processes": sorted(r[0] for r in execute(store, "SELECT id FROM processes")),
            "flow runs": sorted(r[0] for r in execute(store, "SELECT id FROM flow_runs")),
            "states": store.count_events(),  # type: ignore[attr-defined]
        }

    before = rows()
    rehearsed = store.prune(now - 86400, dry_run=True, crash_after_seconds=60)
    assert rows() == before  # a dry run deletes nothing
    pruned = store.prune(now - 86400, crash_after_seconds=60)
    assert rehearsed == pruned
    assert (pruned.flow_runs, pruned.task_runs, pruned.events, pruned.processes) == (1, 0, 2, 2)
    after = rows()
    assert after["processes"] == sorted([remote_alive, here, busy])
    assert old not in after["flow runs"] and running in after["flow runs"]


def test_refused_data_is_not_unavailability(store: Store) -> None:
    """A write the database refuses (a name no driver can bind) fails the same however often
    it is tried: the writer must not hold it back as if the store were down."""
    bad = NewRun("flow", uuid.uuid4(), {"not": "text"}, "x", None, 1.0, None)  # type: ignore[arg-type]
    with pytest.raises(Exception) as refused:
        store.write([bad])
    assert not store.unavailable(refused.value)  # type: ignore[arg-type]


@pytest.mark.postgres_only
def test_a_server_out_of_reach_is_unavailability(
    store: Store, postgres_server: PostgresServer, flowhook_home: Path
) -> None:
    proxy = LosingProxy(postgres_server.port)
    settings = StoreSettings(home=flowhook_home, url=proxy.url(store.url))  # type: ignore[attr-defined]
    reachable = open_store(settings, lock_timeout=0.3)
    try:
        proxy.lose_next_commit(refuse_for=60)
        process = fake_process(store, pid=9010)
        with pytest.raises(Exception) as lost:
            fake_flow_run(reachable, process)
        assert reachable.unavailable(lost.value)  # type: ignore[arg-type]
        assert "cannot use the flowhook database" in str(lost.value)
        assert "s3cret" not in str(lost.value)
    finally:
        reachable.close()
        proxy.close()
