"""A TCP proxy on 127.0.0.1 in front of the test PostgreSQL server that can lose a COMMIT.

Armed, it forwards the next ``COMMIT`` to the server, waits for the server's answer, and
instead of passing it on closes the connection, and every other one it holds: the server
committed, the client never heard, as when a network drops at the wrong moment. It can then
refuse new connections for a while, so that the client gives up on its own retries and a caller
retries later.

It can also cut the network without refusing anything (:meth:`cut`): every connection, old
and new, is accepted and its bytes kept, not forwarded, until :meth:`restore`, as a router that
drops packets would; drop every connection at once (:meth:`drop_all`); or drop the
connection that sends a given SQL text, after the server got it, in the middle of its
transaction (:meth:`drop_on`).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

__all__ = ["LosingProxy"]

#: A simple-protocol Query message holding ``COMMIT`` (how psycopg ends a transaction).
_COMMIT = b"Q\x00\x00\x00\x0bCOMMIT\x00"


class LosingProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._armed = False
        self._refuse_for = 0.0
        self._refuse_until = 0.0
        self._lock = threading.Lock()
        #: How many COMMITs were lost (forwarded, committed, their answer dropped).
        self.lost_commits = 0
        self._closed = False
        self._open: set[socket.socket] = set()
        #: SQL texts whose connection is dropped when it sends them (each once), and those seen.
        self._drop_on: set[bytes] = set()
        self.dropped: list[bytes] = []
        self._flowing = threading.Event()
        self._flowing.set()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, server_url: str) -> str:
        """``server_url`` (a URL of the upstream server) through this proxy."""
        return server_url.replace(f":{self.upstream[1]}/", f":{self.port}/")

    def lose_next_commit(self, refuse_for: float = 0.0) -> None:
        with self._lock:
            self._armed, self._refuse_for = True, refuse_for

    def cut(self) -> None:
        """Stop forwarding, in both directions, until :meth:`restore`."""
        self._flowing.clear()

    def restore(self) -> None:
        self._flowing.set()

    def drop_on(self, *texts: bytes) -> None:
        """Drop the next connection that sends each of ``texts`` (once each)."""
        with self._lock:
            self._drop_on.update(texts)

    def _dropping(self, data: bytes) -> bool:
        with self._lock:
            found = [text for text in self._drop_on if text in data]
            self._drop_on.difference_update(found)
            self.dropped += found
        return bool(found)

    def drop_all(self) -> None:
        """Close every connection through the proxy now (new ones are accepted)."""
        with self._lock:
            every, self._open = list(self._open), set()
        _close(*every)

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):  # wakes the thread blocked in accept()
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            every, self._open = list(self._open), set()
        _close(*every)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if time.monotonic() < self._refuse_until:
                client.close()
                continue
            server = socket.create_connection(self.upstream)
            with self._lock:
                self._open.update((client, server))
            lost = threading.Event()
            threading.Thread(
                target=self._to_server, args=(client, server, lost), daemon=True
            ).start()
            threading.Thread(
                target=self._to_client, args=(server, client, lost), daemon=True
            ).start()

    def _to_server(
        self, client: socket.socket, server: socket.socket, lost: threading.Event
    ) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                with self._lock:
                    if self._armed and _COMMIT in data:
                        self._armed = False
                        lost.set()
                self._flowing.wait()
                server.sendall(data)
                if self._dropping(data):
                    time.sleep(0.05)  # the server runs the statement, the client never hears
                    break
        _close(client, server)

    def _to_client(
        self, server: socket.socket, client: socket.socket, lost: threading.Event
    ) -> None:
        with contextlib.suppress(OSError):
            while data := server.recv(65536):
                if lost.is_set():  # the server's answer to COMMIT: never delivered
                    with self._lock:
                        self.lost_commits += 1
                        self._refuse_until = time.monotonic() + self._refuse_for
                        every, self._open = list(self._open), set()
                    _close(*every)  # the network is down: every connection through it
                    break
                self._flowing.wait()
                client.sendall(data)
        _close(client, server)


def _close(*sockets: socket.socket) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
