"""Resuming a flow run paused in another process, through the store, on both stores: with
``flowhook runs resume`` and with ``flowhook.resume_flow_run``; a pause that times out."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pausing_helpers import start_pausing, wait_for_state, wait_until_paused
from store_helpers import FLOWHOOK, environment, flowhook_cli

from flowhook.store import RunQuery, Store
from flowhook_hookspec.run_ids import short_run_id

pytestmark = pytest.mark.slow


def _stop(*processes: subprocess.Popen[str] | None) -> None:
    for process in processes:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()


def test_runs_resume_resumes_a_paused_run_within_a_second(
    store: Store, modules: Path, tmp_path: Path, store_backend: str
) -> None:
    """From just before ``flowhook runs resume`` is spawned (its start-up included) until the
    store records the run Running again. The heartbeat is 30 s: the paused process reads resume
    requests every 0.25 s on SQLite, and is woken by NOTIFY on PostgreSQL, so a resume well
    before a heartbeat proves the request woke it. The latency itself (target 1 s) is a figure
    of the benchmarks, not of this test: a loaded CI machine must not fail it."""
    env = environment(modules, FLOWHOOK_HEARTBEAT_SECONDS="30")
    child = start_pausing(tmp_path, env)
    command = None
    try:
        run = wait_until_paused(store, child)
        listed = flowhook_cli("runs", "ls", "--state", "paused", "--json", env=env)
        assert [
            (r["name"], r["state_type"], r["state_name"]) for r in json.loads(listed.stdout)
        ] == [("gated", "PAUSED", "Paused")]
        started = time.monotonic()
        command = subprocess.Popen(
            [FLOWHOOK, "runs", "resume", short_run_id(run.id)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        seen = wait_for_state(store, run.id, "Running", "Completed")
        out, err = command.communicate(timeout=60)
        child_out, child_err = child.communicate(timeout=60)
    finally:
        _stop(child, command)
    print(f"Running {seen - started:.3f} s after the resume command was spawned ({store_backend})")
    assert seen - started <= 10.0
    assert command.returncode == 0, err
    assert out == f"Resume requested for flow run 'gated' ({short_run_id(run.id)}).\n"
    assert child.returncode == 0, child_err
    assert child_out == "resumed\n"
    names = [event.name for event in store.events(run.id, run.id)]
    assert names == ["Pending", "Running", "Paused", "Running", "Completed"]
    assert [task.state_name for task in store.task_run_page(run.id, limit=1000)] == [
        "Completed",
        "Completed",
    ]
    again = flowhook_cli("runs", "resume", run.id, env=env)
    assert (again.returncode, again.stdout) == (1, "")
    assert again.stderr == (
        f"Error: flow run 'gated' ({short_run_id(run.id)}) is Completed, not paused; there is nothing "
        "to resume\n"
    )


def test_resume_flow_run_from_another_process(store: Store, modules: Path, tmp_path: Path) -> None:
    env = environment(modules, FLOWHOOK_HEARTBEAT_SECONDS="30")
    child = start_pausing(tmp_path, env)
    try:
        run = wait_until_paused(store, child)
        resumer = subprocess.run(
            [
                sys.executable,
                "-c",
                f"import flowhook; flowhook.resume_flow_run({run.id!r})",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert resumer.returncode == 0, resumer.stderr
        child_out, child_err = child.communicate(timeout=60)
    finally:
        _stop(child)
    assert child.returncode == 0, child_err
    assert child_out == "resumed\n"


def test_a_pause_that_times_out_fails_the_run(store: Store, modules: Path, tmp_path: Path) -> None:
    env = environment(modules)
    child = start_pausing(tmp_path, env, timeout=0.5)
    try:
        _, child_err = child.communicate(timeout=60)
    finally:
        _stop(child)
    assert child.returncode == 1
    assert "FlowPauseTimeout: Flow run was paused and never resumed." in child_err
    [run] = store.list_flow_runs(RunQuery(flow_name="gated"))
    assert (run.state_name, run.state_message) == (
        "Failed",
        "The flow was failed and never resumed.",
    )
    names = [event.name for event in store.events(run.id, run.id)]
    assert names == ["Pending", "Running", "Paused", "Failed"]
    late = flowhook_cli("runs", "resume", run.id, env=env)
    assert late.returncode == 1
    assert "is Failed, not paused; there is nothing to resume" in late.stderr


def test_a_paused_run_cancelled_from_the_command_line_ends_cancelled_soon(
    store: Store, modules: Path, tmp_path: Path
) -> None:
    env = environment(modules, FLOWHOOK_HEARTBEAT_SECONDS="30")
    child = start_pausing(tmp_path, env)
    try:
        run = wait_until_paused(store, child)
        asked = flowhook_cli("runs", "cancel", run.id, env=env)
        assert asked.returncode == 0, asked.stderr
        wait_for_state(store, run.id, "Cancelled", wait=10)  # not one 30 s heartbeat
        _, child_err = child.communicate(timeout=60)
    finally:
        _stop(child)
    assert "CancelledRun" in child_err
    names = [event.name for event in store.events(run.id, run.id)]
    assert names == ["Pending", "Running", "Paused", "Cancelling", "Cancelled"]


def test_runs_resume_refuses_bad_ids(store: Store, modules: Path) -> None:
    env = environment(modules)
    malformed = flowhook_cli("runs", "resume", "not-an-id", env=env)
    assert malformed.returncode == 2
    assert malformed.stderr == (
        "Error: 'not-an-id' is not a run id: ids are hex digits, e.g. 3f2a1b9c\n"
    )
    unknown = flowhook_cli("runs", "resume", "abc123", env=env)
    assert (unknown.returncode, unknown.stderr) == (
        1,
        "Error: no run has an id starting with 'abc123'\n",
    )
