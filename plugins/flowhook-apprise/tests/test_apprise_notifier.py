"""AppriseNotifier against a local HTTP server, through Apprise's json://, form://, xml:// and
ntfy:// URLs (and PagerDuty's, its endpoint pointed at the same server)."""

from __future__ import annotations

import logging
import time
import urllib.parse
import xml.etree.ElementTree as ElementTree

import apprise.plugins.opsgenie
import apprise.plugins.pagerduty
import pytest

from flowhook_apprise import IDEMPOTENCY_HEADER, AppriseNotifier
from flowhook_hookspec import MASK, NotificationError
from flowhook_testing import SlackWebhookServer, WebhookResponse

KEY = "0123456789abcdef0123456789abcdef"


def url(server: SlackWebhookServer, scheme: str = "json", query: str = "") -> str:
    """An Apprise URL of ``scheme`` to ``server``, with its secret-like path."""
    return f"{scheme}://127.0.0.1:{server.port}{server.path}" + (f"?{query}" if query else "")


def notify_error(notifier: AppriseNotifier, **kwargs: str) -> NotificationError:
    with pytest.raises(NotificationError) as info:
        notifier.notify("the source is down", subject="etl failed", **kwargs)
    return info.value


def assert_hidden(server: SlackWebhookServer, *texts: str) -> None:
    for text in texts:
        assert server.token not in text and server.path not in text


def test_json_carries_subject_body_and_the_idempotency_key(
    flowhook_slack_webhook_server: SlackWebhookServer,
) -> None:
    AppriseNotifier(url(flowhook_slack_webhook_server)).notify(
        "the source is down", subject="etl failed", key=KEY
    )

    [request] = flowhook_slack_webhook_server.requests
    assert request.path == flowhook_slack_webhook_server.path
    assert request.json()["title"] == "etl failed"
    assert request.json()["message"] == "the source is down"
    assert request.json()["type"] == "warning"
    assert request.headers[IDEMPOTENCY_HEADER.lower()] == KEY


def test_the_notify_type_is_the_blocks(flowhook_slack_webhook_server: SlackWebhookServer) -> None:
    AppriseNotifier(url(flowhook_slack_webhook_server), notify_type="failure").notify("down")

    assert flowhook_slack_webhook_server.requests[0].json()["type"] == "failure"
    with pytest.raises(ValueError, match="notify_type must be one of info, success, warning"):
        AppriseNotifier(url(flowhook_slack_webhook_server), notify_type="loud")


def test_form_and_xml(flowhook_slack_webhook_server: SlackWebhookServer) -> None:
    server = flowhook_slack_webhook_server
    AppriseNotifier(f"{url(server, 'form')}, {url(server, 'xml')}").notify(
        "disk full", subject="etl failed", key=KEY
    )

    form, xml = server.requests
    assert urllib.parse.parse_qs(form.text)["message"] == ["disk full"]
    assert urllib.parse.parse_qs(form.text)["title"] == ["etl failed"]
    texts = [element.text for element in ElementTree.fromstring(xml.body).iter()]
    assert "disk full" in texts and "etl failed" in texts
    assert form.headers[IDEMPOTENCY_HEADER.lower()] == xml.headers[IDEMPOTENCY_HEADER.lower()]


def test_ntfy_a_real_service_schema(flowhook_slack_webhook_server: SlackWebhookServer) -> None:
    port = flowhook_slack_webhook_server.port
    AppriseNotifier(f"ntfy://127.0.0.1:{port}/etl-alerts").notify("disk full", subject="etl")

    [request] = flowhook_slack_webhook_server.requests
    assert request.json() == {"topic": "etl-alerts", "title": "etl", "message": "disk full"}


def test_pagerduty_gets_the_key_as_its_dedup_key(
    flowhook_slack_webhook_server: SlackWebhookServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PagerDuty's Events API address is fixed in Apprise: point it at the local server.
    lookup = dict(apprise.plugins.pagerduty.PAGERDUTY_API_LOOKUP)
    lookup["us"] = f"http://127.0.0.1:{flowhook_slack_webhook_server.port}/v2/enqueue"
    monkeypatch.setattr(apprise.plugins.pagerduty, "PAGERDUTY_API_LOOKUP", lookup)
    flowhook_slack_webhook_server.respond((202, '{"status": "success"}'))
    flowhook_slack_webhook_server.respond((202, '{"status": "success"}'))

    AppriseNotifier("pagerduty://R0UTINGKEY12@AP1KEY34").notify("down", "etl failed", key=KEY)
    AppriseNotifier("pagerduty://R0UTINGKEY12@AP1KEY34?dedup=etl-nightly").notify(
        "down", "etl failed", key=KEY
    )

    ours, theirs = (request.json() for request in flowhook_slack_webhook_server.requests)
    assert ours["dedup_key"] == KEY
    assert ours["routing_key"] == "R0UTINGKEY12"
    assert theirs["dedup_key"] == "etl-nightly"  # a dedup key in the URL wins


def test_opsgenie_gets_the_key_as_its_alias(
    flowhook_slack_webhook_server: SlackWebhookServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Opsgenie's Alert API address is fixed in Apprise too.
    lookup = dict(apprise.plugins.opsgenie.OPSGENIE_API_LOOKUP)
    lookup["us"] = f"http://127.0.0.1:{flowhook_slack_webhook_server.port}/v2/alerts"
    monkeypatch.setattr(apprise.plugins.opsgenie, "OPSGENIE_API_LOOKUP", lookup)
    flowhook_slack_webhook_server.respond((202, '{"requestId": "r1"}'))

    AppriseNotifier("opsgenie://0PSGENIEAPIKEY42").notify("down", "etl failed", key=KEY)

    [request] = flowhook_slack_webhook_server.requests
    assert request.json()["alias"] == KEY
    assert request.json()["message"] == "etl failed"


@pytest.mark.parametrize("status", [429, 500])
def test_refusals_are_transient_errors_that_say_why(
    flowhook_slack_webhook_server: SlackWebhookServer,
    caplog: pytest.LogCaptureFixture,
    status: int,
) -> None:
    flowhook_slack_webhook_server.respond(status)
    notifier = AppriseNotifier(url(flowhook_slack_webhook_server))

    error = notify_error(notifier)

    assert not error.permanent
    assert f"error={status}" in str(error)
    assert "URL 1 of 1 (JSON)" in str(error)
    assert_hidden(flowhook_slack_webhook_server, str(error), repr(notifier), caplog.text)


def test_a_timeout_is_a_transient_error_within_the_url_timeout(
    flowhook_slack_webhook_server: SlackWebhookServer, caplog: pytest.LogCaptureFixture
) -> None:
    flowhook_slack_webhook_server.respond(WebhookResponse(200, "ok", delay=5))
    notifier = AppriseNotifier(url(flowhook_slack_webhook_server, query="rto=0.5&cto=0.5"))

    started = time.monotonic()
    error = notify_error(notifier)

    assert time.monotonic() - started < 3
    assert not error.permanent
    assert "error occurred sending JSON notification" in str(error)
    assert_hidden(flowhook_slack_webhook_server, str(error), caplog.text)


def test_a_retry_sends_only_to_the_services_that_failed(
    flowhook_slack_webhook_server: SlackWebhookServer,
) -> None:
    server = flowhook_slack_webhook_server
    server.respond("ok", 500)
    notifier = AppriseNotifier(f"{url(server)} {url(server, 'form')}")

    error = notify_error(notifier, key=KEY)
    assert "could not deliver to 1 of 2 services" in str(error)
    assert "URL 2 of 2 (Form)" in str(error)
    notifier.notify("the source is down", subject="etl failed", key=KEY)  # the retry

    kinds = [request.headers["content-type"].split(";")[0] for request in server.requests]
    form = "application/x-www-form-urlencoded"
    assert kinds == ["application/json", form, form]  # json once: it had received the message


def test_invalid_urls_are_refused_without_showing_them(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for value, why in [
        ("bogus://S3CRETVALUE", "URL 1 of 1 (bogus://...)"),
        ("ntfy://ntfy.sh/ok pagerduty://S3CRETVALUE", "URL 2 of 2 (pagerduty://...)"),
        (" , ", "the value given is empty"),
    ]:
        with pytest.raises(ValueError) as info:
            AppriseNotifier(value)
        assert why in str(info.value)
        assert "S3CRETVALUE" not in str(info.value)
    assert "S3CRETVALUE" not in caplog.text


def test_an_empty_message_is_refused_for_good(
    flowhook_slack_webhook_server: SlackWebhookServer,
) -> None:
    with pytest.raises(NotificationError) as info:
        AppriseNotifier(url(flowhook_slack_webhook_server)).notify("  ")
    assert info.value.permanent
    assert flowhook_slack_webhook_server.requests == []


def test_the_urls_are_masked_in_reprs(flowhook_slack_webhook_server: SlackWebhookServer) -> None:
    notifier = AppriseNotifier(url(flowhook_slack_webhook_server))
    assert repr(notifier) == f"AppriseNotifier(urls=Secret({MASK!r}), notify_type='warning')"
    assert_hidden(flowhook_slack_webhook_server, repr(notifier), str(notifier.urls))
