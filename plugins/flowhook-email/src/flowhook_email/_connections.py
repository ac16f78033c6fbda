"""Kept-open SMTP sessions: one connection, TLS handshake and login serve many messages.

A message takes an idle session opened with the same settings (host, port, security, CA file,
timeout and login) or opens one, and puts it back once the server answered the message (the
session is then ready for the next one), for the next message of any thread. Before an idle
session carries a message it must answer ``NOOP`` with 250: a server that closed it meanwhile
(servers end idle sessions after a few minutes) costs one round trip, and the message goes on a
new session, never on a dead one. A session idle for more than :data:`IDLE_SECONDS` is closed
rather than asked. A session on which anything failed is closed, never put back.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

from flowhook_hookspec.lazy import defer_modules

if TYPE_CHECKING:
    import smtplib
else:  # with the first message, not with the plugin, which every flow run loads
    defer_modules(globals(), "smtplib")

__all__ = ["IDLE_SECONDS", "MAX_IDLE", "SessionKey", "close", "put_back", "session_key", "take"]

#: A session idle for longer is closed rather than reused (RFC 5321 asks servers to wait at
#: least five minutes before they end an idle session; many wait less).
IDLE_SECONDS = 60.0
#: Idle sessions kept per settings (a delivery's pool of senders is 8 threads by default).
MAX_IDLE = 8

#: What makes two sessions interchangeable: the settings a session was opened and logged in with.
SessionKey = tuple[Hashable, ...]


def session_key(
    host: str,
    port: int,
    security: str,
    ca_file: str | None,
    timeout: float,
    username: str | None,
    password: str | None,
) -> SessionKey:
    """The key of a session opened with these settings; the password only as a digest, so that
    the table of idle sessions never holds it."""
    digest = None if password is None else hashlib.sha256(password.encode("utf-8")).hexdigest()
    return (host, port, security, ca_file, timeout, username, digest)


class _Idle:
    """The idle sessions, per key, each with the time it was put back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[SessionKey, list[tuple[smtplib.SMTP, float]]] = {}

    def take(self, key: SessionKey) -> smtplib.SMTP | None:
        while True:
            with self._lock:
                idle = self._idle.get(key)
                if not idle:
                    return None
                session, since = idle.pop()
            if time.monotonic() - since <= IDLE_SECONDS and _answers(session):
                return session
            close(session)

    def put_back(self, key: SessionKey, session: smtplib.SMTP) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < MAX_IDLE:
                idle.append((session, time.monotonic()))
                return
        close(session)

    def forget(self) -> None:
        """In a forked child: the sessions are the parent's (its copies of their sockets must
        not be used, nor closed with a ``QUIT`` the parent's server would take as its own)."""
        self._lock = threading.Lock()
        self._idle = {}


_idle = _Idle()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_idle.forget)


def take(key: SessionKey, open_session: Callable[[], smtplib.SMTP]) -> smtplib.SMTP:
    """An idle session of ``key`` that still answers, or a new one from ``open_session``."""
    session = _idle.take(key)
    return open_session() if session is None else session


def put_back(key: SessionKey, session: smtplib.SMTP) -> None:
    """``session`` carried its message and the server answered: it may carry the next one."""
    _idle.put_back(key, session)


def close(session: smtplib.SMTP) -> None:
    """End ``session`` politely (``QUIT``), or just close its socket if the server is gone."""
    try:
        session.quit()
    except (smtplib.SMTPException, OSError):
        session.close()


def _answers(session: smtplib.SMTP) -> bool:
    try:
        return session.noop()[0] == 250
    except (smtplib.SMTPException, OSError):
        return False
