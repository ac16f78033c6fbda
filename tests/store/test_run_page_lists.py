"""A run's page (``flowhook runs show`` and the UI's, both :func:`flowhook.views.run_detail`)
lists a flow run's notifications with its task runs', its hook errors and its subflow runs a
capped number at a time, each with how many there are, on both stores."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import flowhook_slack
from flowhook import flow, task
from flowhook._runtime.attach import detach, flush
from flowhook.cli import cli
from flowhook.store import HookError, NewRun, OutboxEntry, RunQuery, Store, open_store
from flowhook.testing import PluginManager
from flowhook.views.detail import HOOK_ERRORS_SHOWN, NOTIFICATIONS_SHOWN, SUBFLOWS_SHOWN

RULES = """
[[notifications]]
on = ["Failed"]
flows = ["*"]
blocks = ["slack-webhook/ops"]
subject = "flow {{ flow_run.name }} failed"

[[notifications]]
on = ["Failed"]
tasks = ["*"]
blocks = ["slack-webhook/ops"]
subject = "task {{ task_run.name }} failed"

[blocks."slack-webhook/ops"]
url = "http://127.0.0.1:9/nothing-listens-here"
"""
T0 = 1_700_000_000.0


def show(run_id: str, *options: str) -> str:
    done = CliRunner().invoke(cli, ["runs", "show", run_id, *options])
    assert done.exit_code == 0, done.output
    return done.output


def test_a_flow_runs_page_lists_its_own_and_its_task_runs_notifications_newest_first(
    flowhook_home: Path,
    flowhook_plugins: PluginManager,
    monkeypatch: pytest.MonkeyPatch,
    store_backend: str,
) -> None:
    flowhook_plugins.register(flowhook_slack)
    (flowhook_home / "flowhook.toml").write_text(RULES)
    monkeypatch.setenv("FLOWHOOK_CONFIG", str(flowhook_home / "flowhook.toml"))

    @task(task_run_name="step-{i}")
    def step(i: int) -> None:
        raise ValueError(i)

    @flow(flow_run_name="{name}")
    def job(name: str) -> None:
        for i in range(2):
            step(i, return_state=True)
        raise RuntimeError("the flow failed")

    job("first", return_state=True)
    job("second", return_state=True)
    flush()
    detach()
    store = open_store()
    try:
        runs = {run.name: run.id for run in store.list_flow_runs(RunQuery())}
    finally:
        store.close()

    shown = json.loads(show(runs["first"], "--json"))
    subjects = [message["subject"] for message in shown["notifications"]]
    assert subjects == ["flow first failed", "task step-1 failed", "task step-0 failed"]
    assert shown["notifications_total"] == 3
    assert "\nNotifications (3)\n" in show(runs["first"])
    second = json.loads(show(runs["second"], "--json"))["notifications"]
    assert len(second) == 3 and second[0]["subject"] == "flow second failed"


def many(store: Store, count: int) -> str:
    """A flow run with ``count`` subflow runs, hook errors and notifications; its id."""
    parent = uuid.uuid4()
    writes: list[Any] = [NewRun("flow", parent, "parent", "f", None, T0, None)]
    for i in range(count):
        writes.append(
            NewRun("flow", uuid.uuid4(), f"sub-{i:03d}", "s", None, T0 + i, None, None, parent)
        )
        writes.append(HookError("flow", parent, parent, T0 + i, f"hook {i:03d} broke", None))
        writes.append(
            OutboxEntry(
                f"key-{i}", "log", "ops", "r", "flow", str(parent), "e", f"m{i:03d}", "b", T0
            )
        )
    store.write(writes)
    return str(parent)


def test_a_runs_page_shows_a_capped_number_of_each_list_and_how_many_there_are(
    store: Store,
) -> None:
    assert NOTIFICATIONS_SHOWN == HOOK_ERRORS_SHOWN == SUBFLOWS_SHOWN == 100
    run_id = many(store, 103)
    shown = json.loads(show(run_id, "--json"))
    assert [m["subject"] for m in shown["notifications"]] == [
        f"m{i:03d}" for i in range(102, 2, -1)
    ]
    assert [e["description"] for e in shown["hook_errors"]] == [
        f"hook {i:03d} broke" for i in range(3, 103)
    ]
    assert [run["name"] for run in shown["subflow_runs"]] == [f"sub-{i:03d}" for i in range(100)]
    totals = ("notifications_total", "hook_errors_total", "subflow_runs_total")
    assert [shown[total] for total in totals] == [103, 103, 103]
    text = show(run_id)
    assert "\nNotifications (100 of 103 shown, the newest)\n" in text
    assert "\nHook errors (100 of 103 shown, the newest)\n" in text
    assert "\nSubflow runs (100 of 103 shown, the first)\n" in text
    assert "hook 002 broke" not in text and "hook 102 broke" in text


def test_a_task_runs_page_shows_its_own_hook_errors_only(store: Store) -> None:
    parent, child, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    store.write(
        [
            NewRun("flow", parent, "parent", "f", None, T0, None),
            NewRun("task", child, "child", "t", None, T0, None, parent),
            NewRun("task", other, "other", "t", None, T0, None, parent),
            HookError("task", child, parent, T0, "the child's hook broke", None),
            HookError("task", other, parent, T0, "the other's hook broke", None),
        ]
    )
    shown = json.loads(show(str(child), "--json"))
    assert [e["description"] for e in shown["hook_errors"]] == ["the child's hook broke"]
    assert (shown["hook_errors_total"], shown["notifications"]) == (1, [])
    flow_page = json.loads(show(str(parent), "--json"))
    assert flow_page["hook_errors_total"] == 2


@pytest.mark.postgres_only
def test_postgresql_reads_a_runs_page_lists_through_their_indexes(store: Store) -> None:
    """The same statements as SQLite's (see tests/ui/test_task_pages.py), planned by
    PostgreSQL with table scans priced out: each has an index it can read in its order."""
    import psycopg

    from flowhook.store import load_settings
    from flowhook.store._postgres.dialect import POSTGRES
    from flowhook.store._sql.listing import HOOK_ERRORS_OF_HISTORY, HOOK_ERRORS_OF_RUN, SUBFLOW_RUNS
    from flowhook.store._sql.outbox import FLOW_RUN_OUTBOX

    url = load_settings().url
    assert url is not None
    with psycopg.connect(url) as pg:
        pg.execute("SET enable_seqscan = off")
        pg.execute("SET enable_sort = off")
        for (page, count), index in (
            (FLOW_RUN_OUTBOX, "notification_outbox_flow_run"),
            (HOOK_ERRORS_OF_HISTORY, "hook_errors_history"),
            (HOOK_ERRORS_OF_RUN, "hook_errors_run"),
            (SUBFLOW_RUNS, "flow_runs_parent_created"),
        ):
            for sql, parameters in ((page, ("x", 100)), (count, ("x",))):
                rows = pg.execute(f"EXPLAIN {POSTGRES.sql(sql)}", parameters).fetchall()
                plan = "\n".join(str(row[0]) for row in rows)
                # Sorted in the index's order: at most ties on ``created`` by id.
                whole_sort = re.search(r"(?<!Incremental )Sort  \(", plan)
                assert index in plan and whole_sort is None, (sql, plan)
