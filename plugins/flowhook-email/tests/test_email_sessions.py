"""One SMTP session carries message after message, against a real local server: one connection,
one TLS handshake and one login for many notifications, and never a message on a dead one."""

from __future__ import annotations

import threading
import time

import pytest
from email_helpers import notifier_for

from flowhook_hookspec import NotificationError
from flowhook_testing import SMTPServer


@pytest.mark.parametrize(
    "flowhook_smtp_server",
    [{"security": "starttls"}, {"security": "ssl"}, {"security": "none", "username": None}],
    indirect=True,
)
def test_one_session_carries_message_after_message(flowhook_smtp_server: SMTPServer) -> None:
    server = flowhook_smtp_server
    for n in range(5):
        notifier_for(server).notify(f"body {n}", subject=f"message {n}")  # a notifier per round

    assert [m.message["Subject"] for m in server.messages] == [f"message {n}" for n in range(5)]
    assert server.sessions == 1
    assert {(m.tls, m.login) for m in server.messages} == {
        (server.security != "none", server.username)
    }


@pytest.mark.parametrize("flowhook_smtp_server", [{"idle_timeout": 0.3}], indirect=True)
def test_a_session_the_server_ended_is_replaced_before_it_carries_a_message(
    flowhook_smtp_server: SMTPServer,
) -> None:
    """The server ends a session idle for 0.3 s, as real servers end idle ones: the next
    message goes on a new session, and none is lost or fails."""
    server = flowhook_smtp_server
    notifier_for(server).notify("first", subject="first")
    time.sleep(1.0)
    notifier_for(server).notify("second", subject="second")

    assert [m.message["Subject"] for m in server.messages] == ["first", "second"]
    assert server.sessions == 2


def test_another_login_or_server_gets_a_session_of_its_own(
    flowhook_smtp_server: SMTPServer,
) -> None:
    server = flowhook_smtp_server
    notifier_for(server).notify("right", subject="right")
    wrong = notifier_for(server, password="not-the-password")
    with pytest.raises(NotificationError, match="refused the login"):
        wrong.notify("wrong", subject="wrong")  # never sent on the logged-in session

    with SMTPServer(security="starttls") as other:
        notifier_for(other).notify("elsewhere", subject="elsewhere")
        assert [m.message["Subject"] for m in other.messages] == ["elsewhere"]
    assert [m.message["Subject"] for m in server.messages] == ["right"]


@pytest.mark.parametrize(
    "flowhook_smtp_server", [{"data_reply": "451 4.3.0 Try again later"}], indirect=True
)
def test_a_session_on_which_a_send_failed_is_not_used_again(
    flowhook_smtp_server: SMTPServer,
) -> None:
    server = flowhook_smtp_server
    with pytest.raises(NotificationError) as failed:
        notifier_for(server).notify("refused", subject="refused")
    assert not failed.value.permanent
    server.data_reply = None
    notifier_for(server).notify("accepted", subject="accepted")

    assert [m.message["Subject"] for m in server.messages] == ["accepted"]
    assert server.sessions == 2


def test_senders_at_once_each_take_a_session_and_each_message_arrives_once(
    flowhook_smtp_server: SMTPServer,
) -> None:
    server = flowhook_smtp_server
    errors: list[BaseException] = []

    def send(sender: int) -> None:
        try:
            for n in range(10):
                notifier_for(server).notify(f"{sender}-{n}", subject=f"{sender}-{n}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(sender,)) for sender in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    subjects = sorted(m.message["Subject"] for m in server.messages)
    assert subjects == sorted(f"{sender}-{n}" for sender in range(4) for n in range(10))
    assert server.sessions <= 4
