"""A flow run's task runs a page at a time: the run page of a real ``flowhook ui`` server, its
JSON and ``flowhook runs show`` show the counts of all of them by state, one page of them with
links (or options) to the next and previous pages, and the failed ones on the first page, and
every query behind them reads an index."""

from __future__ import annotations

import html
import http.client
import json
import os
import re
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import FLOWHOOK, free_port, start_ui, stop

import flowhook._runtime.attach
from flowhook import flow, get_run_logger, task
from flowhook.store import RunQuery, load_settings, open_store
from flowhook.store._sql.listing import (
    HOOK_ERRORS_OF_HISTORY,
    HOOK_ERRORS_OF_RUN,
    SUBFLOW_RUNS,
    outbox_filter,
    task_page_sql,
    task_state_counts_sql,
)
from flowhook.store._sql.outbox import FLOW_RUN_OUTBOX
from flowhook.store._sqlite.dialect import SQLITE
from flowhook_hookspec.run_ids import short_run_id

#: The flow's task runs: step-0 ... step-24, of which step-21 and step-23 fail.
TASKS = 25
FAILING = (21, 23)


class Served:
    """A store holding one flow run of :data:`TASKS` task runs, and a ``flowhook ui`` on it."""

    def __init__(self, env: dict[str, str], port: int, run_id: str) -> None:
        self.env, self.port, self.run_id = env, port, run_id

    def get(self, path: str) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.request("GET", path)
        response = connection.getresponse()
        text = response.read().decode()
        connection.close()
        return response.status, text

    def page(self, query: str = "") -> str:
        status, text = self.get(f"/runs/{self.run_id}{query}")
        assert status == 200, text
        return text

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [FLOWHOOK, "runs", "show", self.run_id, *args],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=60,
        )


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("task-pages")
    env = {"FLOWHOOK_HOME": str(home)}
    server = request.getfixturevalue("postgres_server") if request.param == "postgres" else None
    if server is not None:
        env.update(FLOWHOOK_STORE_URL=server.new_database(), FLOWHOOK_STORE_AUTO_MIGRATE="1")
    try:
        yield from _serving(env)
    finally:
        if server is not None:
            server.drop_database(env["FLOWHOOK_STORE_URL"])


def _serving(env: dict[str, str]) -> Iterator[Served]:
    """A flow run of :data:`TASKS` task runs recorded in the store of ``env``, and a
    ``flowhook ui`` on it."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        flowhook._runtime.attach.detach()

        @task(task_run_name="step-{i}")
        def step(i: int) -> int:
            if i == TASKS - 1:
                get_run_logger().info("the last step")
            if i in FAILING:
                raise ValueError(f"step {i} fails")
            return i

        @flow(flow_run_name="wide")
        def wide() -> None:
            for i in range(TASKS):
                step(i, return_state=True)

        wide()
        flowhook._runtime.attach.detach()
        store = open_store()
        try:
            [run] = store.list_flow_runs(RunQuery())
        finally:
            store.close()
    port = free_port()
    server = start_ui(env, port)
    try:
        yield Served(env, port, run.id)
    finally:
        stop(server)


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def task_names(page: str) -> list[str]:
    """The names of the task runs the page's table lists, in its order."""
    rows = re.findall(r'<tr class="task-row">(.*?)</tr>', page, re.S)
    return [_text(re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[0]) for row in rows]


def link(page: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', page)
    return None if found is None else html.unescape(found.group(1))


def steps(numbers: range) -> list[str]:
    return [f"step-{i}" for i in numbers]


def test_the_run_page_pages_with_its_next_and_previous_links(served: Served) -> None:
    first = served.page("?limit=10")
    assert task_names(first) == steps(range(10))
    assert link(first, "prev") is None and link(first, "first") is None
    assert "10 of 25" in _text(first)

    second = served.page(link(first, "next") or "")
    assert task_names(second) == steps(range(10, 20))
    third = served.page(link(second, "next") or "")
    assert task_names(third) == steps(range(20, 25))
    assert link(third, "next") is None
    back = served.page(link(third, "prev") or "")
    assert task_names(back) == steps(range(10, 20))
    assert task_names(served.page(link(back, "prev") or "")) == steps(range(10))
    assert task_names(served.page(link(third, "first") or "")) == steps(range(10))
    # The default page holds 100: all 25.
    assert task_names(served.page()) == steps(range(TASKS))


def logged_by(page: str) -> list[str]:
    """The task run column of the page's log records."""
    rows = re.findall(r'<tr class="level-info">(.*?)</tr>', page, re.S)
    return [_text(re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[2]) for row in rows]


def test_a_log_record_names_its_task_run_on_any_page(served: Served) -> None:
    everything = served.page()
    [last_id] = re.findall(r'<a href="[^"]*/runs/([0-9a-f-]+)">step-24</a>', everything)
    assert "step-24" in logged_by(everything)
    # On a page without that task run, the record names it by the start of its id.
    assert short_run_id(last_id) in logged_by(served.page("?limit=5"))


def test_counts_are_of_all_task_runs_and_a_failed_one_shows_on_page_one(served: Served) -> None:
    first = served.page("?limit=5")
    facts = dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", first))
    assert _text(facts["Task runs"]) == "25 · 23 completed · 2 failed"
    failures = first.split('<section class="card failures">', 1)[1].split("</section>", 1)[0]
    assert "step-21 · ValueError: step 21 fails" in _text(failures)
    assert "step-23 · ValueError: step 23 fails" in _text(failures)
    assert "step-21" not in task_names(first)

    failed_link = re.search(r'<a class="state-count" href="([^"]+)">[^<]*<[^>]*>2 failed', first)
    assert failed_link is not None
    only_failed = served.page(html.unescape(failed_link.group(1)))
    assert task_names(only_failed) == ["step-21", "step-23"]
    assert "failed: 2 of 2" in _text(only_failed)


def test_runs_show_and_the_json_api_page_the_same_way(served: Served) -> None:
    shown = served.cli("--limit", "10", "--json")
    assert shown.returncode == 0, shown.stderr
    printed = json.loads(shown.stdout)
    status, answered = served.get(f"/api/runs/{served.run_id}?limit=10")
    assert status == 200 and json.loads(answered) == printed
    pages: list[dict[str, Any]] = [printed["task_page"]]
    names = [task["name"] for task in printed["task_runs"]]
    while pages[-1]["next"] is not None:
        cursor = pages[-1]["next"]
        printed = json.loads(served.cli("--limit", "10", "--after", cursor, "--json").stdout)
        _, answered = served.get(f"/api/runs/{served.run_id}?limit=10&after={cursor}")
        assert json.loads(answered) == printed
        pages.append(printed["task_page"])
        names += [task["name"] for task in printed["task_runs"]]
    assert names == steps(range(TASKS)) and len(pages) == 3
    assert pages[0]["counts"] == {"COMPLETED": 23, "FAILED": 2}
    assert (pages[0]["total"], pages[0]["previous"], pages[2]["matching"]) == (25, None, 25)

    text = served.cli("--limit", "10").stdout
    assert "Task runs (25)\n  23 completed, 2 failed; 10 of 25 shown\n" in text
    next_page = f"Next page: flowhook runs show {short_run_id(served.run_id)} --limit 10 --after "
    assert f"{next_page}{pages[0]['next']}\n" in text
    assert "Failure of task run 'step-21'" in text

    failed = json.loads(served.cli("--state", "FAILED,crashed", "--json").stdout)
    assert [task["name"] for task in failed["task_runs"]] == ["step-21", "step-23"]
    assert failed["task_page"]["states"] == ["FAILED", "CRASHED"]
    one = served.cli("--state", "failed,crashed", "--limit", "1").stdout
    [cursor] = re.findall(
        rf"Next page: flowhook runs show {short_run_id(served.run_id)} --state failed,crashed --limit 1 "
        r"--after (\S+)\n",
        one,
    )
    after = served.cli("--state", "failed,crashed", "--limit", "1", "--after", cursor).stdout
    assert (
        "23 completed, 2 failed; failed, crashed: 1 of 2 shown" in after
        and "step-23" in after
        and "Next page" not in after
    )


def test_a_bad_page_option_is_one_line_naming_it(served: Served) -> None:
    done = served.cli("--state", "broken")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "Error: --state: 'broken' is not a state type: use one of pending, scheduled, running, "
        "completed, failed, crashed, cancelling, cancelled, paused"
    ]
    assert served.cli("--limit", "0").returncode == 2
    status, text = served.get(f"/api/runs/{served.run_id}?after=nope")
    assert status == 400 and "'nope' is not a page cursor" in text
    status, text = served.get(f"/runs/{served.run_id}?limit=5000")
    assert status == 400 and "limit: '5000' is not a number from 1 to 1000" in text


def test_every_query_of_a_page_reads_an_index(flowhook_home: Path) -> None:
    """Each read of a run page goes through an index, in the index's order: its time does not
    grow with the store (a million task runs, a hundred thousand messages)."""
    open_store().close()  # the schema, in a new SQLite store
    run_id, cursor = "0" * 36, (1.0, "0")
    statements = [
        (task_page_sql(run_id, state, after, before, 101), index)
        for state, index in ((None, "task_runs_flow_run"), ("FAILED", "task_runs_flow_state"))
        for after, before in ((None, None), (cursor, None), (None, cursor))
    ]
    counts = (task_state_counts_sql(SQLITE), [run_id, run_id])
    statements.append((counts, "COVERING INDEX task_runs_flow_state"))
    statements.append((counts, "COVERING INDEX task_runs_flow_run"))
    completed = task_page_sql(run_id, "COMPLETED", cursor, None, 101)
    statements.append((completed, "INDEX task_runs_flow_run (flow_run_id=? AND created>?)"))
    for (page, count), index in (
        (FLOW_RUN_OUTBOX, "INDEX notification_outbox_flow_run (flow_run_id=?)"),
        (HOOK_ERRORS_OF_HISTORY, "INDEX hook_errors_history (history_id=?)"),
        (HOOK_ERRORS_OF_RUN, "INDEX hook_errors_run (run_id=?)"),
        (SUBFLOW_RUNS, "INDEX flow_runs_parent_created (parent_flow_run_id=?)"),
    ):
        statements.append(((page, [run_id, 101]), index))
        statements.append(((count, [run_id]), f"COVERING {index}"))
    statements.append((outbox_filter_sql(run_id), "notification_outbox_flow_run (flow_run_id=?)"))
    connection = sqlite3.connect(load_settings().database)
    try:
        for (sql, parameters), index in statements:
            plan = [row[-1] for row in connection.execute(f"EXPLAIN QUERY PLAN {sql}", parameters)]
            # No table is read whole (a scan of a covering index reads the index alone).
            tables = [step for step in plan if step.startswith("SCAN") and "CONSTANT" not in step]
            assert all("INDEX" in step for step in tables), (sql, plan)
            assert any(index in step and "USING" in step for step in plan), (sql, plan)
            # Nor sorted whole: the index gives the order (ties on ``created`` at most are
            # sorted by id, a "RIGHT PART"), so LIMIT stops the read.
            assert not any("TEMP B-TREE FOR ORDER BY" in step for step in plan), (sql, plan)
    finally:
        connection.close()


def outbox_filter_sql(flow_run_id: str) -> tuple[str, list[Any]]:
    """The outbox page's read of one flow run's messages (its own and its task runs'): by the
    flow run each message is filed under."""
    where, parameters = outbox_filter(None, flow_run_id)
    return f"SELECT id FROM notification_outbox {where} ORDER BY id DESC LIMIT 200", parameters


def test_the_ui_reads_a_sqlite_store_through_a_memory_map(flowhook_home: Path) -> None:
    """The UI, a long-lived reader, maps the database file on each of its threads'
    connections (its scans of large indexes then copy no pages); a command, short-lived, reads
    it with plain reads."""
    import threading

    from flowhook.ui.app import StoreHolder

    open_store().close()

    def mapped(store: Any) -> int:
        return int(store._read("PRAGMA mmap_size", ())[0][0])

    holder = StoreHolder(load_settings())
    try:
        store = holder.get()
        found: list[int] = []
        reader = threading.Thread(target=lambda: found.append(mapped(store)))
        reader.start()
        reader.join()
        assert mapped(store) > 0 and found[0] == mapped(store)
    finally:
        holder.close()
    command = open_store()
    try:
        assert mapped(command) == 0
    finally:
        command.close()
