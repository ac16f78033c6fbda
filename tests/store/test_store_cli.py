"""``flowhook runs ...`` and ``flowhook watch``: output, JSON, exit statuses, one-line errors."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sample_runs import record_sample_runs
from store_helpers import (
    FLOWHOOK,
    dead_pid,
    environment,
    execute,
    fake_flow_run,
    fake_process,
    wait_for,
)

import flowhook._runtime.attach
import flowhook.store
from flowhook import flow
from flowhook.cli import cli
from flowhook.store import SQLiteStore, open_store
from flowhook.views import format_duration, parse_duration, parse_since
from flowhook_hookspec.run_ids import short_run_id


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def one_line_error(result: Result, status: int) -> str:
    assert result.exit_code == status, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture
def history() -> dict[str, str]:
    """Three flow runs of two flows: completed, failed (with a failing task), completed."""

    record_sample_runs()
    store = open_store()
    try:
        runs = store.list_flow_runs(flowhook.store.RunQuery())
    finally:
        store.close()
    return {r.name: r.id for r in runs}


def test_ls_table_newest_first(history) -> None:
    result = run("runs", "ls")
    assert result.exit_code == 0
    header, *rows = result.output.splitlines()
    assert header.split() == ["ID", "FLOW", "RUN", "STATE", "STARTED", "DURATION"]
    assert [row.split()[2] for row in rows] == ["load-3", "report", "load-2"]
    assert rows[0].split()[0] == short_run_id(history["load-3"])
    assert rows[1].split()[1:4] == ["report", "report", "Failed"]


def test_ls_json_and_filters(history) -> None:
    listed = json.loads(run("runs", "ls", "--json").output)
    assert [item["name"] for item in listed] == ["load-3", "report", "load-2"]
    first = listed[0]
    for key in ("id", "name", "flow_name", "state_type", "state_name", "start_time", "end_time"):
        assert first[key], key
    assert first["id"] == history["load-3"] and first["flow_name"] == "load"
    assert first["state_type"] == "COMPLETED" and isinstance(first["duration_seconds"], float)
    assert first["parameters"] == {"n": 3}

    def names(*options: str) -> list[str]:
        return [item["name"] for item in json.loads(run("runs", "ls", "--json", *options).output)]

    assert names("--flow", "load") == ["load-3", "load-2"]
    assert names("--state", "failed") == ["report"]
    assert names("--state", "Completed", "--limit", "1") == ["load-3"]
    assert names("--since", "1h") == ["load-3", "report", "load-2"]
    assert names("--since", "2000-01-01") == ["load-3", "report", "load-2"]
    assert names("--flow", "nope") == []
    assert run("runs", "ls", "--flow", "nope").output == "No flow runs match.\n"


def test_ls_without_any_history() -> None:
    result = run("runs", "ls")
    assert result.exit_code == 0 and result.output == "No flow runs recorded yet.\n"
    assert json.loads(run("runs", "ls", "--json").output) == []


def test_show_by_prefix_with_timeline_tasks_and_failure(history) -> None:
    result = run("runs", "show", short_run_id(history["report"]))
    assert result.exit_code == 0, result.output
    out = result.output
    assert re.search(rf"^ID +{history['report']}$", out, re.MULTILINE)
    assert re.search(
        r"^State +Failed: Flow run encountered an exception: ZeroDivisionError", out, re.MULTILINE
    )
    timeline = out[out.index("Timeline") : out.index("Task runs")]
    assert [line.split()[2] for line in timeline.splitlines()[1:] if line.strip()] == [
        "Pending",
        "Running",
        "Failed",
    ]
    assert "Task runs (2)" in out and "Completed" in out
    assert "\nFailure\n  ZeroDivisionError: no way\n  Traceback (most recent call last):" in out
    assert 'raise ZeroDivisionError("no way")' in out
    assert "Failure of task run 'explode-" in out


def test_show_json(history) -> None:
    shown = json.loads(run("runs", "show", history["load-2"], "--json").output)
    assert shown["run"]["id"] == history["load-2"]
    assert [e["name"] for e in shown["events"]] == ["Pending", "Running", "Completed"]
    assert shown["events"][0]["duration_seconds"] >= 0
    assert shown["events"][-1]["duration_seconds"] is None
    assert [t["task_name"] for t in shown["task_runs"]] == ["double", "double"]
    assert [e["name"] for e in shown["task_runs"][0]["events"]] == [
        "Pending",
        "Running",
        "Completed",
    ]
    assert shown["process"]["pid"] > 0 and shown["hook_errors"] == []


def test_show_a_task_run(history) -> None:
    report = json.loads(run("runs", "show", history["report"], "--json").output)
    task_id = next(t["id"] for t in report["task_runs"] if t["task_name"] == "explode")
    result = run("runs", "show", task_id)
    assert result.exit_code == 0
    assert re.match(r"Task run +explode-", result.output)
    assert "ZeroDivisionError: no way" in result.output


def test_unknown_ambiguous_and_malformed_ids(history) -> None:
    assert "no run has an id starting with 'ffffffffff'" in one_line_error(
        run("runs", "show", "ffffffffff"), 1
    )
    assert "is not a run id" in one_line_error(run("runs", "show", "not-an-id!"), 2)
    store = open_store()
    try:
        process = fake_process(store, pid=1)
        ids = [fake_flow_run(store, process, with_task=False)[0] for _ in range(40)]
    finally:
        store.close()
    shared = next(
        a[:1] for a in ids if sum(b.startswith(a[:1]) for b in ids + list(history.values())) > 1
    )
    assert "is ambiguous" in one_line_error(run("runs", "show", shared), 1)


@pytest.mark.sqlite_only
def test_a_corrupt_database_is_a_one_line_error(flowhook_home: Path) -> None:
    (flowhook_home / "flowhook.db").write_bytes(b"this is not a database" * 100)
    for args in (("runs", "ls"), ("runs", "show", "abc"), ("runs", "reap")):
        message = one_line_error(run(*args), 1)
        assert "flowhook.db" in message and "not a database" in message


@pytest.mark.sqlite_only
def test_a_database_from_a_newer_flowhook(flowhook_home: Path) -> None:
    flow(lambda: 1)()
    flowhook._runtime.attach.detach()
    conn = sqlite3.connect(flowhook_home / "flowhook.db")
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    assert "newer flowhook" in one_line_error(run("runs", "ls"), 1)


def test_bad_durations() -> None:
    assert "is not a duration" in one_line_error(run("runs", "prune", "--older-than", "30x"), 2)
    assert "--since" in one_line_error(run("runs", "ls", "--since", "yesterday"), 2)


def test_prune(history, flowhook_home: Path) -> None:
    nothing = run("runs", "prune", "--older-than", "1d")
    assert nothing.exit_code == 0
    assert nothing.output.startswith("Deleted 0 flow runs, 0 task runs, 0 state events and 0 log")
    store = open_store()
    try:
        unfinished, _ = fake_flow_run(store, fake_process(store, pid=1))
        old = time.time() - 40 * 86400
        execute(store, "UPDATE flow_runs SET end_time = ? WHERE end_time IS NOT NULL", old)
    finally:
        store.close()
    pruned = run("runs", "prune", "--older-than", "30d")
    assert pruned.exit_code == 0
    # 3 flow runs, their 7 task runs, 3 events each; the unfinished run is kept, however old.
    assert pruned.output.startswith("Deleted 3 flow runs, 7 task runs, 30 state events and 0 log")
    left = json.loads(run("runs", "ls", "--json").output)
    assert [item["id"] for item in left] == [unfinished]


def test_reap_and_cancel_from_the_command_line(store: SQLiteStore) -> None:
    assert run("runs", "reap").output == (
        "Nothing to reap: no unfinished run belongs to a dead process.\n"
    )
    flow_run_id, task_run_id = fake_flow_run(store, fake_process(store, pid=dead_pid()))
    asked = run("runs", "cancel", flow_run_id)
    assert asked.exit_code == 0 and "looks dead" in asked.output
    assert "is a task run" in one_line_error(run("runs", "cancel", str(task_run_id)), 1)
    reaped = run("runs", "reap")
    assert reaped.exit_code == 0
    assert reaped.output.count("Crashed ") == 2 and "is no longer running" in reaped.output
    message = one_line_error(run("runs", "cancel", flow_run_id[:10]), 1)
    assert "is already Crashed; there is nothing to cancel" in message


@pytest.mark.slow
def test_watch_reaps_until_ctrl_c(store: SQLiteStore, modules: Path) -> None:
    env = environment(modules)
    watcher = subprocess.Popen(
        [FLOWHOOK, "watch", "--interval", "0.1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        flow_run_id, _ = fake_flow_run(store, fake_process(store, pid=dead_pid()))
        wait_for(
            lambda: store.get_run("flow", flow_run_id).state_name == "Crashed",  # type: ignore[union-attr]
            what="watch to reap the run",
        )
        watcher.send_signal(signal.SIGINT)
        out, err = watcher.communicate(timeout=30)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
    assert watcher.returncode == 0, err
    assert out.startswith("Watching ") and out.rstrip().endswith("Stopped.")
    assert "Crashed flow run 'ghost-run'" in out and "Traceback" not in err


def test_duration_helpers() -> None:
    assert parse_duration("30d") == 30 * 86400
    assert parse_duration("1h30m") == 5400
    assert parse_duration("1.5s") == 1.5
    for bad in ("", "30", "d", "3x", "1h 30", "-1d"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert abs(parse_since("1h", now=10_000) - 6400) < 1e-9
    assert [format_duration(s) for s in (None, 0.5, 12.34, 125, 7300, 200_000)] == [
        "-",
        "0.50s",
        "12.3s",
        "2m05s",
        "2h01m",
        "2d07h",
    ]
