"""A run page served by a real ``flowhook ui``, read without a browser."""

from __future__ import annotations

import http.client
import os
import re
from pathlib import Path

import pytest
from browser import free_port, start_ui, stop
from pausing_helpers import start_pausing, wait_for_state, wait_until_paused

from flowhook import flow, get_run_logger
from flowhook._runtime import attach
from flowhook.store import RunQuery, load_settings, open_store
from flowhook.views import LOGS_SHOWN


def test_a_run_with_more_logs_than_a_page_shows_says_where_the_rest_are(
    flowhook_home: Path,
) -> None:
    @flow(flow_run_name="chatty")
    def chatty() -> None:
        logger = get_run_logger()
        for i in range(LOGS_SHOWN + 5):
            logger.info("line %d", i)

    chatty()
    attach.detach()
    store = open_store()
    try:
        [run] = store.list_flow_runs(RunQuery())
    finally:
        store.close()
    port = free_port()
    server = start_ui({"FLOWHOOK_HOME": str(flowhook_home)}, port)
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", f"/runs/{run.id}")
        response = connection.getresponse()
        html = response.read().decode()
    finally:
        stop(server)
    assert response.status == 200
    assert html.count('<tr class="level-info">') == LOGS_SHOWN
    assert f"line {LOGS_SHOWN - 1}<" in html and f"line {LOGS_SHOWN}<" not in html
    assert f"The first {LOGS_SHOWN} records" in html
    assert f"flowhook runs logs {run.id}" in html


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_resume_button_resumes_a_paused_run_and_forged_requests_are_refused(
    backend: str, flowhook_home: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = {**os.environ, "FLOWHOOK_HOME": str(flowhook_home), "FLOWHOOK_HEARTBEAT_SECONDS": "30"}
    if backend == "postgres":
        env.update(
            FLOWHOOK_STORE_URL=request.getfixturevalue("postgres_url"),
            FLOWHOOK_STORE_AUTO_MIGRATE="1",
        )
    child = start_pausing(tmp_path, env)
    port = free_port()
    server = start_ui(env, port)
    store = open_store(load_settings(env))
    try:
        run = wait_until_paused(store, child)
        page = _get(port, f"/runs/{run.id}")
        assert 'id="resume"' in page
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None
        resume = f"/runs/{run.id}/resume"
        assert _post(port, resume, "", f"evil.example:{port}") == 400  # DNS rebinding
        assert _post(port, resume, "csrf_token=guess") == 403
        assert store.get_run("flow", run.id).state_name == "Paused"  # type: ignore[union-attr]
        assert _post(port, resume, f"csrf_token={token.group(1)}") == 200  # the run page, told
        wait_for_state(store, run.id, "Running", "Completed", wait=10)
        child_out, _ = child.communicate(timeout=60)
        assert child_out == "resumed\n"
        assert 'id="resume"' not in _get(port, f"/runs/{run.id}")
    finally:
        store.close()
        stop(server)
        if child.poll() is None:
            child.kill()
            child.wait()


def _get(port: int, path: str) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path)
    return connection.getresponse().read().decode()


def _post(port: int, path: str, body: str, host: str | None = None) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if host is not None:
        headers["Host"] = host
    connection.request("POST", path, body, headers)
    status = connection.getresponse().status
    connection.close()
    return status
