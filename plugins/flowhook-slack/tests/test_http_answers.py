"""The ways an HTTP server may answer a webhook POST, each from a raw server on 127.0.0.1 that
sends exactly the bytes given: the notifier reads each answer right, and keeps the connection
for the next message only when the answer allows it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import BinaryIO

import pytest

from flowhook_hookspec import NotificationError
from flowhook_slack import SlackWebhook


class RawServer:
    """Answers each request with the next of ``answers`` (raw bytes), then closes the
    connection if the answer is HTTP/1.0 or says ``Connection: close`` (or always, with
    ``close``); records which connection carried each request."""

    def __init__(self, *answers: bytes, close: bool = False) -> None:
        self.answers = list(answers)
        self.close_each = close
        self.connections: list[int] = []  # per request: the number of its connection
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/services/T0/B0/raw"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        number = 0
        while self.answers:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            number += 1
            with client, client.makefile("rb") as reader:
                while self.answers and self._request(reader):
                    self.connections.append(number)
                    answer = self.answers.pop(0)
                    client.sendall(answer)
                    said = b"connection: close" in answer.lower() or answer.startswith(b"HTTP/1.0")
                    if self.close_each or said:
                        break

    @staticmethod
    def _request(reader: BinaryIO) -> bool:
        length = 0
        while (line := reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        if not line:
            return False
        reader.read(length)
        return True

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def raw() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def start(*answers: bytes, close: bool = False) -> RawServer:
        servers.append(RawServer(*answers, close=close))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\no\r\n1;x=y\r\nk\r\n0\r\n\r\n"


def test_a_chunked_answer_is_read_and_its_connection_kept(raw) -> None:
    server = raw(CHUNKED, OK)
    notifier = SlackWebhook(server.url)
    notifier.notify("one")
    notifier.notify("two")
    assert server.connections == [1, 1]


def test_an_answer_that_ends_with_its_connection_is_read_and_the_next_opens_another(raw) -> None:
    server = raw(b"HTTP/1.0 200 OK\r\n\r\nok", OK)
    notifier = SlackWebhook(server.url)
    notifier.notify("one")
    notifier.notify("two")
    assert server.connections == [1, 2]


def test_connection_close_is_honoured(raw) -> None:
    server = raw(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", OK)
    notifier = SlackWebhook(server.url)
    notifier.notify("one")
    notifier.notify("two")
    assert server.connections == [1, 2]


def test_an_interim_100_answer_is_skipped(raw) -> None:
    server = raw(b"HTTP/1.1 100 Continue\r\n\r\n" + OK)
    SlackWebhook(server.url).notify("one")
    assert server.connections == [1]


def test_a_204_without_body_is_an_error_at_once_not_a_wait(raw) -> None:
    server = raw(b"HTTP/1.1 204 No Content\r\n\r\n")
    with pytest.raises(NotificationError) as error:
        SlackWebhook(server.url, timeout=5).notify("one")
    assert "HTTP 204 (empty answer)" in str(error.value)


def test_retry_after_is_read_whatever_the_case_of_its_name(raw) -> None:
    server = raw(
        b"HTTP/1.1 429 Too Many\r\nretry-AFTER: 7\r\nContent-Length: 12\r\n\r\nrate_limited"
    )
    with pytest.raises(NotificationError) as error:
        SlackWebhook(server.url).notify("one")
    assert error.value.retry_after == 7 and not error.value.permanent


@pytest.mark.parametrize(
    "answer",
    [
        b"SMTP 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nok",  # cut short by the close
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_a_broken_answer_is_a_transient_error_naming_the_host(raw, answer: bytes) -> None:
    server = raw(answer, close=True)
    with pytest.raises(NotificationError) as error:
        SlackWebhook(server.url, timeout=5).notify("one")
    assert not error.value.permanent
    assert "127.0.0.1:" in str(error.value) and "/raw" not in str(error.value)


def test_a_connection_without_a_socket_counts_as_closed() -> None:
    """An idle connection whose socket is gone is dropped like one the server closed (it was a
    TypeError from ``select``)."""
    from flowhook_slack._connections import _Connection

    connection = _Connection(("http", "127.0.0.1", 9, 1.0))
    assert connection.closed_by_peer()
