"""EmailNotifier against a local SMTP server (aiosmtpd, TLS from a throwaway CA)."""

from __future__ import annotations

import email.utils
import importlib.metadata
import logging
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from email_helpers import FROM, notifier_for, options_for

import flowhook_email
from flowhook.notifications import notifier_types
from flowhook.testing import PluginManager
from flowhook_email import EmailNotifier, InvalidMessageError, Security
from flowhook_hookspec import MASK, NotificationError
from flowhook_testing import SMTPServer, closed_port


def notify_error(notifier: EmailNotifier, subject: str = "subject") -> NotificationError:
    with pytest.raises(NotificationError) as info:
        notifier.notify("body", subject=subject)
    return info.value


# -- delivery ----------------------------------------------------------------------------------


def test_starttls_and_auth_deliver_both_parts_to_every_recipient(
    flowhook_smtp_server: SMTPServer,
) -> None:
    to = ["ops@example.com", "Dev Team <dev@example.com>"]
    body = "Run <b>etl</b> & friends failed\nValueError: x > y"

    notifier_for(flowhook_smtp_server, to=to).notify(body, subject="etl failed ✗")

    [received] = flowhook_smtp_server.messages
    assert received.tls
    assert received.login == flowhook_smtp_server.username
    assert received.mail_from == "flowhook@example.com"
    assert received.rcpt_tos == ("ops@example.com", "dev@example.com")
    message = received.message
    assert message["From"] == FROM
    assert message["To"] == "ops@example.com, Dev Team <dev@example.com>"
    assert message["Subject"] == "etl failed ✗"
    assert b"etl failed \xe2\x9c\x97" not in received.raw  # RFC 2047-encoded, not raw UTF-8
    sent_at = email.utils.parsedate_to_datetime(message["Date"])
    assert sent_at.tzinfo is not None
    assert re.fullmatch(r"<[^<>@\s]+@example\.com>", message["Message-ID"])
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert text.get_content().replace("\r\n", "\n") == body + "\n"
    assert html.get_content_type() == "text/html"
    assert "Run &lt;b&gt;etl&lt;/b&gt; &amp; friends failed" in html.get_content()
    assert "<b>" not in html.get_content()


def test_every_message_gets_its_own_message_id(flowhook_smtp_server: SMTPServer) -> None:
    notifier = notifier_for(flowhook_smtp_server)
    notifier.notify("one")
    notifier.notify("two")

    first, second = flowhook_smtp_server.messages
    assert first.message["Message-ID"] != second.message["Message-ID"]
    assert first.message["Subject"] == flowhook_email.DEFAULT_SUBJECT


def test_the_idempotency_key_is_the_message_id_of_every_attempt(
    flowhook_smtp_server: SMTPServer,
) -> None:
    notifier = notifier_for(flowhook_smtp_server)
    key = "0123456789abcdef0123456789abcdef"
    notifier.notify("one", key=key)
    notifier.notify("one again", key=key)  # a redelivery: receivers see the same Message-ID
    first, second = flowhook_smtp_server.messages
    domain = notifier.from_addr.rpartition("@")[2].rstrip(">")
    assert first.message["Message-ID"] == f"<{key}.flowhook@{domain}>"
    assert second.message["Message-ID"] == first.message["Message-ID"]


@pytest.mark.parametrize("flowhook_smtp_server", [{"security": "ssl"}], indirect=True)
def test_smtp_over_tls(flowhook_smtp_server: SMTPServer) -> None:
    notifier_for(flowhook_smtp_server).notify("over TLS", subject="smtps")

    [received] = flowhook_smtp_server.messages
    assert received.tls
    assert received.login == flowhook_smtp_server.username
    assert received.message["Subject"] == "smtps"


@pytest.mark.parametrize(
    "flowhook_smtp_server", [{"security": "none", "username": None}], indirect=True
)
def test_plain_smtp_without_credentials(flowhook_smtp_server: SMTPServer) -> None:
    notifier_for(flowhook_smtp_server).notify("in the clear", subject="plain")

    [received] = flowhook_smtp_server.messages
    assert not received.tls
    assert received.login is None


# -- refusals ----------------------------------------------------------------------------------


def test_wrong_password_is_permanent_and_never_shown(
    flowhook_smtp_server: SMTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "Wr0ng-p4ssw0rd-xyz"
    notifier = notifier_for(flowhook_smtp_server, password=wrong)

    error = notify_error(notifier)
    logging.getLogger("flowhook.notifications").error("delivery failed", exc_info=error)

    assert error.permanent
    assert "refused the login of 'flowhook'" in str(error)
    assert "535" in str(error)
    assert flowhook_smtp_server.auth_failures >= 1  # smtplib tries each mechanism (PLAIN, LOGIN)
    assert flowhook_smtp_server.messages == []
    assert "delivery failed" in caplog.text
    for shown in (str(error), repr(error), repr(notifier), caplog.text):
        assert wrong not in shown
    assert MASK in repr(notifier)


def test_crlf_in_subject_is_refused_before_connecting(flowhook_smtp_server: SMTPServer) -> None:
    notifier = notifier_for(flowhook_smtp_server)

    with pytest.raises(ValueError, match="line feed") as info:
        notifier.notify("body", subject="hello\r\nBcc: victim@example.com")

    assert isinstance(info.value, InvalidMessageError)
    assert isinstance(info.value, NotificationError)
    assert info.value.permanent
    assert flowhook_smtp_server.mail_from_commands == []
    assert flowhook_smtp_server.messages == []


@pytest.mark.parametrize(
    "flowhook_smtp_server", [{"refuse_recipients": ["gone@example.com"]}], indirect=True
)
def test_some_recipients_refused(flowhook_smtp_server: SMTPServer) -> None:
    notifier = notifier_for(flowhook_smtp_server, to=["ops@example.com", "gone@example.com"])

    error = notify_error(notifier)

    assert error.permanent
    assert "to 1 of 2 recipients" in str(error)
    assert "gone@example.com (550" in str(error)
    assert "ops@example.com" not in str(error)
    [received] = flowhook_smtp_server.messages
    assert received.rcpt_tos == ("ops@example.com",)


@pytest.mark.parametrize(
    "flowhook_smtp_server",
    [{"refuse_recipients": ["gone@example.com", "left@example.com"]}],
    indirect=True,
)
def test_all_recipients_refused(flowhook_smtp_server: SMTPServer) -> None:
    notifier = notifier_for(flowhook_smtp_server, to="gone@example.com, left@example.com")

    error = notify_error(notifier)

    assert error.permanent
    assert "refused every recipient" in str(error)
    assert "gone@example.com (550" in str(error)
    assert "left@example.com (550" in str(error)
    assert flowhook_smtp_server.messages == []


@pytest.mark.parametrize(
    ("reply", "permanent"),
    [("451 4.3.0 Try again later", False), ("554 5.7.1 Message rejected as spam", True)],
)
def test_data_replies(flowhook_smtp_server: SMTPServer, reply: str, permanent: bool) -> None:
    flowhook_smtp_server.data_reply = reply

    error = notify_error(notifier_for(flowhook_smtp_server))

    assert error.permanent is permanent
    assert reply in str(error)
    assert flowhook_smtp_server.messages == []


@pytest.mark.parametrize(
    "flowhook_smtp_server", [{"security": "starttls"}, {"security": "ssl"}], indirect=True
)
def test_untrusted_certificate_is_permanent(flowhook_smtp_server: SMTPServer) -> None:
    error = notify_error(notifier_for(flowhook_smtp_server, ca_file=None))

    assert error.permanent
    assert "certificate" in str(error)
    assert "ca_file" in str(error)
    assert flowhook_smtp_server.mail_from_commands == []


@pytest.mark.parametrize(
    "flowhook_smtp_server", [{"security": "none", "username": None}], indirect=True
)
def test_server_without_starttls_is_permanent(flowhook_smtp_server: SMTPServer) -> None:
    error = notify_error(notifier_for(flowhook_smtp_server, security="starttls", username=None))

    assert error.permanent
    assert str(error).endswith(
        "does not support STARTTLS; use security='ssl' if it speaks SMTP over TLS (port 465), "
        "or security='none' to send unencrypted, on a network you trust"
    )
    assert flowhook_smtp_server.mail_from_commands == []


def test_missing_ca_file_is_permanent(flowhook_smtp_server: SMTPServer) -> None:
    error = notify_error(
        notifier_for(flowhook_smtp_server, ca_file=flowhook_smtp_server.ca_file + ".missing")
    )

    assert error.permanent
    assert "ca_file" in str(error)


# -- transient failures ------------------------------------------------------------------------


def test_connection_refused_is_transient() -> None:
    notifier = EmailNotifier(
        host="127.0.0.1",
        port=closed_port(),
        username="flowhook",
        password="s3cr3t-p4ss",
        from_addr=FROM,
        to=["ops@example.com"],
    )

    error = notify_error(notifier)

    assert not error.permanent
    assert "refused the connection" in str(error)
    assert "s3cr3t-p4ss" not in str(error)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections and never says a word."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def test_timeout_is_transient(silent_port: int) -> None:
    notifier = EmailNotifier(
        host="127.0.0.1", port=silent_port, from_addr=FROM, to=["ops@example.com"], timeout=0.3
    )

    error = notify_error(notifier)

    assert not error.permanent
    assert "did not answer within 0.3 s" in str(error)


# -- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(("security", "port"), [("starttls", 587), ("ssl", 465), ("none", 25)])
def test_port_defaults_by_security(security: Security, port: int) -> None:
    notifier = EmailNotifier(
        host="smtp.example.com", security=security, from_addr=FROM, to=["ops@example.com"]
    )
    assert notifier.port == port
    assert notifier.timeout == 15.0


def test_recipients_from_one_string() -> None:
    notifier = EmailNotifier(
        host="smtp.example.com", from_addr=FROM, to='"Doe, Jo" <jo@example.com>, ops@example.com'
    )
    assert notifier.to == ['"Doe, Jo" <jo@example.com>', "ops@example.com"]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"to": []}, "at least one recipient"),
        ({"to": ["not-an-address"]}, "not an email address"),
        ({"to": ["ops@example.com\r\nBcc: x@example.com"]}, "line break"),
        ({"from_addr": "a@example.com, b@example.com"}, "one address"),
        ({"security": "tls"}, "security"),
        ({"port": 0}, "port"),
        ({"timeout": 0}, "timeout"),
        ({"host": ""}, "host"),
        ({"password": "s3cr3t"}, "username is not"),
        ({"username": "ops"}, "needs a password"),
        ({"security": "none", "username": "ops", "password": "s3cr3t"}, "unencrypted"),
    ],
)
def test_invalid_configuration(options: dict[str, Any], match: str) -> None:
    settings: dict[str, Any] = {"host": "smtp.example.com", "from_addr": FROM, "to": ["o@x.org"]}
    settings.update(options)
    with pytest.raises(ValueError, match=match) as info:
        EmailNotifier(**settings)
    assert "s3cr3t" not in str(info.value)


def test_password_is_masked() -> None:
    notifier = EmailNotifier(
        host="smtp.example.com", username="ops", password="s3cr3t", from_addr=FROM, to="o@x.org"
    )
    assert "s3cr3t" not in repr(notifier)
    assert notifier.password is not None
    assert notifier.password.get_secret_value() == "s3cr3t"
    assert notifier.secrets() == (notifier.password,)


# -- plugin registration -----------------------------------------------------------------------


def test_register_notifiers_through_the_plugin_manager(flowhook_plugins: PluginManager) -> None:
    flowhook_plugins.register(flowhook_email)

    assert notifier_types() == {"email": EmailNotifier}


def test_entry_point_is_installed() -> None:
    [entry_point] = [
        ep for ep in importlib.metadata.entry_points(group="flowhook") if ep.name == "email"
    ]
    assert entry_point.value == "flowhook_email"
    assert entry_point.load() is flowhook_email


def test_loading_the_plugin_leaves_smtplib_for_the_first_message(
    flowhook_smtp_server: SMTPServer,
) -> None:
    """Every flow run loads the installed plugins: ``smtplib``, ``ssl``, ``email.policy`` and
    ``html`` load only when a message is sent, and it is sent."""
    deferred = ("smtplib", "ssl", "email.policy", "html")
    options = options_for(flowhook_smtp_server)
    script = (
        "import sys, flowhook_email\n"
        f"print([name for name in {deferred!r} if name in sys.modules])\n"
        f"flowhook_email.EmailNotifier(**{options!r}).notify('hello', 'hi')\n"
        f"print([name for name in {deferred!r} if name in sys.modules])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )

    assert done.stdout.splitlines() == ["[]", repr(list(deferred))]
    [received] = flowhook_smtp_server.messages
    assert received.message["Subject"] == "hi"
