"""A run page served by a real ``flowhook ui``, read without a browser."""

from __future__ import annotations

import http.client
from pathlib import Path

from browser import free_port, start_ui, stop

from flowhook import flow, get_run_logger
from flowhook._runtime import attach
from flowhook.store import RunQuery, open_store
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
