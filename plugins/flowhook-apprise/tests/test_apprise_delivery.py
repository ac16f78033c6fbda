"""The apprise block in notification rules: the durable outbox retries what Apprise reports
failed, with one idempotency key per message; the CLI never shows the URLs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import flowhook_apprise
from flowhook import flow
from flowhook._runtime.attach import detach
from flowhook.cli import build_cli
from flowhook.testing import PluginManager
from flowhook_apprise import IDEMPOTENCY_HEADER
from flowhook_testing import SlackWebhookServer

RULE = """
[[notifications]]
on = ["Failed"]
blocks = ["apprise/oncall"]
subject = "{{ flow_run.name }} is {{ state.name }}"

[blocks."apprise/oncall"]
urls = { env = "ONCALL_URLS" }
"""


def outbox() -> list[dict[str, object]]:
    result = CliRunner().invoke(build_cli(), ["outbox", "ls", "--json"])
    assert result.exit_code == 0, result.output
    return list(json.loads(result.output))


@pytest.fixture
def oncall(
    flowhook_slack_webhook_server: SlackWebhookServer,
    flowhook_plugins: PluginManager,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> SlackWebhookServer:
    flowhook_plugins.register(flowhook_apprise)
    server = flowhook_slack_webhook_server
    monkeypatch.setenv("ONCALL_URLS", f"json://127.0.0.1:{server.port}{server.path}")
    monkeypatch.setenv("FLOWHOOK_DELIVERY_BACKOFF_SECONDS", "0.05")
    config = tmp_path / "flowhook.toml"
    config.write_text(textwrap.dedent(RULE))
    monkeypatch.setenv("FLOWHOOK_CONFIG", str(config))
    yield server
    detach()


def test_a_send_apprise_reports_failed_is_retried_with_the_same_key(
    oncall: SlackWebhookServer,
) -> None:
    oncall.respond(500, 429, "ok")

    @flow(name="etl", flow_run_name="etl-run")
    def etl() -> None:
        raise ValueError("the source is down")

    assert etl(return_state=True).is_failed()
    deadline = time.monotonic() + 15
    while not [m for m in outbox() if m["status"] == "sent"]:
        assert time.monotonic() < deadline, outbox()
        time.sleep(0.05)

    requests = oncall.requests
    assert len(requests) == 3
    assert {request.json()["title"] for request in requests} == {"etl-run is Failed"}
    assert "the source is down" in requests[-1].json()["message"]
    keys = {request.headers[IDEMPOTENCY_HEADER.lower()] for request in requests}
    assert len(keys) == 1
    [message] = outbox()
    assert message["attempts"] == 3
    assert oncall.token not in json.dumps(outbox())


def _flowhook(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("flowhook")), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "FLOWHOOK_HOME": str(home)},
        timeout=60,
        check=False,
    )


def test_block_create_checks_the_urls_and_never_shows_them(tmp_path: Path) -> None:
    secret = "S3CRET0TOKEN"
    created = _flowhook(
        tmp_path, "block", "create", "apprise/oncall", "--set", f"urls=ntfy://ntfy.sh/{secret}"
    )
    assert created.returncode == 0, created.stderr
    shown = _flowhook(tmp_path, "block", "show", "apprise/oncall")
    listed = _flowhook(tmp_path, "block", "ls")
    assert "apprise/oncall" in listed.stdout
    assert "**********" in shown.stdout
    refused = _flowhook(
        tmp_path, "block", "create", "apprise/bad", "--set", f"urls=bogus://{secret}"
    )
    assert refused.returncode != 0
    assert "URL 1 of 1 (bogus://...) is not one Apprise can use" in refused.stderr
    assert "Traceback" not in refused.stderr
    for done in (created, shown, listed, refused):
        assert secret not in done.stdout + done.stderr
