"""The writer process (``FLOWHOOK_STORE_WRITER=process``), with real processes, on both stores:
what is durable when, outbox wake-ups, either side killed, fork, start-up failures."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import attrs
import pytest
from store_helpers import environment, execute, wait_for, write_module

import flowhook
from flowhook import states
from flowhook._runtime.writer_process import ProcessWriter
from flowhook._runtime.writer_wire import FRAME_KEYS, WIRE_VERSION, frame_data, frame_writes
from flowhook.store import (
    EventRecord,
    HookError,
    NewRun,
    OutboxEntry,
    Store,
    StoreSettings,
    Transition,
    Write,
    current_process,
    load_settings,
    new_run_record,
    plain_record,
)
from flowhook_hookspec.errors import ConfigError

#: A flow of ``n`` task runs; between two halves it runs ``between`` (a statement).
FLOW = """
import os, sys, time
import flowhook._runtime.attach as attach
from flowhook import flow, task

@task
def step(i: int) -> int:
    return i + 1

@flow
def halves(n: int) -> int:
    for i in range(n // 2):
        step(i)
    writer = attach.current().writer
    print("writer", writer.pid or -1, os.getpid(), flush=True)
    {between}
    for i in range(n // 2, n):
        step(i)
    return n

halves(int(sys.argv[1]))
print("done", flush=True)
"""


def run_flow(modules: Path, between: str, n: int, **env: str) -> subprocess.Popen[str]:
    script = write_module(modules, "halves", FLOW.format(between=between))
    extra = {"FLOWHOOK_STORE_WRITER": "process", "FLOWHOOK_STORE_WRITER_WAIT": "1", **env}
    return subprocess.Popen(
        [sys.executable, str(script), str(n)],
        env=environment(modules, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def writer_line(proc: subprocess.Popen[str]) -> tuple[int, int]:
    line = proc.stdout.readline().split()  # type: ignore[union-attr]
    assert line[:1] == ["writer"], line
    return int(line[1]), int(line[2])


def task_states(store: Store) -> list[tuple[object, ...]]:
    return execute(store, "SELECT state_type, count(*) FROM task_runs GROUP BY state_type")


def history(store: Store, flow_run_id: str) -> list[EventRecord]:
    """Every state event of the flow run and of its task runs."""
    task_runs = execute(store, "SELECT id FROM task_runs WHERE flow_run_id = ?", flow_run_id)
    run_ids = [flow_run_id, *(run_id for (run_id,) in task_runs)]
    return [e for events in store.run_events(run_ids, flow_run_id).values() for e in events]


def assert_each_state_once(store: Store, task_runs: int) -> None:
    """The flow run completed, and its history holds each run's three states once."""
    ((flow_run_id, flow_state),) = execute(store, "SELECT id, state_type FROM flow_runs")
    assert flow_state == "COMPLETED"
    events = history(store, flow_run_id)
    assert len(events) == 3 * (task_runs + 1)
    assert len({(e.run_id, e.state["type"]) for e in events}) == len(events)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_runs_are_written_by_the_child_and_durable_when_the_flow_returns(
    modules: Path, store: Store
) -> None:
    """Every state reaches the store through the child (its batch keys count frames), and the
    top-level flow run's end is durable when the call returns."""
    check = """
from flowhook.store import RunQuery, open_store
(found,) = open_store().list_flow_runs(RunQuery())
print("state", found.state_type, flush=True)
"""
    script = FLOW.replace('print("done", flush=True)', check)
    path = write_module(modules, "durable", script.format(between="pass"))
    env = environment(modules, FLOWHOOK_STORE_WRITER="process", FLOWHOOK_STORE_WRITER_WAIT="1")
    done = subprocess.run(
        [sys.executable, str(path), "400"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "state COMPLETED" in done.stdout
    assert task_states(store) == [("COMPLETED", 400)]
    (last_batch,) = execute(store, "SELECT last_batch FROM processes")[0]
    assert last_batch >= FRAME_KEYS  # numbered by frames: the child wrote them
    assert "writer process" not in done.stderr


def test_states_with_text_of_a_str_subclass_and_run_logs_go_through_the_child(
    modules: Path, store: Store
) -> None:
    """A frame holding what the wire cannot take as it is (text of a subclass of ``str`` in a
    state's message, run log records) still goes to the child, each such write pickled: the
    child writes it all, and stays the writer."""
    script = """
import sys
from flowhook import flow, get_run_logger, states, task

class Note(str):
    pass

@task
def noted(i: int):
    get_run_logger().warning("noted %d", i)
    return states.Completed(message=Note(f"note {i}"))

@flow
def notes(n: int) -> None:
    for i in range(n):
        noted(i)

notes(int(sys.argv[1]))
"""
    path = write_module(modules, "notes", script)
    env = environment(modules, FLOWHOOK_STORE_WRITER="process", FLOWHOOK_STORE_WRITER_WAIT="1")
    done = subprocess.run(
        [sys.executable, str(path), "50"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    messages = execute(store, "SELECT state_message FROM task_runs ORDER BY created")
    assert sorted(message for (message,) in messages) == sorted(f"note {i}" for i in range(50))
    ((flow_run_id,),) = execute(store, "SELECT id FROM flow_runs")
    logged = [record.message for record in store.run_logs(flow_run_id)]
    assert sorted(logged) == sorted(f"noted {i}" for i in range(50))
    (last_batch,) = execute(store, "SELECT last_batch FROM processes")[0]
    assert last_batch >= FRAME_KEYS  # the child wrote them
    assert "writer process" not in done.stderr


def test_the_child_starts_only_once_a_process_wrote_many_runs(modules: Path, store: Store) -> None:
    """Without FLOWHOOK_STORE_WRITER_WAIT: a short flow is written by the thread (no child is
    started); a long one switches to the child on the way, every run written once."""
    short = run_flow(modules, "pass", 4, FLOWHOOK_STORE_WRITER_WAIT="0")
    assert writer_line(short)[0] == -1
    assert short.wait(60) == 0
    assert execute(store, "SELECT last_batch FROM processes")[0][0] < FRAME_KEYS
    started = "assert writer.wait_started(60)"  # after 1,000 writes: it was started
    long = run_flow(modules, started, 3000, FLOWHOOK_STORE_WRITER_WAIT="0")
    _, err = long.communicate(timeout=120)
    assert long.returncode == 0, err
    (last_batch,) = execute(store, "SELECT max(last_batch) FROM processes")[0]
    assert last_batch >= FRAME_KEYS
    ((flow_run_id,),) = execute(
        store, "SELECT id FROM flow_runs WHERE flow_name = 'halves' ORDER BY created DESC LIMIT 1"
    )
    assert len(history(store, flow_run_id)) == 3 * 3001


def test_flush_returns_once_the_child_committed_and_the_outbox_wakes_the_sender(
    store: Store,
) -> None:
    settings = load_settings()
    process_id = store.register_process(current_process("test"))
    woken = threading.Event()
    writer = ProcessWriter(settings, store, process_id, on_outbox=woken.set, wait_started=True)
    try:
        assert writer.pid is not None and writer.wait_started(0)
        entry = OutboxEntry("k1", "slack", "ops", "rule", "flow", "r1", "Failed", "s", "b", 1.0)
        writer.submit((entry,))
        assert writer.flush()
        assert execute(store, "SELECT idempotency_key FROM notification_outbox") == [("k1",)]
        assert woken.wait(5)
        assert writer.everything_written and writer.held_back == 0
    finally:
        writer.close()
    # close() returns once the child said it wrote everything; it exits on its own right after
    wait_for(lambda: gone(writer.pid), timeout=15, what="the writer process to exit")  # type: ignore[arg-type]


def test_a_frame_bigger_than_a_default_pipe_is_shipped_while_the_child_is_not_reading(
    store: Store,
) -> None:
    """A frame of 1024 writes is over 64 kB (a pipe's default room): the flow's thread ships it
    without waiting for the child to read it (here, stopped)."""
    process_id = store.register_process(current_process("test"))
    writer = ProcessWriter(load_settings(), store, process_id, wait_started=True)
    assert writer.pid is not None and writer.wait_started(0)
    runs = [
        plain_record(NewRun("flow", uuid.uuid4(), f"run-{i}", "f", "m:f", 1.5, process_id))
        for i in range(1100)
    ]
    shipped = threading.Event()

    def submit_all() -> None:
        for record in runs:
            writer.submit((record,))
        shipped.set()

    os.kill(writer.pid, signal.SIGSTOP)
    try:
        threading.Thread(target=submit_all, daemon=True).start()
        assert shipped.wait(10)
    finally:
        os.kill(writer.pid, signal.SIGCONT)
    try:
        assert writer.flush()
        assert execute(store, "SELECT count(*) FROM flow_runs") == [(1100,)]
    finally:
        writer.close()


def test_the_parent_killed_the_child_writes_what_it_received_without_a_heartbeat_and_exits(
    modules: Path, store: Store
) -> None:
    proc = run_flow(modules, "time.sleep(60)", 200)
    child, _ = writer_line(proc)
    wait_for(lambda: task_states(store) == [("COMPLETED", 100)], what="the first half")
    killed_at = time.time()
    proc.kill()
    proc.wait()
    wait_for(lambda: gone(child), timeout=15, what="the writer process to exit")
    (beat,) = execute(store, "SELECT last_heartbeat FROM processes")[0]
    assert beat <= killed_at
    (flow_state,) = execute(store, "SELECT state_type FROM flow_runs")[0]
    assert flow_state == "RUNNING"  # until a reaper finds the parent dead
    from flowhook._runtime.reaper import reap

    reaped = reap(store, settings=load_settings(), worker="test")
    assert [item.run.kind for item in reaped] == ["flow"]
    (flow_state,) = execute(store, "SELECT state_type FROM flow_runs")[0]
    assert flow_state == "CRASHED"


def test_the_child_killed_the_parent_writes_the_rest_itself_nothing_lost_nothing_twice(
    modules: Path, store: Store
) -> None:
    kill = "os.kill(writer.pid, 9); time.sleep(0.2)"
    proc = run_flow(modules, kill, 600)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert err.count("writer process ended unexpectedly") == 1
    assert "could not record" not in err
    assert task_states(store) == [("COMPLETED", 600)]
    assert_each_state_once(store, 600)


def test_the_child_killed_mid_batch_leaves_no_run_written_twice(
    modules: Path, store: Store
) -> None:
    """Killed while writing: the frames it may have committed are written again with their
    keys, which the store skips; the others are written."""
    kill = """
for i in range(2000):
    step(i)
    if i == 1500:
        os.kill(writer.pid, 9)
"""
    proc = run_flow(modules, kill.replace("\n", "\n    "), 0)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    assert "could not record" not in err
    assert task_states(store) == [("COMPLETED", 2000)]
    assert_each_state_once(store, 2000)


def test_a_forked_child_never_keeps_the_writers_pipe(modules: Path, store: Store) -> None:
    """A fork of the flow's process (a process pool's worker, say) holds no end of the pipe:
    when the flow's process is killed, the writer process still sees it and exits."""
    fork = """
pid = os.fork()
if pid == 0:
    time.sleep(30)
    os._exit(0)
print("fork", pid, flush=True)
time.sleep(60)
"""
    proc = run_flow(modules, fork.replace("\n", "\n    "), 40)
    child, _ = writer_line(proc)
    forked = int(proc.stdout.readline().split()[1])  # type: ignore[union-attr]
    try:
        wait_for(lambda: task_states(store) == [("COMPLETED", 20)], what="the first half")
        proc.kill()
        proc.wait()
        wait_for(lambda: gone(child), timeout=15, what="the writer process to exit")
    finally:
        os.kill(forked, signal.SIGKILL)


def write_one_message(store: Store, settings: StoreSettings, key: str) -> ProcessWriter:
    """A :class:`ProcessWriter` of ``settings``, once its child started or failed, writes one
    outbox message keyed ``key`` and closes; the message is then in ``store``."""
    process_id = store.register_process(current_process("test"))
    writer = ProcessWriter(settings, store, process_id, wait_started=True)
    entry = OutboxEntry(key, "slack", "ops", "rule", "flow", "r1", "Failed", "s", "b", 1.0)
    assert writer.submit_and_wait((entry,))
    writer.close()
    assert execute(store, "SELECT idempotency_key FROM notification_outbox") == [(key,)]
    return writer


def test_a_child_that_cannot_open_the_store_leaves_the_writing_to_a_thread(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings()
    unreachable = type(settings)(
        home=settings.home, url="postgresql://nobody@127.0.0.1:1/none", lock_timeout_seconds=1
    )
    with caplog.at_level(logging.WARNING, "flowhook.store"):
        write_one_message(store, unreachable, "k2")
    messages = [r.getMessage() for r in caplog.records if "writer process" in r.getMessage()]
    assert len(messages) == 1 and "runs are written by a thread" in messages[0]


def test_a_child_running_an_upgraded_flowhook_leaves_the_writing_to_a_thread(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """flowhook upgraded on disk while the flow's process ran: the child imports the new code,
    which may read the frames otherwise; it refuses, and the thread writes everything."""
    upgraded = tmp_path / "upgraded"
    shutil.copytree(
        Path(flowhook.__file__).parent,
        upgraded / "flowhook",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    (upgraded / "flowhook" / "_version.py").write_text('__version__ = "99.0.0"\n')
    monkeypatch.syspath_prepend(str(upgraded))  # where the child looks first
    with caplog.at_level(logging.WARNING, "flowhook.store"):
        write_one_message(store, load_settings(), "k4")
    messages = [r.getMessage() for r in caplog.records if "writer process" in r.getMessage()]
    assert messages == [
        f"the writer process did not start (it runs flowhook 99.0.0, wire {WIRE_VERSION}, the "
        f"flow's process flowhook {flowhook.__version__}, wire {WIRE_VERSION}: flowhook was "
        "upgraded or reinstalled while the flow's process ran; restart that process to write "
        "through a writer process again): runs are written by a thread"
    ]


@pytest.mark.sqlite_only
def test_a_frozen_application_never_starts_itself_as_the_writer(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """In a frozen application (PyInstaller and the like) ``sys.executable`` is the
    application: running it as the writer would start the application again."""
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    with caplog.at_level(logging.WARNING, "flowhook.store"):
        writer = write_one_message(store, load_settings(), "k3")
    assert writer.pid is None
    assert "a frozen application has no Python interpreter to start" in caplog.text
    assert "runs are written by a thread" in caplog.text


def test_a_bad_writer_setting_is_one_line_naming_the_choices() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"FLOWHOOK_STORE_WRITER": "fork"})
    assert str(caught.value) == (
        "FLOWHOOK_STORE_WRITER takes 'auto', 'thread' or 'process', got 'fork'"
    )


@pytest.mark.sqlite_only
def test_writes_past_the_held_back_limit_are_counted_lost_when_the_child_dies(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """The store is locked, so the child holds every write; the flow's process keeps at most
    the held-back limit of them to write again. When the child is killed, what it kept is
    written, and the rest is counted in the exit line, not silently gone."""
    settings = attrs.evolve(load_settings(), lock_timeout_seconds=0.1)
    process_id = store.register_process(current_process("test"))
    writer = ProcessWriter(settings, store, process_id, max_held_back=6, wait_started=True)
    locker = sqlite3.connect(settings.database, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    flow_runs = []
    for _ in range(10):  # a frame each: a new flow run, Pending, Running (two states)
        flow_run_id = uuid.uuid4()
        running = states.Running(run_id=flow_run_id)
        writer.submit_and_wait(
            (
                NewRun("flow", flow_run_id, "a-run", "pipeline", None, time.time(), process_id),
                Transition("flow", flow_run_id, flow_run_id, states.Pending(), 0, None, None),
                Transition("flow", flow_run_id, flow_run_id, running, 1, running.timestamp, None),
            )
        )
        flow_runs.append(str(flow_run_id))
    assert not writer.everything_written and writer.held_back == 4  # the child's cap: 6 writes
    os.kill(writer.pid, signal.SIGKILL)  # type: ignore[arg-type]
    locker.rollback()
    with caplog.at_level(logging.ERROR, logger="flowhook.store"):
        writer.close()
    written = [run_id for (run_id,) in execute(store, "SELECT id FROM flow_runs ORDER BY created")]
    assert written == flow_runs[-2:]  # the last two frames were kept (6 writes)
    assert writer.lost == 2 * 8
    assert "16 state events were not recorded" in caplog.text


def test_a_frame_kept_to_write_again_gives_back_its_writes_pickled_ones_too() -> None:
    """The flow's process keeps each frame as it shipped it until the child acknowledges it;
    if the child dies, it writes the frame's writes itself, as they were submitted."""
    flow_id = uuid.uuid4()
    writes: list[Write] = [
        new_run_record("flow", flow_id, "f", "f", None, 1.0, None),
        HookError("flow", flow_id, flow_id, 2.0, "a hook raised", None),
        OutboxEntry("k9", "slack", "ops", "rule", "flow", str(flow_id), "Failed", "s", "b", 3.0),
    ]
    assert frame_writes(frame_data(7, writes, False)) == writes  # pickled: a "p" frame
    assert frame_writes(frame_data(8, writes[:1], True)) == writes[:1]  # plain: a "w" frame


def test_a_frame_being_shipped_when_the_child_dies_is_written_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child dies while the flow's thread is making a frame: the recovery waits for that
    frame before it takes the frames to write again, so it is written, not left behind."""
    from flowhook._runtime import writer_wire

    process_id = store.register_process(current_process("test"))
    writer = ProcessWriter(load_settings(), store, process_id, wait_timeout=10, wait_started=True)
    making, go = threading.Event(), threading.Event()
    make_frame = writer_wire.frame_data

    def slow_frame(frame: int, writes: list[Write], now: bool) -> bytes:
        if writes:
            making.set()
            go.wait(10)
        return make_frame(frame, writes, now)

    monkeypatch.setattr(writer_wire, "frame_data", slow_frame)
    flow_run_id = uuid.uuid4()
    running = states.Running(run_id=flow_run_id)
    writes = (
        NewRun("flow", flow_run_id, "a-run", "pipeline", None, time.time(), process_id),
        Transition("flow", flow_run_id, flow_run_id, states.Pending(), 0, None, None),
        Transition("flow", flow_run_id, flow_run_id, running, 1, running.timestamp, None),
    )
    waited: list[bool] = []
    shipping = threading.Thread(target=lambda: waited.append(writer.submit_and_wait(writes)))
    shipping.start()
    try:
        assert making.wait(10)
        os.kill(writer.pid, signal.SIGKILL)  # type: ignore[arg-type]
        wait_for(lambda: writer._gone, what="the flow's process to see the child gone")
        time.sleep(0.5)  # the recovery runs up to where it needs the frame being made
    finally:
        go.set()
        shipping.join(30)
    assert waited == [True]  # the frame was written again, and its caller went on
    writer.close()
    assert execute(store, "SELECT id, state_type FROM flow_runs") == [(str(flow_run_id), "RUNNING")]
