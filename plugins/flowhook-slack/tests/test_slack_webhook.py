"""SlackWebhook against a local Slack-like webhook server (flowhook_testing)."""

from __future__ import annotations

import email.utils
import importlib.metadata
import logging
import os
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest

import flowhook_slack
from flowhook.notifications import notifier_types
from flowhook.testing import PluginManager
from flowhook_hookspec import MASK, NotificationError
from flowhook_slack import SlackWebhook
from flowhook_slack._webhook import MAX_HEADER_TEXT, MAX_SECTION_TEXT, MAX_TEXT, TRUNCATION_MARK
from flowhook_testing import SlackWebhookServer, WebhookResponse, closed_port


def _notify_error(notifier: SlackWebhook, body: str = "hello") -> NotificationError:
    with pytest.raises(NotificationError) as info:
        notifier.notify(body, subject="subject")
    return info.value


def _assert_secret_hidden(
    server: SlackWebhookServer, notifier: SlackWebhook, error: Exception, logs: str
) -> None:
    for shown in (str(error), repr(error), repr(notifier), str(notifier), logs):
        assert server.token not in shown
        assert server.path not in shown


# -- success -----------------------------------------------------------------------------------


def test_ok_posts_escaped_text_and_blocks(
    flowhook_slack_webhook_server: SlackWebhookServer,
) -> None:
    SlackWebhook(flowhook_slack_webhook_server.url).notify(
        "Run <b>1</b> & co failed\nValueError: x > y", subject="etl <prod> failed"
    )

    [request] = flowhook_slack_webhook_server.requests
    assert request.method == "POST"
    assert request.path == flowhook_slack_webhook_server.path
    assert request.headers["content-type"].startswith("application/json")
    payload = request.json()
    body = "Run &lt;b&gt;1&lt;/b&gt; &amp; co failed\nValueError: x &gt; y"
    assert payload["text"] == f"*etl &lt;prod&gt; failed*\n{body}"
    assert payload["blocks"] == [
        {"type": "header", "text": {"type": "plain_text", "text": "etl &lt;prod&gt; failed"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": body}},
    ]
    assert "username" not in payload


def test_the_idempotency_key_travels_in_a_header(
    flowhook_slack_webhook_server: SlackWebhookServer,
) -> None:
    notifier = SlackWebhook(flowhook_slack_webhook_server.url)
    notifier.notify("with a key", key="0123456789abcdef0123456789abcdef")
    notifier.notify("without one")
    keyed, plain = flowhook_slack_webhook_server.requests
    assert keyed.headers["x-flowhook-idempotency-key"] == "0123456789abcdef0123456789abcdef"
    assert "x-flowhook-idempotency-key" not in plain.headers


def test_consecutive_messages_share_a_connection_and_survive_its_closing(
    flowhook_slack_webhook_server: SlackWebhookServer,
) -> None:
    notifier = SlackWebhook(flowhook_slack_webhook_server.url)
    notifier.notify("first")
    notifier.notify("second")
    flowhook_slack_webhook_server.stop()  # closes the connection kept open
    flowhook_slack_webhook_server.start()
    notifier.notify("third")
    texts = [request.json()["text"] for request in flowhook_slack_webhook_server.requests]
    assert texts == ["first", "second", "third"]
    ports = [request.client_port for request in flowhook_slack_webhook_server.requests]
    assert ports[0] == ports[1] != ports[2]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_opens_its_own_connection(
    flowhook_slack_webhook_server: SlackWebhookServer,
) -> None:
    notifier = SlackWebhook(flowhook_slack_webhook_server.url)
    notifier.notify("parent")
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's outcome is its exit status
        try:
            notifier.notify("child")
        finally:
            os._exit(0)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    notifier.notify("parent again")
    requests = flowhook_slack_webhook_server.requests
    assert [request.json()["text"] for request in requests] == ["parent", "child", "parent again"]
    parent, forked, again = (request.client_port for request in requests)
    assert parent == again != forked


def test_a_proxy_in_the_environment_carries_the_message(
    flowhook_slack_webhook_server: SlackWebhookServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``http_proxy`` set, the POST goes to the proxy (here the local server, which sees
    the absolute URL a proxy is asked for), not to the webhook's host."""
    for name in ("no_proxy", "NO_PROXY", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{flowhook_slack_webhook_server.port}")
    notifier = SlackWebhook("http://hooks.example.invalid/services/T0/B0/s3cr3tvalue")
    notifier.notify("through the proxy")
    [request] = flowhook_slack_webhook_server.requests
    assert request.path == "http://hooks.example.invalid/services/T0/B0/s3cr3tvalue"
    assert request.json()["text"] == "through the proxy"


def test_without_subject_sends_body_only(flowhook_slack_webhook_server: SlackWebhookServer) -> None:
    SlackWebhook(flowhook_slack_webhook_server.url).notify("all good")

    payload = flowhook_slack_webhook_server.requests[0].json()
    assert payload["text"] == "all good"
    assert [block["type"] for block in payload["blocks"]] == ["section"]


def test_username_and_icon_are_sent(flowhook_slack_webhook_server: SlackWebhookServer) -> None:
    notifier = SlackWebhook(
        flowhook_slack_webhook_server.url, username="flowhook", icon_emoji=":robot:"
    )
    notifier.notify("hi")

    payload = flowhook_slack_webhook_server.requests[0].json()
    assert payload["username"] == "flowhook"
    assert payload["icon_emoji"] == ":robot:"
    assert "icon_url" not in payload


def test_long_messages_are_cut_to_slack_limits(
    flowhook_slack_webhook_server: SlackWebhookServer,
) -> None:
    SlackWebhook(flowhook_slack_webhook_server.url).notify(
        "line of text\n" * 5000, subject="S" * 400
    )

    payload = flowhook_slack_webhook_server.requests[0].json()
    assert len(payload["text"]) <= MAX_TEXT
    assert payload["text"].endswith(TRUNCATION_MARK)
    header, *sections = payload["blocks"]
    assert header["type"] == "header"
    assert len(header["text"]["text"]) == MAX_HEADER_TEXT
    assert header["text"]["text"].endswith(TRUNCATION_MARK)
    assert len(sections) > 1
    assert all(0 < len(block["text"]["text"]) <= MAX_SECTION_TEXT for block in sections)
    assert sum(len(block["text"]["text"]) for block in sections) <= MAX_TEXT
    assert sections[-1]["text"]["text"].endswith(TRUNCATION_MARK)
    # sections are cut at line ends: every section holds whole lines only
    assert all(
        re.fullmatch(r"(line of text\n)*line of text", block["text"]["text"])
        for block in sections[:-1]
    )


def test_cutting_never_splits_an_escaped_character(
    flowhook_slack_webhook_server: SlackWebhookServer,
) -> None:
    SlackWebhook(flowhook_slack_webhook_server.url).notify("&<" * 20_000)

    payload = flowhook_slack_webhook_server.requests[0].json()
    assert len(payload["text"]) <= MAX_TEXT
    assert re.fullmatch(r"(&amp;|&lt;)+" + re.escape(TRUNCATION_MARK), payload["text"])
    for block in payload["blocks"]:
        text = block["text"]["text"].removesuffix(TRUNCATION_MARK)
        assert re.fullmatch(r"(&amp;|&lt;)+", text), text[-10:]


def test_empty_message_is_refused_without_posting(
    flowhook_slack_webhook_server: SlackWebhookServer,
) -> None:
    notifier = SlackWebhook(flowhook_slack_webhook_server.url)

    with pytest.raises(NotificationError) as info:
        notifier.notify(" \n ")

    assert info.value.permanent
    assert "nothing to send" in str(info.value)
    assert flowhook_slack_webhook_server.requests == []


def test_subject_alone_is_a_message(flowhook_slack_webhook_server: SlackWebhookServer) -> None:
    SlackWebhook(flowhook_slack_webhook_server.url).notify("", subject="deploy\ndone")

    payload = flowhook_slack_webhook_server.requests[0].json()
    assert payload["text"] == "*deploy done*"
    assert payload["blocks"] == [
        {"type": "header", "text": {"type": "plain_text", "text": "deploy done"}}
    ]


# -- transient errors --------------------------------------------------------------------------


def test_rate_limit_is_transient_with_retry_after(
    flowhook_slack_webhook_server: SlackWebhookServer,
) -> None:
    flowhook_slack_webhook_server.respond((429, {"Retry-After": "1"}))
    notifier = SlackWebhook(flowhook_slack_webhook_server.url)

    error = _notify_error(notifier)

    assert not error.permanent
    assert error.retry_after == 1.0
    assert "429" in str(error)
    assert "rate_limited" in str(error)
    notifier.notify("the script is used up: the next answer is ok")
    assert len(flowhook_slack_webhook_server.requests) == 2


def test_retry_after_as_http_date(flowhook_slack_webhook_server: SlackWebhookServer) -> None:
    later = datetime.now(timezone.utc) + timedelta(seconds=60)
    flowhook_slack_webhook_server.respond(
        (503, {"Retry-After": email.utils.format_datetime(later, True)})
    )

    error = _notify_error(SlackWebhook(flowhook_slack_webhook_server.url))

    assert not error.permanent
    assert error.retry_after is not None
    assert 50 <= error.retry_after <= 61


@pytest.mark.parametrize(("status", "code"), [(500, "rollup_error"), (502, "bad gateway")])
def test_server_errors_are_transient(
    flowhook_slack_webhook_server: SlackWebhookServer, status: int, code: str
) -> None:
    flowhook_slack_webhook_server.respond((status, code))

    error = _notify_error(SlackWebhook(flowhook_slack_webhook_server.url))

    assert not error.permanent
    assert error.retry_after is None
    assert f"HTTP {status} {code}" in str(error)


def test_timeout_is_transient(flowhook_slack_webhook_server: SlackWebhookServer) -> None:
    flowhook_slack_webhook_server.respond(WebhookResponse(delay=1.5))
    notifier = SlackWebhook(flowhook_slack_webhook_server.url, timeout=0.3)

    started = time.monotonic()
    error = _notify_error(notifier)
    elapsed = time.monotonic() - started

    assert not error.permanent
    assert "did not answer within 0.3 s" in str(error)
    assert elapsed < 1.2
    assert len(flowhook_slack_webhook_server.requests) == 1  # the request did arrive
    assert flowhook_slack_webhook_server.token not in str(error)


def test_connection_refused_is_transient(
    flowhook_slack_webhook_server: SlackWebhookServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"http://127.0.0.1:{closed_port()}{flowhook_slack_webhook_server.path}"
    notifier = SlackWebhook(url)

    error = _notify_error(notifier)
    logging.getLogger("test").error("delivery failed", exc_info=error)

    assert not error.permanent
    assert "could not reach the Slack webhook at 127.0.0.1:" in str(error)
    assert "refused" in str(error).lower()
    assert "delivery failed" in caplog.text
    _assert_secret_hidden(flowhook_slack_webhook_server, notifier, error, caplog.text)


# -- permanent errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "invalid_payload"),
        (403, "action_prohibited"),
        (404, "no_service"),
        (410, "channel_is_archived"),
    ],
)
def test_refusals_are_permanent_and_never_show_the_url(
    flowhook_slack_webhook_server: SlackWebhookServer,
    caplog: pytest.LogCaptureFixture,
    status: int,
    code: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    flowhook_slack_webhook_server.respond((status, code))
    notifier = SlackWebhook(flowhook_slack_webhook_server.url)

    error = _notify_error(notifier)
    # what the engine does with a failed delivery: log it with its traceback
    logging.getLogger("flowhook.notifications").error("delivery failed", exc_info=error)

    assert error.permanent
    assert error.retry_after is None
    assert f"HTTP {status} {code}" in str(error)
    assert code in caplog.text  # the log holds the error...
    _assert_secret_hidden(
        flowhook_slack_webhook_server, notifier, error, caplog.text
    )  # ...not the URL


def test_error_body_echoing_the_url_is_redacted(
    flowhook_slack_webhook_server: SlackWebhookServer,
) -> None:
    flowhook_slack_webhook_server.respond(
        (404, f"unknown path {flowhook_slack_webhook_server.path}")
    )
    notifier = SlackWebhook(flowhook_slack_webhook_server.url)

    error = _notify_error(notifier)

    assert error.permanent
    assert MASK in str(error)
    _assert_secret_hidden(flowhook_slack_webhook_server, notifier, error, "")


def test_ok_status_with_other_body_is_permanent(
    flowhook_slack_webhook_server: SlackWebhookServer,
) -> None:
    flowhook_slack_webhook_server.respond((200, "missing_text_or_fallback_or_attachments"))

    error = _notify_error(SlackWebhook(flowhook_slack_webhook_server.url))

    assert error.permanent
    assert "missing_text_or_fallback_or_attachments" in str(error)


def test_redirects_are_not_followed(flowhook_slack_webhook_server: SlackWebhookServer) -> None:
    elsewhere = f"{flowhook_slack_webhook_server.url}/elsewhere"
    flowhook_slack_webhook_server.respond((302, "moved", {"Location": elsewhere}))

    error = _notify_error(SlackWebhook(flowhook_slack_webhook_server.url))

    assert error.permanent
    assert "redirect" in str(error)
    assert len(flowhook_slack_webhook_server.requests) == 1


# -- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example.com/services/T0/B0/s3cr3tvalue",
        "hooks.example.com/services/T0/B0/s3cr3tvalue",
        "https:///services/T0/B0/s3cr3tvalue",
        "https://hooks.example.com/services/T0/B0/s3cr3t value",
        "https://hooks.example.com:port/services/T0/B0/s3cr3tvalue",
        "",
    ],
)
def test_invalid_urls_are_refused_without_echo(url: str) -> None:
    with pytest.raises(ValueError, match="http") as info:
        SlackWebhook(url)
    assert "s3cr3t" not in str(info.value)


def test_url_is_checked_when_changed() -> None:
    notifier = SlackWebhook("https://hooks.example.com/services/T0/B0/s3cr3tvalue")
    with pytest.raises(ValueError, match="not an http"):
        notifier.url = "mailto:s3cr3t@example.com"  # type: ignore[assignment]


def test_url_is_masked_and_stripped() -> None:
    notifier = SlackWebhook("  https://hooks.example.com/services/T0/B0/s3cr3tvalue\n")
    assert notifier.url.get_secret_value() == "https://hooks.example.com/services/T0/B0/s3cr3tvalue"
    assert str(notifier.url) == MASK
    assert "s3cr3t" not in repr(notifier)
    assert notifier.secrets() == (notifier.url,)


@pytest.mark.parametrize("timeout", [0, -1, float("nan")])
def test_timeout_must_be_positive(timeout: float) -> None:
    with pytest.raises(ValueError, match="timeout"):
        SlackWebhook("https://hooks.example.com/x", timeout=timeout)


# -- plugin registration -----------------------------------------------------------------------


def test_register_notifiers_through_the_plugin_manager(flowhook_plugins: PluginManager) -> None:
    flowhook_plugins.register(flowhook_slack)

    assert notifier_types() == {"slack-webhook": SlackWebhook}


def test_entry_point_is_installed() -> None:
    [entry_point] = [
        ep for ep in importlib.metadata.entry_points(group="flowhook") if ep.name == "slack"
    ]
    assert entry_point.value == "flowhook_slack"
    assert entry_point.load() is flowhook_slack


def test_loading_the_plugin_leaves_the_network_modules_for_the_first_message(
    flowhook_slack_webhook_server: SlackWebhookServer,
) -> None:
    """Every flow run loads the installed plugins: ``ssl``, ``http.client`` and
    ``urllib.request`` load only when a message is sent, and it is sent."""
    network = ("ssl", "http.client", "urllib.request")
    script = (
        "import sys, flowhook_slack\n"
        f"print([name for name in {network!r} if name in sys.modules])\n"
        f"flowhook_slack.SlackWebhook({flowhook_slack_webhook_server.url!r}).notify('hello')\n"
        f"print([name for name in {network!r} if name in sys.modules])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )

    assert done.stdout.splitlines() == ["[]", "['ssl', 'http.client']"]
    assert [request.json()["text"] for request in flowhook_slack_webhook_server.requests] == [
        "hello"
    ]
