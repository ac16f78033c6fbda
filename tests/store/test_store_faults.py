"""Crash detection and recording under faults, with real processes: SIGKILL, locked, deleted and
refusing databases, pruning under a live process, strings SQLite will not take."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from locked_store import (
    FAILED_RULE,
    RETRY_ENDED,
    lock_database,
    outbox_messages,
    touch,
    wait_for_the_retry_to_register,
)
from store_helpers import (
    environment,
    execute,
    flowhook_cli,
    make_distribution,
    start_script,
    wait_for,
    write_module,
)

from flowhook.store import RunQuery, open_store

# On both stores, but those that lock, delete or edit the SQLite file itself (sqlite_only).
pytestmark = pytest.mark.slow

#: Runs flow ``first``, then waits for ``<marker>.go``, then runs flow ``second`` whose task
#: waits for ``<marker>.finish`` (or forever), then stays alive until ``<marker>.exit``.
#: Written after :data:`RETRY_ENDED`.
STAGED = """
    import sys, time
    from pathlib import Path
    from flowhook import flow, task

    marker = sys.argv[1]

    def wait_for(suffix):
        while not Path(marker + suffix).exists():
            time.sleep(0.02)

    @task
    def step(i: int) -> int:
        return i

    @task
    def held(i: int) -> int:
        Path(marker + ".started").write_text("started")
        wait_for(".finish")
        return i

    @flow
    def first() -> int:
        return sum(step(i) for i in range(5))

    @flow
    def second() -> int:
        return held(1) + sum(step(i) for i in range(250))

    @second.on_crashed
    def crashed(flow, flow_run, state):
        import os
        Path(os.environ["CRASH_LOG"] + ".flow-hook").write_text(state.name)

    if __name__ == "__main__":
        import staged
        staged.first()
        Path(marker + ".first").write_text("done")
        wait_for(".go")
        retry_ended()
        staged.second()
        Path(marker + ".second").write_text("done")
        wait_for(".exit")
"""

CRASH_PLUGIN = """
    import os, time
    from flowhook import hookimpl

    def _log(line):
        with open(os.environ["CRASH_LOG"], "a") as f:
            f.write(line + "\\n")
            f.flush()
            os.fsync(f.fileno())

    @hookimpl
    def on_flow_run_crashed(flow, flow_run, state):
        _log(f"start {flow_run.id}")
        time.sleep(float(os.environ.get("CRASH_HOOK_SECONDS", "0")))
        _log(f"end {flow_run.id}")

    @hookimpl
    def on_task_run_crashed(task_run, state):
        _log(f"start {task_run.id}")
        time.sleep(float(os.environ.get("CRASH_HOOK_SECONDS", "0")))
        _log(f"end {task_run.id}")
"""

CRASH_RULE = """
[[notifications]]
on = ["Crashed"]
blocks = ["slack-webhook/ops"]

[blocks."slack-webhook/ops"]
url = "http://127.0.0.1:9/nothing-listens-here"
"""


@pytest.fixture
def staged(modules: Path, tmp_path: Path, flowhook_home: Path) -> tuple[Path, dict[str, str]]:
    """The staged script, a crash-watching plugin, a Crashed rule, and their environment."""
    script = write_module(modules, "staged", RETRY_ENDED + STAGED)
    write_module(modules, "crash_watcher", CRASH_PLUGIN)
    make_distribution(modules, "crash-watcher", {"crashwatch": "crash_watcher"})
    config = tmp_path / "flowhook.toml"
    config.write_text(CRASH_RULE)
    env = environment(
        modules,
        CRASH_LOG=str(tmp_path / "crashes.log"),
        FLOWHOOK_CONFIG=str(config),
        FLOWHOOK_HOME=str(flowhook_home),
    )
    return script, env


def _runs(flow_name: str | None = None) -> list:
    store = open_store()
    try:
        return store.list_flow_runs(RunQuery(flow_name=flow_name, limit=100))
    finally:
        store.close()


def _wait_for_the_held_task(marker: Path) -> None:
    """Wait until the held task of flow ``second`` runs and the store shows it Running (the
    process writes it in the background)."""
    wait_for(Path(f"{marker}.started").exists, what="the held task to start")
    store = open_store()
    try:
        wait_for(
            lambda: store._read("SELECT 1 FROM task_runs WHERE state_type = 'RUNNING'"),
            timeout=60,
            what="the running task run to be recorded",
        )
    finally:
        store.close()


def _kill_when_running(child: subprocess.Popen[str], marker: Path) -> None:
    """SIGKILL ``child`` once the held task of flow ``second`` runs and is recorded."""
    try:
        _wait_for_the_held_task(marker)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)


# -- 1. pruning never forgets a live process ------------------------------------------------------


def test_prune_keeps_a_live_process_whose_later_crash_is_reaped(
    staged: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    script, env = staged
    marker = tmp_path / "m"
    child = start_script(script, marker, env)
    wait_for(Path(f"{marker}.first").exists, what="the first flow")
    pruned = flowhook_cli("runs", "prune", "--older-than", "0s", env=env)
    assert pruned.returncode == 0, pruned.stderr
    assert "Deleted 1 flow runs" in pruned.stdout  # the finished run goes, the process stays
    touch(marker, ".go")
    _kill_when_running(child, marker)

    reaped = flowhook_cli("runs", "reap", env=env)
    assert reaped.returncode == 0, reaped.stderr
    assert "Crashed flow run" in reaped.stdout, reaped.stdout
    [run] = _runs("second")
    assert run.state_name == "Crashed"
    assert f"pid {child.pid} is no longer running" in (run.state_message or "")
    assert (tmp_path / "crashes.log.flow-hook").read_text() == "Crashed", (
        reaped.stdout + reaped.stderr
    )


def test_a_process_whose_row_was_deleted_registers_again(
    staged: tuple[Path, dict[str, str]], tmp_path: Path, flowhook_home: Path
) -> None:
    script, env = staged
    marker = tmp_path / "m"
    child = start_script(script, marker, env)
    wait_for(Path(f"{marker}.first").exists, what="the first flow")
    store = open_store()
    try:
        execute(store, "DELETE FROM flow_runs")
        execute(store, "DELETE FROM task_runs")
        assert execute(store, "SELECT count(*) FROM processes") == [(1,)]
        execute(store, "DELETE FROM processes")
    finally:
        store.close()
    touch(marker, ".go")
    _kill_when_running(child, marker)

    reaped = flowhook_cli("runs", "reap", env=env)
    assert "Crashed flow run" in reaped.stdout, reaped.stdout + reaped.stderr
    [run] = _runs("second")
    assert run.state_name == "Crashed"


# -- 2. a completed run is never reported Crashed --------------------------------------------------


def _second_flow_ends_under_a_lock(
    staged: tuple[Path, dict[str, str]], tmp_path: Path
) -> tuple[dict[str, str], Path, subprocess.Popen[str], Path, subprocess.Popen[bytes]]:
    """The staged script's second flow ends while another process holds the database, past
    the lock timeout (1 s): its last states cannot be written. The lock is held until the
    returned ``release`` file exists."""
    script, env = staged
    env = {**env, "FLOWHOOK_LOCK_TIMEOUT_SECONDS": "1"}
    marker = tmp_path / "m"
    child = start_script(script, marker, env)
    wait_for(Path(f"{marker}.first").exists, what="the first flow")
    touch(marker, ".go")
    _wait_for_the_held_task(marker)
    release = tmp_path / "release"
    locker = lock_database(Path(env["FLOWHOOK_HOME"]) / "flowhook.db", release)
    try:
        touch(marker, ".finish")
        wait_for(Path(f"{marker}.second").exists, what="the second flow to end")
    except BaseException:
        touch(release, "")
        child.kill()
        raise
    return env, marker, child, release, locker


@pytest.mark.sqlite_only
def test_a_lock_held_past_the_timeout_and_the_exit_is_no_crash(
    staged: tuple[Path, dict[str, str]], tmp_path: Path, flowhook_home: Path
) -> None:
    env, marker, child, release, locker = _second_flow_ends_under_a_lock(staged, tmp_path)
    try:
        touch(marker, ".exit")
        _, err = child.communicate(timeout=60)
    finally:
        touch(release, "")
        locker.wait(timeout=30)
    assert child.returncode == 0, err
    summary = [line for line in err.splitlines() if "were not recorded" in line]
    assert len(summary) == 1, err
    assert "state events of" in summary[0] and "database is locked" in summary[0]
    [note] = (flowhook_home / "exits").iterdir()  # its exit note, whole: no temporary file left
    assert note.suffix == ".json" and note.stat().st_mode & 0o777 == 0o600

    reaped = flowhook_cli("runs", "reap", env=env)
    assert reaped.returncode == 0, reaped.stderr
    assert "Crashed" not in reaped.stdout, reaped.stdout
    [run] = _runs("second")
    assert run.state_name == "Unrecorded"
    assert (run.state_message or "").startswith("final state not recorded")
    assert not (tmp_path / "crashes.log.flow-hook").exists()
    assert not (tmp_path / "crashes.log").exists()  # no plugin saw a crash
    assert outbox_messages() == []  # and no crash alert was queued
    assert not list((flowhook_home / "exits").iterdir())


@pytest.mark.sqlite_only
def test_states_held_back_by_a_lock_are_recorded_once_it_is_released(
    staged: tuple[Path, dict[str, str]], tmp_path: Path, flowhook_home: Path
) -> None:
    _, marker, child, release, locker = _second_flow_ends_under_a_lock(staged, tmp_path)
    try:
        time.sleep(1.5)  # at least one more failed attempt
    finally:
        touch(release, "")
        locker.wait(timeout=30)
    store = open_store()
    try:
        wait_for(
            lambda: (
                [r.state_name for r in store.list_flow_runs(RunQuery(flow_name="second"))]
                == ["Completed"]
            ),
            what="the held-back states to be written",
        )
        [run] = store.list_flow_runs(RunQuery(flow_name="second"))
        tasks = store.task_run_page(run.id, limit=1000)
        assert len(tasks) == 251 and {t.state_name for t in tasks} == {"Completed"}
    finally:
        store.close()
    touch(marker, ".exit")
    _, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert "were not recorded" not in err
    assert "can be written again" in err or "takes writes again" in err


# -- 3. a store unusable at the first run is attached later ---------------------------------------


@pytest.mark.sqlite_only
def test_a_store_locked_at_the_first_run_is_attached_by_a_later_run(
    staged: tuple[Path, dict[str, str]], tmp_path: Path, flowhook_home: Path
) -> None:
    script, env = staged
    assert flowhook_cli("runs", "ls", env=env).returncode == 0
    open_store().close()  # the database exists, with its schema
    release = tmp_path / "release"
    locker = lock_database(flowhook_home / "flowhook.db", release)
    marker = tmp_path / "m"
    started = time.monotonic()
    child = start_script(script, marker, env)
    try:
        wait_for(Path(f"{marker}.first").exists, timeout=60, what="the first flow")
        held_up = time.monotonic() - started
    finally:
        touch(release, "")
        locker.wait(timeout=30)
    assert held_up < 15  # the attach timeout (2 s) and a Python start, not the 30 s lock timeout
    wait_for_the_retry_to_register(child)
    touch(marker, ".go")
    touch(marker, ".finish")
    wait_for(Path(f"{marker}.second").exists, what="the second flow")
    touch(marker, ".exit")
    _, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert err.count("runs are not recorded for now") == 1, err
    assert [run.state_name for run in _runs("second")] == ["Completed"]
    assert _runs("first") == []


# -- 4. reaper hooks are at least once: see the kill storm below ---------------------------------

# -- 5. one bad string never loses the other runs -------------------------------------------------

SURROGATES = """
    import os, sys
    from flowhook import flow, task

    @task(task_run_name="copy-{name}")
    def copy(name: str) -> str:
        return name

    @flow(name="etl-files")
    def files(directory: str) -> int:
        names = sorted(os.listdir(directory))
        for name in names:
            copy(name)
        raise ValueError(f"stop after {len(names)} files")

    files(sys.argv[1])
"""


def test_lone_surrogates_are_recorded_escaped_with_every_other_run(
    modules: Path, tmp_path: Path, flowhook_home: Path
) -> None:
    directory = tmp_path / "files"
    directory.mkdir()
    os.close(os.open(bytes(directory) + b"/caf\xe9.txt", os.O_CREAT | os.O_WRONLY, 0o600))
    for i in range(40):
        (directory / f"file-{i:02}.txt").write_text("")
    script = write_module(modules, "surrogates", SURROGATES)
    config = tmp_path / "flowhook.toml"
    config.write_text(FAILED_RULE)
    env = environment(modules, FLOWHOOK_CONFIG=str(config), FLOWHOOK_HOME=str(flowhook_home))
    done = subprocess.run(
        [sys.executable, str(script), str(directory)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1 and "stop after 41 files" in done.stderr
    assert "could not record" not in done.stderr, done.stderr
    store = open_store()
    try:
        [run] = store.list_flow_runs(RunQuery())
        assert run.state_name == "Failed"
        names = {task.name for task in store.task_run_page(run.id, limit=1000)}
        assert len(names) == 41 and "copy-caf\\udce9.txt" in names
        assert len(store.list_outbox()) == 1  # the flow's alert
    finally:
        store.close()


POISONED = """
    from flowhook import flow, task

    @task(task_run_name="{label}")
    def step(label: str) -> str:
        return label

    @flow
    def mixed() -> None:
        for i in range(30):
            step(f"fine-{i}")
        step("poison")

    @flow
    def after() -> None:
        step("later")

    mixed()
    after()
"""


def test_a_run_the_database_refuses_is_left_out_alone(
    modules: Path, flowhook_home: Path, store_backend: str
) -> None:
    store = open_store()
    try:
        execute(
            store,
            "CREATE TRIGGER poison BEFORE INSERT ON task_runs WHEN NEW.name = 'poison' "
            "BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"
            if store_backend == "sqlite"
            else "ALTER TABLE task_runs ADD CONSTRAINT poisoned_row CHECK (name <> 'poison')",
        )
    finally:
        store.close()
    script = write_module(modules, "poisoned", POISONED)
    env = environment(modules, FLOWHOOK_HOME=str(flowhook_home))
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    store = open_store()
    try:
        runs = {run.owner_name: run for run in store.list_flow_runs(RunQuery())}
        assert runs["after"].state_name == "Completed"
        assert [t.name for t in store.task_run_page(runs["after"].id, limit=1000)] == ["later"]
    finally:
        store.close()
    refused = [line for line in done.stderr.splitlines() if "could not record run" in line]
    assert len(refused) == 1 and "poisoned" in refused[0], done.stderr
    assert runs["mixed"].id in refused[0]


# -- 6. a database deleted under a running process ------------------------------------------------


@pytest.mark.sqlite_only
def test_a_database_deleted_under_a_running_process_is_said_and_made_anew(
    staged: tuple[Path, dict[str, str]], tmp_path: Path, flowhook_home: Path
) -> None:
    script, env = staged
    marker = tmp_path / "m"
    child = start_script(script, marker, env)
    wait_for(Path(f"{marker}.first").exists, what="the first flow")
    (flowhook_home / "flowhook.db").unlink()
    touch(marker, ".go")
    touch(marker, ".finish")
    wait_for(Path(f"{marker}.second").exists, what="the second flow")
    touch(marker, ".exit")
    _, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    deleted = [line for line in err.splitlines() if "was deleted" in line]
    assert len(deleted) == 1, err
    [run] = _runs("second")
    assert run.state_name == "Completed"
    store = open_store()
    try:
        assert len(store.task_run_page(run.id, limit=1000)) == 251
        assert store.process(run.process_id or 0) is not None  # registered again, same id
    finally:
        store.close()


# -- 8. task runs called outside any flow ---------------------------------------------------------

STANDALONE = """
    import sys, time
    from pathlib import Path
    from flowhook import task

    @task
    def quick(x: int) -> int:
        return x + 1

    @task
    def slow(marker: str) -> None:
        Path(marker).write_text("started")
        time.sleep(600)

    if __name__ == "__main__":
        quick(1)
        slow(sys.argv[1])
"""


def test_a_standalone_task_run_is_listed_and_its_crash_reaped(
    modules: Path, tmp_path: Path, flowhook_home: Path
) -> None:
    script = write_module(modules, "standalone", STANDALONE)
    env = environment(modules, FLOWHOOK_HOME=str(flowhook_home))
    marker = tmp_path / "started"
    child = subprocess.Popen([sys.executable, str(script), str(marker)], env=env)
    try:
        wait_for(marker.exists, what="the slow task to start")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    listed = flowhook_cli("runs", "ls", env=env)
    assert "quick (task)" in listed.stdout and "Completed" in listed.stdout, listed.stdout
    assert "slow (task)" in listed.stdout
    reaped = flowhook_cli("runs", "reap", env=env)
    assert "Crashed task run" in reaped.stdout, reaped.stdout + reaped.stderr
    states = {run.owner_name: run.state_name for run in _runs()}
    assert states == {"quick": "Completed", "slow": "Crashed"}


# -- 4. reaper hooks and alerts are at least once, even when reapers are killed -------------------

VICTIM = """
    import sys, time
    from pathlib import Path
    from flowhook import flow, task

    @task
    def block(i: int, marker: str) -> None:
        Path(f"{marker}.{i}").write_text("started")
        time.sleep(600)

    @flow(name="victim")
    def victim(marker: str) -> None:
        futures = [block.submit(i, marker) for i in range(4)]
        for future in futures:
            future.wait()

    if __name__ == "__main__":
        import victim_flow
        victim_flow.victim(sys.argv[1])
"""

#: A process that reaps at start-up (its first run), as any flow process does.
STARTUP_REAPER = """
    from flowhook import flow

    @flow(name="bystander")
    def bystander() -> int:
        return 1

    bystander()
"""


def test_kill_storm_with_reapers_killed_midway_loses_and_doubles_nothing(
    modules: Path, tmp_path: Path, flowhook_home: Path, store_backend: str
) -> None:
    import random

    victim = write_module(modules, "victim_flow", VICTIM)
    bystander = write_module(modules, "bystander", STARTUP_REAPER)
    write_module(modules, "crash_watcher", CRASH_PLUGIN)
    make_distribution(modules, "crash-watcher", {"crashwatch": "crash_watcher"})
    config = tmp_path / "flowhook.toml"
    config.write_text(CRASH_RULE)
    crash_log = tmp_path / "crashes.log"
    env = environment(
        modules,
        CRASH_LOG=str(crash_log),
        CRASH_HOOK_SECONDS="0.02",
        FLOWHOOK_CONFIG=str(config),
        FLOWHOOK_HOME=str(flowhook_home),
        FLOWHOOK_DELIVERY_BACKOFF_SECONDS="60",
    )
    rng = random.Random(1302)
    # Fewer on PostgreSQL, whose processes take longer to start (a pool, a listener).
    iterations, reapers_killed = (40 if store_backend == "sqlite" else 12), 0
    for iteration in range(iterations):
        marker = tmp_path / f"victim-{iteration}"
        child = subprocess.Popen([sys.executable, str(victim), str(marker)], env=env)
        try:
            wait_for(
                lambda: all(Path(f"{marker}.{i}").exists() for i in range(4)),  # noqa: B023
                what="the victim's tasks to start",
            )
            time.sleep(rng.uniform(0.0, 0.2))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
        command = (
            [sys.executable, str(bystander)]
            if iteration % 3 == 2
            else [str(Path(sys.executable).parent / "flowhook"), "runs", "reap"]
        )
        reaper = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(rng.uniform(0.2, 1.0))
        if reaper.poll() is None:
            reaper.send_signal(signal.SIGKILL)
            reapers_killed += 1
        reaper.wait(timeout=30)
    for _ in range(2):
        final = flowhook_cli("runs", "reap", env=env, timeout=120)
        assert final.returncode == 0, final.stderr

    store = open_store()
    try:
        unfinished = store._read(
            "SELECT count(*) FROM flow_runs WHERE end_time IS NULL UNION ALL "
            "SELECT count(*) FROM task_runs WHERE end_time IS NULL"
        )
        crashed = store._read(
            "SELECT id, 'flow' FROM flow_runs WHERE state_name = 'Crashed' UNION ALL "
            "SELECT id, 'task' FROM task_runs WHERE state_name = 'Crashed'"
        )
        crashed_twice = sum(
            [e.name for e in store.events(run_id, run_id)].count("Crashed") != 1
            for run_id, kind in crashed
            if kind == "flow"
        )
        task_history = {
            task_id: flow_run_id
            for task_id, flow_run_id in store._read("SELECT id, flow_run_id FROM task_runs")
        }
        crashed_twice += sum(
            [e.name for e in store.events(run_id, task_history[run_id])].count("Crashed") != 1
            for run_id, kind in crashed
            if kind == "task"
        )
        alerts: dict[str, int] = {}
        for record in store.list_outbox(limit=100_000):
            alerts[record.run_id or ""] = alerts.get(record.run_id or "", 0) + 1
        due_hooks = store.crash_hooks()
    finally:
        store.close()
    lines = crash_log.read_text().splitlines()
    starts = {run_id: lines.count(f"start {run_id}") for run_id, _ in crashed}
    ends = {run_id: lines.count(f"end {run_id}") for run_id, _ in crashed}
    flow_runs = [run_id for run_id, kind in crashed if kind == "flow"]
    figures = {
        "runs crashed": len(crashed),
        "reapers killed": reapers_killed,
        "left non-final": sum(count for (count,) in unfinished),
        "Crashed twice": crashed_twice,
        "on_crashed never": sum(ends[r] == 0 for r in ends),
        "on_crashed twice": sum(ends[r] > 1 for r in ends),
        "on_crashed interrupted": sum(starts[r] - ends[r] for r in ends),
        "alerts lost": sum(alerts.get(r, 0) == 0 for r in flow_runs),
        "alerts twice": sum(alerts.get(r, 0) > 1 for r in flow_runs),
        "hooks still due": len(due_hooks),
    }
    print("kill storm:", figures)
    # Every victim's flow run (written before its body ran), and the task runs it had recorded.
    assert len(flow_runs) >= iterations and len(crashed) > len(flow_runs)
    assert figures["left non-final"] == 0
    assert figures["Crashed twice"] == 0
    assert figures["on_crashed never"] == 0
    assert figures["alerts lost"] == 0 and figures["alerts twice"] == 0
    assert figures["hooks still due"] == 0
    # A second complete call only for a reaper killed after the hook ran and before it could
    # record so: at most one per reaper killed.
    assert figures["on_crashed twice"] <= reapers_killed
