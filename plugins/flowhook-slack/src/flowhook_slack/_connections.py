"""Kept-alive HTTP connections to webhooks: one TCP (and TLS) handshake serves many messages.

A POST takes an idle connection to its host (or opens one), and puts it back once the answer
was read in full, for the next POST of any thread. A connection the server closed while it was
idle is seen before it is used (its socket reads as closed) and dropped. A POST that still finds
its reused connection closed under it, before any answer, is sent again once on a new one: the
server hung up on an idle connection, as HTTP/1.1 lets it, and took nothing from it.
"""

from __future__ import annotations

import functools
import http.client
import select
import ssl
import threading
from email.message import Message

__all__ = ["Unreachable", "post"]

#: Idle connections kept per host (a sender pool's size is 8 by default).
MAX_IDLE = 16

_Key = tuple[str, str, int | None, float]
_idle: dict[_Key, list[http.client.HTTPConnection]] = {}
_lock = threading.Lock()


class Unreachable(Exception):
    """The connection could not be opened: ``reason`` (an ``OSError``) says why."""

    def __init__(self, reason: OSError) -> None:
        super().__init__(str(reason))
        self.reason = reason


@functools.lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    """The default TLS settings (what ``urllib`` uses), built once: building them reads the
    system's certificates."""
    return ssl.create_default_context()


def _take(key: _Key) -> http.client.HTTPConnection:
    with _lock:
        idle = _idle.get(key)
        while idle:
            connection = idle.pop()
            if connection.sock is not None and not _closed_by_peer(connection.sock):
                return connection
            connection.close()
    scheme, host, port, timeout = key
    if scheme == "https":
        return http.client.HTTPSConnection(host, port, timeout=timeout, context=_tls())
    return http.client.HTTPConnection(host, port, timeout=timeout)


def _closed_by_peer(sock: object) -> bool:
    """Whether an idle connection's socket has something to read: the server's end of the
    connection (or bytes it had no reason to send); either way it cannot carry a request."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _put_back(key: _Key, connection: http.client.HTTPConnection) -> None:
    with _lock:
        idle = _idle.setdefault(key, [])
        if len(idle) < MAX_IDLE:
            idle.append(connection)
            return
    connection.close()


def post(
    scheme: str,
    host: str,
    port: int | None,
    path: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    limit: int,
) -> tuple[int, bytes, Message]:
    """POST ``body`` to ``path`` on ``scheme://host:port``; returns the status, at most
    ``limit`` bytes of the answer's body, and its headers.

    Raises :class:`Unreachable` when no connection could be opened; ``TimeoutError``,
    ``OSError`` or ``http.client.HTTPException`` when the exchange failed.
    """
    key = (scheme, host, port, timeout)
    connection = _take(key)
    reused = connection.sock is not None
    try:
        return _exchange(key, connection, path, body, headers, limit)
    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
        if not reused:
            raise
    return _exchange(key, _take(key), path, body, headers, limit)


def _exchange(
    key: _Key,
    connection: http.client.HTTPConnection,
    path: str,
    body: bytes,
    headers: dict[str, str],
    limit: int,
) -> tuple[int, bytes, Message]:
    """One request and its answer on ``connection``, which goes back to the idle ones when
    the answer was read in full (and closed on any error)."""
    try:
        if connection.sock is None:
            try:
                connection.connect()
            except TimeoutError:
                raise
            except OSError as exc:
                raise Unreachable(exc) from None
        connection.request("POST", path, body, headers)
        response = connection.getresponse()
        answer = response.read(limit)
    except BaseException:
        connection.close()
        raise
    if response.isclosed():  # read to its end: the connection may carry the next request
        _put_back(key, connection)
    else:
        connection.close()
    return response.status, answer, response.headers
