"""Run logs: the records of run loggers and of print under log_prints, stored with their runs
(``Store.run_logs``), capped per run, pruned and copied with them, and read back by
``flowhook runs logs`` in real processes."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from store_helpers import FLOWHOOK, environment, execute, flowhook_cli, wait_for, write_module

import flowhook._runtime.attach
from flowhook import flow, get_run_logger, task
from flowhook.store import (
    RunLog,
    RunQuery,
    SQLiteStore,
    Store,
    copy_history,
    load_settings,
    open_store,
)
from flowhook_hookspec.errors import ConfigError
from flowhook_hookspec.run_ids import short_run_id


def logs_of(store: Store, run_id: str, **options: Any) -> list[tuple[str | None, str, str]]:
    return [
        (record.task_run_id, record.level_name, record.message)
        for record in store.run_logs(run_id, **options)
    ]


# -- the store ----------------------------------------------------------------------------------


def test_run_logs_of_a_flow_run_a_task_run_by_level_and_from_an_id(store: Store) -> None:
    now = time.time()
    store.write(
        [
            RunLog("flow-1", None, logging.INFO, now, "flow starts", "flowhook.flow_runs"),
            RunLog("flow-1", "task-1", logging.DEBUG, now, "detail", "flowhook.task_runs"),
            RunLog("flow-2", None, logging.INFO, now, "another flow", "flowhook.flow_runs"),
            RunLog(None, "task-2", logging.ERROR, now, "alone", "flowhook.task_runs"),
        ]
    )
    store.write([RunLog("flow-1", "task-1", logging.WARNING, now, "later", "flowhook.task_runs")])
    assert logs_of(store, "flow-1") == [
        (None, "INFO", "flow starts"),
        ("task-1", "DEBUG", "detail"),
        ("task-1", "WARNING", "later"),
    ]
    assert logs_of(store, "task-1") == [
        ("task-1", "DEBUG", "detail"),
        ("task-1", "WARNING", "later"),
    ]
    assert logs_of(store, "task-2") == [("task-2", "ERROR", "alone")]
    assert logs_of(store, "flow-1", min_level=logging.INFO) == [
        (None, "INFO", "flow starts"),
        ("task-1", "WARNING", "later"),
    ]
    records = store.run_logs("flow-1")
    assert [r.id for r in records] == sorted(r.id for r in records)
    assert logs_of(store, "flow-1", after_id=records[0].id, limit=1) == [
        ("task-1", "DEBUG", "detail")
    ]
    assert records[0].time == now and records[0].logger == "flowhook.flow_runs"
    assert store.run_logs("nobody") == []


def test_text_a_database_cannot_hold_is_stored_escaped(store: Store, store_backend: str) -> None:
    store.write([RunLog("flow-1", None, logging.INFO, 1.0, "a\udcff b\x00c", "flowhook.flow_runs")])
    [record] = store.run_logs("flow-1")
    # SQLite holds NUL; both hold no lone surrogate.
    assert record.message == (
        "a\\udcff b\x00c" if store_backend == "sqlite" else "a\\udcff b\\x00c"
    )


def test_records_of_flows_tasks_and_prints_are_stored_with_their_runs(store: Store) -> None:
    @task(log_prints=True)
    def double(x: int) -> int:
        get_run_logger().info("doubling %d", x)
        print("printed", x)
        get_run_logger().debug("not stored at the default level")
        return 2 * x

    @flow
    def doubles() -> None:
        get_run_logger().warning("starting")
        double(1)
        try:
            raise ValueError("bad")
        except ValueError:
            get_run_logger().exception("caught")

    doubles()
    [run] = store.list_flow_runs(RunQuery())
    [task_run] = store.task_run_page(run.id, limit=1000)
    records = store.run_logs(run.id)
    assert [(r.task_run_id, r.level_name, r.message.splitlines()[0]) for r in records] == [
        (None, "WARNING", "starting"),
        (task_run.id, "INFO", "doubling 1"),
        (task_run.id, "INFO", "printed 1"),
        (None, "ERROR", "caught"),
    ]
    assert {r.flow_run_id for r in records} == {run.id}
    assert records[-1].message.endswith("ValueError: bad")
    assert [r.logger for r in records[:2]] == ["flowhook.flow_runs", "flowhook.task_runs"]
    assert logs_of(store, task_run.id) == [
        (task_run.id, "INFO", "doubling 1"),
        (task_run.id, "INFO", "printed 1"),
    ]


def test_records_of_the_final_states_hooks_are_stored_too(store: Store) -> None:
    def said_done(flow: Any, flow_run: Any, state: Any) -> None:
        get_run_logger().info("the hook says %s", state.name)

    @flow(on_completion=[said_done])
    def hooked() -> None:
        get_run_logger().info("body")

    hooked()
    flowhook._runtime.attach.detach()  # the hook's records go with the next batch, or at exit
    [run] = store.list_flow_runs(RunQuery())
    hook = f"{said_done.__name__!r}"
    assert logs_of(store, run.id) == [
        (None, "INFO", "body"),
        (None, "INFO", f"Running hook {hook} in response to entering state 'Completed'"),
        (None, "INFO", "the hook says Completed"),
        (None, "INFO", f"Hook {hook} finished running successfully"),
    ]


def test_the_limit_drops_records_and_says_how_many(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWHOOK_RUN_LOG_LIMIT", "3")
    flowhook._runtime.attach.detach()

    @task
    def chatty(i: int) -> None:
        get_run_logger().info("task %d", i)

    @flow
    def talkative() -> None:
        for i in range(5):
            chatty(i)

    @flow
    def quiet() -> None:
        get_run_logger().info("one")

    talkative()
    quiet()
    runs = store.list_flow_runs(RunQuery())
    [talked] = [run for run in runs if run.owner_name == "talkative"]
    [kept] = [run for run in runs if run.owner_name == "quiet"]
    messages = [(level, message) for _, level, message in logs_of(store, talked.id)]
    assert messages == [
        ("INFO", "task 0"),
        ("INFO", "task 1"),
        ("INFO", "task 2"),
        (
            "WARNING",
            "2 log records were dropped: this run reached its limit of 3 records "
            "(FLOWHOOK_RUN_LOG_LIMIT)",
        ),
    ]
    assert logs_of(store, kept.id) == [(None, "INFO", "one")]


def test_prune_deletes_the_logs_of_pruned_runs_and_copy_copies_them(
    store: Store, tmp_path: Path
) -> None:
    @flow
    def logged() -> None:
        get_run_logger().info("kept until pruned")

    logged()
    flowhook._runtime.attach.detach()
    [run] = store.list_flow_runs(RunQuery())
    target = SQLiteStore(tmp_path / "copy.db")
    try:
        assert copy_history(store, target)["run_logs"] == 1
        assert logs_of(target, run.id) == [(None, "INFO", "kept until pruned")]
    finally:
        target.close()
    dry = store.prune(time.time() + 1, dry_run=True)
    assert dry.logs == 1 and len(store.run_logs(run.id)) == 1
    assert store.prune(time.time() + 1).logs == 1
    assert store.run_logs(run.id) == []


def test_subflows_count_in_their_flow_runs_limit_and_standalone_tasks_have_their_own(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWHOOK_RUN_LOG_LIMIT", "2")
    flowhook._runtime.attach.detach()

    @flow
    def child() -> None:
        for i in range(2):
            get_run_logger().info("child %d", i)

    @flow
    def parent() -> None:
        get_run_logger().info("parent")
        child()

    @task
    def alone() -> None:
        for i in range(3):
            get_run_logger().info("alone %d", i)

    parent()
    alone()
    runs = {run.owner_name: run for run in store.list_flow_runs(RunQuery())}
    [subflow], _ = store.subflow_run_page(runs["parent"].id, limit=10)
    dropped = (
        "WARNING",
        "1 log record was dropped: this run reached its limit of 2 records "
        "(FLOWHOOK_RUN_LOG_LIMIT)",
    )
    assert logs_of(store, runs["parent"].id) == [(None, "INFO", "parent"), (None, *dropped)]
    assert logs_of(store, subflow.id) == [(None, "INFO", "child 0")]
    task_id = runs["alone"].id
    assert logs_of(store, task_id) == [
        (task_id, "INFO", "alone 0"),
        (task_id, "INFO", "alone 1"),
        (task_id, *dropped),
    ]
    assert {(r.flow_run_id, r.logger) for r in store.run_logs(task_id)} == {
        (None, "flowhook.task_runs")
    }


@pytest.mark.sqlite_only
def test_the_limit_setting() -> None:
    assert load_settings({}).run_log_limit == 10_000
    assert load_settings({"FLOWHOOK_RUN_LOG_LIMIT": " 0 "}).run_log_limit == 0
    for bad in ("-1", "many", "1.5"):
        with pytest.raises(ConfigError) as raised:
            load_settings({"FLOWHOOK_RUN_LOG_LIMIT": bad})
        assert str(raised.value) == (
            "FLOWHOOK_RUN_LOG_LIMIT takes a whole number >= 0, e.g. FLOWHOOK_RUN_LOG_LIMIT=10000; "
            f"got {bad!r}"
        )


# -- in real processes --------------------------------------------------------------------------

FOLLOWED = """
    import sys, time
    from pathlib import Path
    from flowhook import flow, task, get_run_logger

    @task
    def step(i):
        get_run_logger().warning("step %d", i)

    @flow(log_prints=True)
    def followed(go: str):
        print("waiting")
        step(0)
        while not Path(go).exists():
            time.sleep(0.02)
        step(1)
        get_run_logger().error("done")

    if __name__ == "__main__":
        followed(sys.argv[1])
"""


def _flow_run_id(store: Store) -> str:
    found = store.list_flow_runs(RunQuery())
    return found[0].id if found else ""


def test_runs_logs_follows_a_run_of_another_process_until_it_ends(
    modules: Path, tmp_path: Path
) -> None:
    script = write_module(modules, "followed", FOLLOWED)
    env = environment(modules)
    go = tmp_path / "go"
    flow_process = subprocess.Popen([sys.executable, str(script), str(go)], env=env)
    followers: list[subprocess.Popen[str]] = []
    # A follower that never prints would block readline(): the processes are killed after 60 s.
    watchdog = threading.Timer(60, lambda: [p.kill() for p in (flow_process, *followers)])
    watchdog.start()
    try:
        store = wait_for(lambda: _try_open(), what="the store")
        try:
            run_id = wait_for(lambda: _flow_run_id(store), what="the flow run")
            wait_for(lambda: len(store.run_logs(run_id)) == 2, what="the first records")
        finally:
            store.close()
        for extra in ((), ("--json",)):
            followers.append(
                subprocess.Popen(
                    [FLOWHOOK, "runs", "logs", short_run_id(run_id), "--follow", *extra],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=env,
                )
            )
        interrupted = subprocess.Popen(
            [FLOWHOOK, "runs", "logs", run_id, "--follow"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        followers.append(interrupted)
        assert followers[0].stdout is not None
        first = followers[0].stdout.readline()  # it prints what is there, then waits
        assert first.rstrip().endswith("INFO     waiting")
        assert interrupted.stdout is not None and interrupted.stdout.readline()
        interrupted.send_signal(signal.SIGINT)
        assert interrupted.wait(30) == 130  # a hang guard: a loaded CI machine is slow
        assert interrupted.stderr is not None and interrupted.stderr.read() == ""
        go.touch()
        assert flow_process.wait(30) == 0
        # The rest from the same buffered reader (communicate() would skip what readline() read
        # ahead); the watchdog ends a follower that never stops.
        plain = followers[0].stdout.read()
        assert followers[0].stderr is not None
        error = followers[0].stderr.read()
        followers[0].wait(30)
        assert followers[0].returncode == 0, error
        lines = (first + plain).splitlines()
        assert len(lines) == 4, lines
        assert [line.split(None, 2)[2] for line in lines] == [
            "INFO     waiting",
            f"WARNING  [{lines[1].split('[')[1].split(']')[0]}] step 0",
            f"WARNING  [{lines[2].split('[')[1].split(']')[0]}] step 1",
            "ERROR    done",
        ]
        assert lines[1].split("[")[1].startswith("step-")
        out, error = followers[1].communicate(timeout=30)
        assert followers[1].returncode == 0, error
        objects = [json.loads(line) for line in out.splitlines()]
        assert [(o["level_name"], o["message"]) for o in objects] == [
            ("INFO", "waiting"),
            ("WARNING", "step 0"),
            ("WARNING", "step 1"),
            ("ERROR", "done"),
        ]
        assert {o["flow_run_id"] for o in objects} == {run_id}
        assert objects[1]["task_run_name"].startswith("step-") and objects[1]["task_run_id"]
        assert objects[0]["level"] == 20 and objects[0]["logger"] == "flowhook.flow_runs"
        assert objects[0]["time"].endswith("+00:00") and isinstance(objects[0]["timestamp"], float)
    finally:
        watchdog.cancel()
        for process in (flow_process, *followers):
            if process.poll() is None:
                process.kill()
                process.wait()


def _try_open() -> Store | None:
    try:
        store = open_store(create=False)
    except Exception:
        return None
    return store


def test_runs_logs_levels_and_errors(modules: Path, tmp_path: Path) -> None:
    script = write_module(modules, "followed", FOLLOWED)
    env = environment(modules)
    go = tmp_path / "go"
    go.touch()
    ran = subprocess.run(
        [sys.executable, str(script), str(go)],
        env=env,
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    )
    # Storing INFO records changes nothing on the console: Python's last-resort handler still
    # prints the warnings, and the INFO record of print() is stored, not printed.
    assert "' - step 0\n" in ran.stderr and "' - done\n" in ran.stderr
    assert "waiting" not in ran.stderr + ran.stdout
    store = open_store()
    try:
        run_id = _flow_run_id(store)
        [first_task, _] = store.task_run_page(run_id, limit=1000)
    finally:
        store.close()
    for level in ("warning", "WARNING", "30"):
        found = flowhook_cli("runs", "logs", run_id, "--level", level, env=env)
        assert found.returncode == 0, found.stderr
        assert [line.split(None, 2)[2].split()[0] for line in found.stdout.splitlines()] == [
            "WARNING",
            "WARNING",
            "ERROR",
        ]
    of_task = flowhook_cli("runs", "logs", short_run_id(first_task.id), env=env)
    assert of_task.stdout.splitlines()[0].endswith(f"WARNING  [{first_task.name}] step 0")
    assert len(of_task.stdout.splitlines()) == 1
    none = flowhook_cli("runs", "logs", run_id, "--level", "critical", env=env)
    assert none.returncode == 0
    assert (
        none.stdout
        == f"No log records stored for flow run {_name(env, run_id)!r} ({short_run_id(run_id)}) at that level.\n"
    )
    bad = flowhook_cli("runs", "logs", run_id, "--level", "loud", env=env)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr == (
        "Error: --level takes one of debug, info, warning, error, critical (any case) or a "
        "number >= 0, got 'loud'\n"
    )
    unknown = flowhook_cli("runs", "logs", "abcdef12", env=env)
    assert unknown.returncode == 1
    assert unknown.stderr == "Error: no run has an id starting with 'abcdef12'\n"


def _name(env: dict[str, str], run_id: str) -> str:
    shown = flowhook_cli("runs", "show", run_id, "--json", env=env)
    return str(json.loads(shown.stdout)["run"]["name"])


KILLED = """
    import sys, time
    from pathlib import Path
    from flowhook import flow, get_run_logger

    @flow
    def killed(marker: str):
        get_run_logger().info("before the kill")
        Path(marker).touch()
        time.sleep(600)

    if __name__ == "__main__":
        killed(sys.argv[1])
"""


def test_records_written_before_a_sigkill_are_kept(modules: Path, tmp_path: Path) -> None:
    script = write_module(modules, "killed", KILLED)
    marker = tmp_path / "marker"
    child = subprocess.Popen([sys.executable, str(script), str(marker)], env=environment(modules))
    try:
        wait_for(marker.exists, what="the flow to log")
        store = wait_for(_try_open, what="the store")
        try:
            run_id = wait_for(lambda: _flow_run_id(store), what="the flow run")
            # Records are written with the next batch, within the writer's linger.
            wait_for(lambda: store.run_logs(run_id), what="the record to be written")
        finally:
            store.close()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    store = open_store()
    try:
        assert logs_of(store, run_id) == [(None, "INFO", "before the kill")]
        assert execute(store, "SELECT count(*) FROM run_logs") == [(1,)]
    finally:
        store.close()
