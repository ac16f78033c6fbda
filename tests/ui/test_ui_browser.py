"""The web UI in a real headless browser (Debian's chromium, driven by Playwright), against a
``flowhook ui`` server on a store of real runs: what a user sees and clicks."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from browser import FLOWHOOK
from playwright.sync_api import Page, expect
from ui_session import SECRET_URL, UI

from flowhook_hookspec.run_ids import short_run_id

pytestmark = pytest.mark.slow


def test_the_runs_list_filters_by_state_and_opens_a_run_with_its_timeline(
    ui: UI, page: Page
) -> None:
    page.goto(ui.url + "/")
    rows = page.locator("tr.run-row")
    expect(rows).to_have_count(3)
    expect(page.locator("svg.counts rect")).not_to_have_count(0)

    page.select_option("select[name=state]", "FAILED")
    page.click("button:text('Filter')")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("broken-run")
    assert "state=FAILED" in page.url

    page.goto(ui.url + "/")
    page.click("text=etl-5")
    expect(page.locator("h1")).to_contain_text("etl-5")
    expect(page.locator("#run-state")).to_have_text("Completed")
    bars = page.locator("svg.timeline rect.bar.s-completed")
    expect(bars).to_have_count(5)
    expect(page.locator("tr.task-row")).to_have_count(5)
    expect(page.locator("pre.params")).to_contain_text('"n": 5')


def test_a_run_page_shows_the_runs_logs(ui: UI, page: Page) -> None:
    [etl] = [run for run in ui.runs("etl") if run.name == "etl-5"]
    page.goto(f"{ui.url}/runs/{etl.id}")
    line = page.locator("table.logs tr", has_text="summed 5 rows")
    expect(line).to_have_count(1)
    expect(line).to_contain_text("WARNING")


def test_a_bad_filter_or_run_id_is_one_line(ui: UI, page: Page) -> None:
    response = page.goto(ui.url + "/?since=yesterday")
    assert response is not None and response.status == 400
    expect(page.locator("p.error")).to_have_text(
        "since: 'yesterday' is neither a duration (e.g. 2h, 7d) nor a date or time "
        "(e.g. 2026-11-24 or 2026-11-24T08:00)"
    )
    response = page.goto(ui.url + "/runs/0000")
    assert response is not None and response.status == 404
    assert page.inner_text("body") == "no run has an id starting with '0000'"


def test_a_failed_run_shows_its_history_and_failing_state(ui: UI, page: Page) -> None:
    [broken] = ui.runs("broken")
    page.goto(f"{ui.url}/runs/{broken.id}")
    expect(page.locator("#run-state")).to_have_text("Failed")
    expect(page.locator("table.history")).to_contain_text("Running")
    expect(page.locator(".message-line")).to_contain_text("the source is gone")
    expect(page.locator("tr.message")).to_have_count(1)
    expect(page.locator("#cancel")).to_have_count(0)  # a final run has nothing to cancel


def test_an_open_run_page_follows_the_run_live(ui: UI, page: Page, tmp_path: Path) -> None:
    ui.follow_a_gated_run(page, tmp_path / "gate")


def _status(ui: UI, method: str, path: str, body: str = "", host: str | None = None) -> int:
    """The status of a raw request, with the Host header ``host`` (a browser on a rebound
    name sends its own)."""
    connection = http.client.HTTPConnection("127.0.0.1", ui.port, timeout=10)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if host is not None:
        headers["Host"] = host
    connection.request(method, path, body, headers)
    status = connection.getresponse().status
    connection.close()
    return status


def test_a_running_flow_is_cancelled_from_its_page_and_forged_requests_are_refused(
    ui: UI, page: Page
) -> None:
    process = ui.start_flow("forever")
    try:
        run = ui.wait_for(lambda: ui.runs("forever", "running"), "the flow to run")[0]
        page.goto(f"{ui.url}/runs/{run.id}")
        token = page.locator("input[name=csrf_token]").first.get_attribute("value")
        assert token

        cancel = f"/runs/{run.id}/cancel"
        assert _status(ui, "GET", "/", host="evil.example") == 400  # DNS rebinding
        assert _status(ui, "POST", cancel, f"csrf_token={token}", f"evil.example:{ui.port}") == 400
        assert _status(ui, "POST", cancel) == 403  # no token
        assert _status(ui, "POST", cancel, "csrf_token=guess") == 403
        assert _status(ui, "GET", "/", host=f"localhost:{ui.port}") == 200
        still = ui.store.get_run("flow", run.id)
        assert still is not None
        assert (still.state_name, still.cancel_requested) == ("Running", None)

        page.click("#cancel")
        expect(page.locator("#notice")).to_contain_text(  # what `flowhook runs cancel` prints
            f"Cancel requested for flow run 'forever-run' ({short_run_id(run.id)}). Its process (pid "
        )
        expect(page.locator("#run-state")).to_have_text("Cancelled", timeout=10_000)
        assert process.wait(timeout=30) is not None
        ended = ui.store.get_run("flow", run.id)
        assert ended is not None and ended.state_name == "Cancelled"
    finally:
        if process.poll() is None:
            process.kill()


def test_the_outbox_masks_secrets_and_retries_a_dead_message(ui: UI, page: Page) -> None:
    secret_path = SECRET_URL.split("127.0.0.1:9", 1)[1]
    [broken] = ui.runs("broken")
    for path in ("/outbox", "/outbox?status=dead", f"/runs/{broken.id}"):
        page.goto(ui.url + path)
        html = page.content()
        assert "broken-run failed" in html
        assert secret_path not in html and "s3cr3t" not in html
        assert "**********" in html

    page.goto(ui.url + "/outbox?status=dead")
    message = page.locator("tr.message")
    expect(message).to_have_count(1)
    message.locator("button:text('Retry')").click()
    expect(page).to_have_url(re.compile(r"/outbox\?status=dead$"))
    expect(page.locator("tr.message")).to_have_count(0)
    [pending] = ui.store.list_outbox("pending")
    assert pending.attempts == 0


def test_the_plugins_page_lists_what_flowhook_plugins_lists(ui: UI, page: Page) -> None:
    listed = subprocess.run(
        [FLOWHOOK, "plugins", "--json"],
        env={**os.environ, **ui.env},
        capture_output=True,
        text=True,
        check=True,
    )
    expected = [(p["name"], p["status"]) for p in json.loads(listed.stdout)]
    page.goto(ui.url + "/plugins")
    rows = page.locator("tr.plugin")
    shown = [
        (row.locator("td").nth(0).inner_text(), row.locator("td").nth(2).inner_text())
        for row in rows.all()
    ]
    assert shown == expected and len(shown) >= 3


def test_the_screenshot_script_makes_the_pictures_of_the_docs(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, str(root / "docs" / "screenshots.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("ui-runs.png", "ui-run.png"):
        head = (tmp_path / name).read_bytes()[:24]
        assert head[:8] == b"\x89PNG\r\n\x1a\n"
        assert int.from_bytes(head[16:20], "big") == 1280  # the width of the browser's window
        assert (root / "docs" / "_static" / name).exists()  # the ones the docs show


def test_the_event_stream_of_a_run_says_what_changed_and_ends_with_the_run(ui: UI) -> None:
    [etl] = [run for run in ui.runs("etl") if run.name == "etl-5"]
    connection = http.client.HTTPConnection("127.0.0.1", ui.port, timeout=10)
    connection.request("GET", f"/runs/{etl.id}/events?seen=an-older-version")
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type", "").startswith("text/event-stream")
    body = response.read().decode()  # the run is final: one event, and the stream ends
    connection.close()
    [event] = [block for block in body.split("\n\n") if block.startswith("event:")]
    kind, data = event.split("\n")
    assert kind == "event: change"
    change = json.loads(data.removeprefix("data: "))
    assert (change["state"], change["final"]) == ("Completed", True)
    assert change["version"] != "an-older-version"
    assert _status(ui, "GET", "/runs/0000/events") == 404
    assert _status(ui, "GET", "/runs/not-a-run/events") == 400  # not an id, as in the CLI
