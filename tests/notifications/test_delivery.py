"""Rules, the outbox and delivery, against a real Slack-like server on 127.0.0.1."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import ClassVar

import attrs
import pytest
from click.testing import CliRunner

from flowhook import Notifier, flow, hookimpl
from flowhook._runtime.attach import detach
from flowhook.cli import build_cli

from .conftest import SLACK_RULE


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("timed out waiting")


def outbox(*args: str) -> list[dict]:
    result = CliRunner().invoke(build_cli(), ["outbox", "ls", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture
def slack(flowhook_slack_webhook_server, notifier_plugins, configure, monkeypatch):
    monkeypatch.setenv("SLACK_WEBHOOK_URL", flowhook_slack_webhook_server.url)
    configure(SLACK_RULE)
    yield flowhook_slack_webhook_server
    detach()  # stop this test's recorder and sender before the server goes


def failing_flow(**options):
    @flow(name="etl-daily", flow_run_name="etl-run", **options)
    def etl() -> None:
        raise ValueError("the source is down")

    return etl


def test_a_failed_flow_with_retries_sends_exactly_one_notification(slack) -> None:
    state = failing_flow(retries=2)(return_state=True)
    assert state.is_failed()
    wait_for(lambda: outbox("--status", "sent"))
    time.sleep(0.3)  # nothing else arrives
    [request] = slack.requests
    payload = request.json()
    assert "etl-run is Failed" in json.dumps(payload)
    assert "the source is down" in payload["text"]
    [message] = outbox()
    assert (message["status"], message["attempts"]) == ("sent", 1)


def test_completed_and_unmatched_flows_send_nothing(slack) -> None:
    flow(name="etl-ok")(lambda: 1)()
    flow(name="report")(lambda: 1 / 0)(return_state=True)
    time.sleep(0.2)
    assert slack.requests == [] and outbox() == []


def test_429_then_ok_delivers_once_after_retry_after(slack) -> None:
    slack.respond((429, {"Retry-After": "1"}), "ok")
    failing_flow()(return_state=True)
    wait_for(lambda: outbox("--status", "sent"), timeout=15)
    first, second = slack.requests
    assert second.received_at - first.received_at >= 0.95
    assert outbox()[0]["attempts"] == 2


def test_500_500_ok_delivers_once(slack) -> None:
    slack.respond(500, 500, "ok")
    failing_flow()(return_state=True)
    wait_for(lambda: outbox("--status", "sent"), timeout=15)
    assert len(slack.requests) == 3
    assert outbox()[0]["attempts"] == 3


def test_every_attempt_at_one_message_carries_the_same_idempotency_key(slack) -> None:
    slack.respond(500, "ok")
    failing_flow()(return_state=True)
    failing_flow()(return_state=True)
    wait_for(lambda: len(outbox("--status", "sent")) == 2, timeout=15)
    keys = [request.headers["x-flowhook-idempotency-key"] for request in slack.requests]
    assert len(keys) == 3 and all(re.fullmatch(r"[0-9a-f]{32}", key) for key in keys)
    # The first message twice (its 500, then its retry), the second run's once.
    assert sorted(keys.count(key) for key in set(keys)) == [1, 2]
    assert keys.count(keys[0]) == 2


def test_a_notifier_whose_notify_takes_no_key_still_delivers(flowhook_plugins, configure) -> None:
    received = []

    @attrs.define
    class Pager(Notifier):
        block_type: ClassVar[str] = "pager"

        def notify(self, body: str, subject: str | None = None) -> None:  # written before key
            received.append(body)

    class Plugin:
        @hookimpl
        def register_notifiers(self, register):
            register(Pager)

    flowhook_plugins.register(Plugin(), name="pager")
    configure('[[notifications]]\non = ["Failed"]\nblocks = ["pager/x"]\n[blocks."pager/x"]\n')
    failing_flow()(return_state=True)
    wait_for(lambda: received, timeout=15)
    detach()
    assert len(received) == 1


def test_404_goes_dead_naming_no_service_and_the_url_appears_nowhere(
    slack, caplog, flowhook_home: Path
) -> None:
    slack.respond(404)
    failing_flow()(return_state=True)
    wait_for(lambda: outbox("--status", "dead"), timeout=15)
    [dead] = outbox("--status", "dead")
    assert "no_service" in dead["last_error"]
    assert len(slack.requests) == 1  # permanent: not retried
    secret_path = slack.url.split("//", 1)[1].split("/", 1)[1]
    listing = CliRunner().invoke(build_cli(), ["outbox", "ls"]).output
    detach()
    database = b"".join(path.read_bytes() for path in flowhook_home.glob("flowhook.db*"))
    for haystack in (caplog.text, listing, json.dumps(outbox()), database.decode("latin-1")):
        assert slack.url not in haystack and secret_path not in haystack


def test_retry_dead_from_the_cli_delivers_at_once(slack) -> None:
    slack.respond(404, "ok")
    failing_flow()(return_state=True)
    wait_for(lambda: outbox("--status", "dead"), timeout=15)
    [dead] = outbox("--status", "dead")
    result = CliRunner().invoke(build_cli(), ["outbox", "retry", "--all-dead"])
    assert result.exit_code == 0, result.output
    assert result.output == (
        "1 notification(s) made due again.\nDelivered 1 notification; none pending.\n"
    )
    assert outbox()[0]["id"] == dead["id"] and outbox()[0]["status"] == "sent"
    assert len(slack.requests) == 2  # the 404, then the retry
    unknown = CliRunner().invoke(build_cli(), ["outbox", "retry", "999"])
    assert unknown.exit_code == 1 and "999" in unknown.output


def test_task_rules_and_template_fallback(
    flowhook_slack_webhook_server, notifier_plugins, configure, monkeypatch
) -> None:
    from flowhook import task

    monkeypatch.setenv("SLACK_WEBHOOK_URL", flowhook_slack_webhook_server.url)
    configure(
        """
        [[notifications]]
        on = ["FAILED"]
        tasks = ["load*"]
        blocks = ["slack-webhook/ops"]
        subject = "{{ task_run.missing_attribute.deeper }}"

        [blocks."slack-webhook/ops"]
        url = { env = "SLACK_WEBHOOK_URL" }
        """
    )

    @task
    def load_rows() -> None:
        raise OSError("disk")

    @flow
    def etl() -> None:
        load_rows(return_state=True)

    etl()
    wait_for(lambda: flowhook_slack_webhook_server.requests)
    detach()
    text = flowhook_slack_webhook_server.requests[0].json()["text"]
    assert "task run load_rows-" in text and "template failed" in text


def test_outbox_ls_shows_the_run_the_subject_and_when(slack) -> None:
    before = time.time()
    failing_flow()(return_state=True)
    wait_for(lambda: outbox("--status", "sent"), timeout=15)
    detach()
    [sent] = outbox()
    assert (sent["run_kind"], sent["run_name"], sent["subject"]) == (
        "flow",
        "etl-run",
        "etl-run is Failed",
    )
    assert before <= sent["queued"] <= time.time() and sent["next_attempt"] is None
    header, row = CliRunner().invoke(build_cli(), ["outbox", "ls"]).output.splitlines()
    assert header.split() == [
        "ID", "BLOCK", "STATUS", "RUN", "SUBJECT", "QUEUED", "NEXT", "ATTEMPT", "ATTEMPTS", "LAST", "ERROR"
    ]  # fmt: skip
    queued = time.strftime("%Y-%m-%d %H:%M", time.localtime(sent["queued"]))
    assert re.fullmatch(
        rf"{sent['id']}\s+slack-webhook/ops\s+sent\s+etl-run\s+etl-run is Failed\s+{queued}:\d\d\s+-"
        r"\s+1\s+-",
        row,
    )


def test_prune_removes_sent_notifications_and_a_dry_run_removes_nothing(slack) -> None:
    failing_flow()(return_state=True)
    wait_for(lambda: outbox("--status", "sent"), timeout=15)
    detach()
    dry = CliRunner().invoke(build_cli(), ["runs", "prune", "--older-than", "0s", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert re.fullmatch(
        r"Would delete 1 flow runs, 0 task runs, 3 state events and \d+ log records of runs "
        r"that ended before .* \(older "
        r"than 0s\), and 1 sent notification; nothing was deleted\.\n",
        dry.output,
    )
    assert len(outbox()) == 1
    runs = json.loads(CliRunner().invoke(build_cli(), ["runs", "ls", "--json"]).output)
    assert len(runs) == 1
    done = CliRunner().invoke(build_cli(), ["runs", "prune", "--older-than", "0s"])
    assert done.output.startswith("Deleted 1 flow runs, 0 task runs, 3 state events and ")
    assert done.output.endswith(", and 1 sent notification.\n")
    assert outbox() == []
    again = CliRunner().invoke(build_cli(), ["runs", "prune", "--older-than", "0s"])
    assert again.output.endswith(", and 0 sent notifications.\n")


def test_detach_stops_the_delivery_thread_and_leaves_the_pending_message_in_the_outbox(
    slack,
) -> None:
    import threading

    # Every answer fails: the jittered backoff may make the retry due at once, and it must not
    # be the one that succeeds before detach().
    slack.respond(*[500] * 50)
    failing_flow()(return_state=True)
    wait_for(lambda: len(slack.requests) >= 1)
    detach()
    # Before stop() existed the thread went on polling a store nobody held any more.
    assert not [t for t in threading.enumerate() if t.name == "flowhook-delivery" and t.is_alive()]
    [message] = outbox()
    assert message["status"] == "pending" and message["attempts"] == len(slack.requests)


class CountingStore:
    """A real store whose claim renewals are counted (everything else goes through)."""

    def __init__(self, store: object) -> None:
        self._store = store
        self.renewals = 0

    def renew_outbox_claim(self, *args: object) -> bool:
        self.renewals += 1
        return self._store.renew_outbox_claim(*args)  # type: ignore[attr-defined, no-any-return]

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)


@pytest.mark.parametrize(("delay", "lease", "renewed"), [(0.0, "120", False), (0.3, "1", True)])
def test_a_claim_is_renewed_only_when_half_its_lease_has_gone(
    flowhook_slack_webhook_server, monkeypatch, delay: float, lease: str, renewed: bool
) -> None:
    """A fast batch writes no renewal (each cost 15 % of throughput); a batch slower than half
    a lease renews before its later sends, and still sends each message once."""
    from flowhook.notifications import deliver_due
    from flowhook.store import OutboxEntry, open_store
    from flowhook_slack import SlackWebhook
    from flowhook_testing import WebhookResponse

    monkeypatch.setenv("FLOWHOOK_DELIVERY_CLAIM_SECONDS", lease)
    server = flowhook_slack_webhook_server
    server.respond(*[WebhookResponse(200, "ok", delay=delay)] * 6)

    @attrs.define
    class Unspaced(SlackWebhook):  # no per-block spacing: the sends' own time is the test's
        min_interval_seconds = 0.0

    notifier = Unspaced(server.url)
    store = CountingStore(open_store())
    entries = [
        OutboxEntry(f"e{i}", "slack-webhook", "ops", "r", "flow", "run", f"e{i}", "s", f"m{i}", 0)
        for i in range(6)
    ]
    store.enqueue_outbox(entries)
    assert deliver_due(store, lambda name: notifier, "test:1") == (6, 6)
    assert (store.renewals > 0) is renewed
    texts = sorted(r.json()["text"].rsplit("\n", 1)[-1] for r in server.requests)
    assert texts == [f"m{i}" for i in range(6)]
    store.close()
