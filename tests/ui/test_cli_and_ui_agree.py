"""The command line and the web UI show the same runs: the same queries, asked of
``flowhook runs ...`` and of a real ``flowhook ui`` server (its pages and its JSON), on one store
of real runs, give the same answers (both render the read model, :mod:`flowhook.views`)."""

from __future__ import annotations

import html
import http.client
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import date
from itertools import combinations
from typing import Any
from urllib.parse import urlencode

import pytest
from browser import FLOWHOOK, free_port, start_ui, stop
from ui_session import secret_message

from flowhook.store import RunQuery, RunRecord, open_existing_store
from flowhook.store import load_settings as store_settings
from flowhook_hookspec.run_ids import short_run_id

pytestmark = pytest.mark.slow

#: A webhook URL whose path is the secret; no server listens on port 9.
SECRET_URL = "http://127.0.0.1:9/services/T0/B0/agree-s3cret"

FLOWS = textwrap.dedent(
    """
    from flowhook import flow, task


    @task
    def step(i: int) -> int:
        return i


    @task
    def bad() -> None:
        raise ValueError("bad input")


    @task(tags=["adhoc"])
    def lone() -> int:
        return 1


    def boom(flow, flow_run, state) -> None:
        raise RuntimeError("the hook broke")


    @flow(flow_run_name="etl-{n}", tags=["nightly", "etl"])
    def etl(n: int) -> int:
        return sum(step(i) for i in range(n))


    @flow(flow_run_name="broken-run", on_failure=[boom])
    def broken() -> None:
        bad()


    if __name__ == "__main__":
        etl(12)
        etl(2)
        broken(return_state=True)
        lone()
    """
)


class Both:
    """The same store, asked through the command line and through a ``flowhook ui`` server."""

    def __init__(self, env: dict[str, str], port: int) -> None:
        self.env = env
        self.port = port

    def cli(self, *args: str) -> tuple[int, str]:
        """The exit status and output of the ``flowhook`` command, as a user runs it (in a
        process of its own, with the plugins installed here, which mask a block's secrets)."""
        done = subprocess.run(
            [FLOWHOOK, *args],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        return done.returncode, done.stdout + done.stderr

    def cli_json(self, *args: str) -> Any:
        status, output = self.cli(*args, "--json")
        assert status == 0, output
        return json.loads(output)

    def cli_error(self, *args: str) -> str:
        status, output = self.cli(*args)
        assert status != 0, output
        return output.strip().removeprefix("Error: ")

    def http(self, method: str, path: str, body: str = "") -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        connection.request(method, path, body, headers)
        response = connection.getresponse()
        text = response.read().decode()
        connection.close()
        return response.status, text

    def page(self, path: str) -> str:
        status, text = self.http("GET", path)
        assert status == 200, text
        return text

    def runs(self) -> list[RunRecord]:
        store = open_existing_store(store_settings({**os.environ, **self.env}))
        assert store is not None
        try:
            return store.list_flow_runs(RunQuery())
        finally:
            store.close()


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Both]:
    home = tmp_path_factory.mktemp("agree-home")
    (home / "flows.py").write_text(FLOWS)
    (home / "flowhook.toml").write_text(
        '[blocks."slack-webhook/ops"]\nurl = { env = "AGREE_WEBHOOK_URL" }\n'
    )
    env = {
        "FLOWHOOK_HOME": str(home),
        "FLOWHOOK_CONFIG": str(home / "flowhook.toml"),
        "AGREE_WEBHOOK_URL": SECRET_URL,
    }
    subprocess.run(
        [sys.executable, str(home / "flows.py")],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    port = free_port()
    server = start_ui(env, port)
    session = Both(env, port)
    [broken] = [run for run in session.runs() if run.name == "broken-run"]
    store = open_existing_store(store_settings({**os.environ, **env}))
    assert store is not None
    store.enqueue_outbox([secret_message(broken.id, SECRET_URL)])
    store.close()
    try:
        yield session
    finally:
        stop(server)


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _cells(page: str, row_class: str) -> list[list[str]]:
    """The text of each cell of the rows of ``row_class``."""
    rows = re.findall(rf'<tr class="{row_class}"[^>]*>(.*?)</tr>', page, re.S)
    return [[_text(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)] for row in rows]


def _cli_rows(output: str) -> list[list[str]]:
    """The cells of a table the command line printed (two spaces or more between columns)."""
    return [re.split(r"\s{2,}", line.strip()) for line in output.splitlines()[1:] if line.strip()]


FILTERS: list[dict[str, str]] = [
    {},
    {"state": "failed,completed"},
    {"state": "Completed", "flow": "etl"},
    {"tag": "adhoc"},
    {"tag": "nightly,etl", "state": "completed"},
    {"since": "2h"},
    {"since": date.today().isoformat()},
    {"until": "2h"},
]


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: urlencode(f) or "all")
def test_the_run_list_is_the_same_in_both(both: Both, filters: dict[str, str]) -> None:
    options = [arg for name, value in filters.items() for arg in (f"--{name}", value)]
    shown = both.cli_json("runs", "ls", "--limit", "50", *options)
    status, answered = both.http("GET", "/api/runs?" + urlencode(filters))
    assert status == 200 and json.loads(answered) == shown

    _, table = both.cli("runs", "ls", "--limit", "50", *options)
    listed = [(row[0], row[2], row[3], row[4], row[5]) for row in _cli_rows(table)]
    page = both.page("/?" + urlencode(filters))
    rows = [
        (cells[5], cells[0].removesuffix(" (task)"), cells[2], cells[3], cells[4])
        for cells in _cells(page, "run-row")
    ]
    assert rows == (listed if shown else [])
    assert [short_run_id(run["id"]) for run in shown] == [row[0] for row in rows]


def test_the_filters_find_what_they_say(both: Both) -> None:
    def names(*args: str) -> list[str]:
        return [run["name"] for run in both.cli_json("runs", "ls", *args)]

    [lone] = both.cli_json("runs", "ls", "--tag", "adhoc")
    assert (lone["kind"], lone["task_name"]) == ("task", "lone")
    assert names("--tag", "nightly") == ["etl-2", "etl-12"]
    assert names("--tag", "nightly", "--tag", "etl", "--state", "failed") == []
    assert names("--state", "failed") == ["broken-run"]
    assert sorted(names("--state", "failed,completed")) == sorted(names())
    assert names("--state", "failed", "--state", "completed") == names(
        "--state", "failed,completed"
    )
    assert names("--until", "2h") == [] and len(names("--since", "2h")) == 4


def _detail_cli(both: Both, prefix: str) -> dict[str, Any]:
    _, output = both.cli("runs", "show", prefix)
    facts = dict(
        re.split(r"\s{2,}", line, maxsplit=1)
        for line in output.split("\n\nTimeline")[0].splitlines()
        if re.search(r"\s{2,}", line)
    )
    timeline = output.split("\nTimeline\n", 1)[1].split("\n\n", 1)[0]
    hooks = (
        output.split("\nHook errors", 1)[1].split("\n\n", 1)[0] if "Hook errors" in output else ""
    )
    return {
        "duration": facts["Duration"],
        "states": [re.split(r"\s{2,}", line.strip())[:2] for line in timeline.splitlines()],
        "hook_errors": [line.strip().split("  ", 1)[1] for line in hooks.splitlines()[1:]],
    }


def _detail_page(both: Both, prefix: str) -> dict[str, Any]:
    page = both.page(f"/runs/{prefix}")
    facts = dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", page))
    history = page.split('<table class="history">', 1)[1].split("</table>", 1)[0]
    return {
        "duration": _text(facts["Duration"]),
        "states": [cells[:2] for cells in _cells_of(history)],
        "hook_errors": [
            _text(summary).split(" · ", 1)[1]
            for summary in re.findall(r'<details class="hook-error"><summary>(.*?)</summary>', page)
        ],
    }


def _cells_of(table: str) -> list[list[str]]:
    rows = re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>", 1)[1], re.S)
    return [[_text(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)] for row in rows]


@pytest.mark.parametrize("name", ["broken-run", "etl-12", "a task run"])
def test_a_runs_detail_is_the_same_in_both_found_by_a_prefix(both: Both, name: str) -> None:
    if name == "a task run":
        [broken] = [run for run in both.runs() if run.name == "broken-run"]
        run_id = both.cli_json("runs", "show", broken.id)["task_runs"][0]["id"]
    else:
        [run] = [run for run in both.runs() if run.name == name]
        run_id = run.id
    prefix = short_run_id(run_id)
    shown = both.cli_json("runs", "show", prefix)
    status, answered = both.http("GET", f"/api/runs/{prefix}")
    assert status == 200 and json.loads(answered) == shown
    assert shown["run"]["id"] == run_id

    printed, rendered = _detail_cli(both, prefix), _detail_page(both, prefix)
    assert printed == rendered
    assert re.fullmatch(r"\d+\.\d+s|\d+m\d\ds", printed["duration"])
    if name == "broken-run":
        assert [state for _, state in printed["states"]] == ["Pending", "Running", "Failed"]
        assert len(printed["hook_errors"]) == 1 and "boom" in printed["hook_errors"][0]
        [message] = shown["notifications"]
        assert message["subject"].startswith("broken-run failed, see ")
        assert "agree-s3cret" not in message["subject"]  # masked with the block's secrets
        _, printed_text = both.cli("runs", "show", prefix)
        assert message["subject"] in printed_text and "agree-s3cret" not in printed_text


def test_an_ambiguous_or_unknown_prefix_is_the_same_error_in_both(both: Both) -> None:
    ids = [run["id"] for run in both.cli_json("runs", "ls")]
    ids += [task["id"] for run in ids for task in both.cli_json("runs", "show", run)["task_runs"]]
    shared = max((_common_start(a, b) for a, b in combinations(ids, 2)), key=len)
    assert len(ids) == 19 and shared  # more ids than hex digits: two start alike
    error = both.cli_error("runs", "show", shared)
    assert error.startswith(f"the id {shared!r} is ambiguous")
    assert both.http("GET", f"/runs/{shared}") == (400, error)
    assert both.http("GET", f"/api/runs/{shared}") == (400, error)

    unknown = "ffffffffffff" if not any(i.startswith("ffffffffffff") for i in ids) else "0"
    error = both.cli_error("runs", "show", unknown)
    assert both.http("GET", f"/runs/{unknown}") == (404, error)


def _common_start(a: str, b: str) -> str:
    length = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), len(a))
    return a[:length]


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match
    return match.group(1)


def test_a_cancel_that_cannot_be_is_explained_alike_in_both(both: Both) -> None:
    token = _csrf(both.page("/outbox"))
    [broken] = [run for run in both.runs() if run.name == "broken-run"]
    [task] = both.cli_json("runs", "show", broken.id)["task_runs"]
    for run_id, expected in [
        (task["id"], "is a task run; cancel its flow run"),
        (broken.id, "is already Failed; there is nothing to cancel"),
    ]:
        error = both.cli_error("runs", "cancel", short_run_id(run_id))
        assert expected in error
        status, page = both.http(
            "POST", f"/runs/{short_run_id(run_id)}/cancel", f"csrf_token={token}"
        )
        assert status == 409
        notice = re.search(r'<p class="notice" id="notice">(.*?)</p>', page)
        assert notice is not None and _text(notice.group(1)) == error
