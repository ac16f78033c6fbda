"""A notification rule on Paused: the alert ("approval needed") is sent while the run waits."""

from __future__ import annotations

import threading
import time

import flowhook
from flowhook import flow
from flowhook._runtime.attach import detach

RULE = """
[[notifications]]
on = ["Paused"]
flows = ["release"]
blocks = ["slack-webhook/ops"]
subject = "{{ flow_run.name }} is {{ state.name }}: resume it with flowhook runs resume"

[blocks."slack-webhook/ops"]
url = { env = "SLACK_WEBHOOK_URL" }
"""


def test_a_rule_on_paused_notifies_while_the_run_waits(
    flowhook_slack_webhook_server, notifier_plugins, configure, monkeypatch
) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", flowhook_slack_webhook_server.url)
    configure(RULE)
    run_ids = []
    sent_before_resume = []

    @flow(flow_run_name="release-42")
    def release() -> str:
        run_ids.append(flowhook.get_run_context().flow_run.id)  # type: ignore[union-attr]
        flowhook.pause_flow_run(timeout=30)
        return "shipped"

    def approve_once_notified() -> None:
        deadline = time.monotonic() + 20
        while not flowhook_slack_webhook_server.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        sent_before_resume.append(len(flowhook_slack_webhook_server.requests))
        flowhook.resume_flow_run(run_ids[0])

    approver = threading.Thread(target=approve_once_notified)
    approver.start()
    try:
        assert release() == "shipped"
    finally:
        approver.join()
        detach()
    assert sent_before_resume == [1]
    [request] = flowhook_slack_webhook_server.requests
    assert "release-42 is Paused: resume it with flowhook runs resume" in request.json()["text"]
