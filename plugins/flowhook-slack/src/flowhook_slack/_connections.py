"""Kept-alive HTTP/1.1 connections to webhooks: one TCP (and TLS) handshake serves many
messages.

A POST takes an idle connection to its host (or opens one), and puts it back once the answer
was read in full, for the next POST of any thread. A connection the server closed while it was
idle is seen before it is used (its socket reads as closed) and dropped. A POST that still finds
its reused connection closed under it, before any answer, is sent again once on a new one: the
server hung up on an idle connection, as HTTP/1.1 lets it, and took nothing from it.

The exchange is written here rather than with ``http.client``, whose reading of an answer's
headers (with the ``email`` package) cost a quarter of the CPU of a message to a local server.
It is the small part of HTTP/1.1 a webhook needs: one POST with a length, an answer with a
length, chunked or ending with the connection, after any ``1xx``.
"""

from __future__ import annotations

import functools
import http.client
import io
import os
import select
import socket
import ssl
import threading

__all__ = ["HTTPException", "Unreachable", "post"]

#: What a failed exchange raises, besides ``OSError`` (for the notifier's ``except``).
HTTPException = http.client.HTTPException

#: Idle connections kept per host (a sender pool's size is 8 by default).
MAX_IDLE = 16
_MAX_LINE = 65536
_MAX_FIELDS = 100
_DEFAULT_PORTS = {"http": 80, "https": 443}

_Key = tuple[str, str, int | None, float]


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


class _Connection:
    """One connection to ``key``'s host: its socket and a buffered reader on it."""

    def __init__(self, key: _Key) -> None:
        self.key = key
        self.sock: socket.socket | None = None
        self.reader: io.BufferedReader | None = None

    def open(self) -> None:
        scheme, host, port, timeout = self.key
        try:
            sock = socket.create_connection((host, port or _DEFAULT_PORTS[scheme]), timeout)
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if scheme == "https":
                    sock = _tls().wrap_socket(sock, server_hostname=host)
            except BaseException:
                sock.close()
                raise
        except TimeoutError:
            raise
        except OSError as exc:
            raise Unreachable(exc) from None
        self.sock, self.reader = sock, sock.makefile("rb")

    def closed_by_peer(self) -> bool:
        """Whether an idle connection's socket has something to read: the server's end of the
        connection (or bytes it had no reason to send); either way it cannot carry a request."""
        sock = self.sock
        if sock is None:  # closed already: as unusable as one the server closed
            return True
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def close(self) -> None:
        for part in (self.reader, self.sock):
            if part is not None:
                part.close()
        self.sock = self.reader = None


class _Idle:
    """The idle connections, per host."""

    def __init__(self) -> None:
        self._idle: dict[_Key, list[_Connection]] = {}
        self._lock = threading.Lock()

    def take(self, key: _Key) -> _Connection:
        with self._lock:
            idle = self._idle.get(key)
            while idle:
                connection = idle.pop()
                if not connection.closed_by_peer():
                    return connection
                connection.close()
        return _Connection(key)

    def forget(self) -> None:
        """In a forked child: the idle connections are the parent's (the child's copies of
        their sockets close when collected; the parent's stay open)."""
        self._idle = {}
        self._lock = threading.Lock()

    def put_back(self, connection: _Connection) -> None:
        with self._lock:
            idle = self._idle.setdefault(connection.key, [])
            if len(idle) < MAX_IDLE:
                idle.append(connection)
                return
        connection.close()


_idle = _Idle()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_idle.forget)


def post(
    scheme: str,
    host: str,
    port: int | None,
    path: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    limit: int,
) -> tuple[int, bytes, dict[str, str]]:
    """POST ``body`` to ``path`` on ``scheme://host:port``; returns the status, at most
    ``limit`` bytes of the answer's body, and its header fields (names in lower case).

    Raises :class:`Unreachable` when no connection could be opened; ``TimeoutError``,
    ``OSError`` or ``http.client.HTTPException`` when the exchange failed; ``ValueError`` for
    a path that is not ASCII.
    """
    key = (scheme, host, port, timeout)
    request = _request(key, path, body, headers)
    connection = _idle.take(key)
    reused = connection.sock is not None
    try:
        return _exchange(connection, request, limit)
    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
        if not reused:
            raise
    return _exchange(_idle.take(key), request, limit)


def _request(key: _Key, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    scheme, host, port, _ = key
    authority = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        authority += f":{port}"
    try:
        authority.encode("ascii")
    except UnicodeEncodeError:
        authority = authority.encode("idna").decode("ascii")
    fields = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {authority}\r\n{fields}Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


def _exchange(
    connection: _Connection, request: bytes, limit: int
) -> tuple[int, bytes, dict[str, str]]:
    """One request and its answer on ``connection``, which goes back to the idle ones when
    the answer was read in full (and is closed on any error)."""
    try:
        if connection.sock is None:
            connection.open()
        assert connection.sock is not None and connection.reader is not None
        connection.sock.sendall(request)
        status, fields, keep = _read_answer(connection.reader)
        answer, complete = _read_body(connection.reader, status, fields, limit)
    except BaseException:
        connection.close()
        raise
    if keep and complete:
        _idle.put_back(connection)
    else:
        connection.close()
    return status, answer, fields


def _read_answer(reader: io.BufferedReader) -> tuple[int, dict[str, str], bool]:
    """The status and header fields of the answer (after any ``1xx``), and whether the
    connection may carry another request."""
    while True:
        line = reader.readline(_MAX_LINE + 1)
        if not line:
            raise http.client.RemoteDisconnected(
                "the server closed the connection without answering"
            )
        version, _, rest = line.partition(b" ")
        try:
            status = int(rest[:3])
        except ValueError:
            status = 0
        if not version.startswith(b"HTTP/") or not 100 <= status <= 999:
            raise http.client.BadStatusLine(line.decode("iso-8859-1")[:80])
        fields = _read_fields(reader)
        if status >= 200:
            break
    keep = version == b"HTTP/1.1" and "close" not in fields.get("connection", "").lower()
    return status, fields, keep


def _read_fields(reader: io.BufferedReader) -> dict[str, str]:
    fields: dict[str, str] = {}
    for _ in range(_MAX_FIELDS + 1):
        line = reader.readline(_MAX_LINE + 1)
        if line in (b"\r\n", b"\n", b""):
            return fields
        name, colon, value = line.decode("iso-8859-1").partition(":")
        if colon:
            fields[name.strip().lower()] = value.strip()
    raise http.client.HTTPException(f"the answer has more than {_MAX_FIELDS} header fields")


def _read_body(
    reader: io.BufferedReader, status: int, fields: dict[str, str], limit: int
) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of the answer's body, and whether it was read to its end."""
    if status in (204, 304):
        return b"", True
    if "chunked" in fields.get("transfer-encoding", "").lower():
        return _read_chunks(reader, limit)
    length = fields.get("content-length")
    if length is None:  # the body ends with the connection
        return reader.read(limit), False
    try:
        size = int(length)
    except ValueError:
        raise http.client.HTTPException(f"bad Content-Length {length[:20]!r}") from None
    data = reader.read(min(size, limit))
    if len(data) < min(size, limit):
        raise http.client.IncompleteRead(data, size - len(data))
    return data, size <= limit


def _read_chunks(reader: io.BufferedReader, limit: int) -> tuple[bytes, bool]:
    body = b""
    while len(body) <= limit:
        line = reader.readline(_MAX_LINE + 1)
        try:
            size = int(line.split(b";", 1)[0], 16)
        except ValueError:
            raise http.client.HTTPException("bad chunk size in the answer") from None
        if size == 0:
            _read_fields(reader)  # the trailer
            return body, True
        chunk = reader.read(size)
        if len(chunk) < size or reader.readline(_MAX_LINE + 1) not in (b"\r\n", b"\n"):
            raise http.client.IncompleteRead(chunk)
        body += chunk
    return body[:limit], False
