"""Apprise URLs are credentials: what must never be shown of them, and Apprise's own log kept
clean of them.

Apprise logs on logger ``apprise``, sometimes with a whole URL ("Unparseable URL ...", "Could not
load ... URL: ..."). While a notifier validates or sends, its secrets are registered here, and a
filter on that logger masks them in every record; the WARNING and ERROR records logged in the
sending thread are also collected, as the reason a send failed.
"""

from __future__ import annotations

import logging
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager

from flowhook_hookspec import redact

__all__ = ["captured_reasons", "secret_pieces"]

APPRISE_LOGGER = "apprise"
#: Parts of a URL shorter than this are not worth hiding (``v2``, ``on``), and masking them
#: would garble every message.
_SHORTEST_SECRET = 4


def secret_pieces(url: str) -> list[str]:
    """``url`` and the parts of it that may be credentials on their own: the user and password,
    a host that is not a host name (a token, as in ``pagerduty://KEY@APIKEY``), path segments
    and query values."""
    pieces = [url]
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
    except ValueError:
        return pieces + url.split("/")[2:]
    pieces += [parts.username or "", parts.password or ""]
    if host and "." not in host and host != "localhost":
        pieces.append(host)
    pieces += [segment for segment in parts.path.split("/") if segment]
    pieces += [value for _, value in urllib.parse.parse_qsl(parts.query)]
    found = {urllib.parse.unquote(p) for p in pieces} | set(pieces)
    return sorted((p for p in found if len(p) >= _SHORTEST_SECRET), key=len, reverse=True)


class _Masker(logging.Filter):
    """Masks the registered secrets in the records of ``apprise``; collects the reasons."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.secrets: dict[int, list[str]] = {}
        self.reasons: dict[int, list[str]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        with self.lock:
            secrets = [piece for pieces in self.secrets.values() for piece in pieces]
            reasons = self.reasons.get(record.thread or 0)
        if secrets:
            record.msg = redact(record.getMessage(), *secrets)
            record.args = None
        if reasons is not None and record.levelno >= logging.WARNING:
            reasons.append(str(record.msg))
        return True


_masker = _Masker()
_install_lock = threading.Lock()
_installed = False


@contextmanager
def captured_reasons(secrets: list[str]) -> Iterator[list[str]]:
    """While inside: ``secrets`` are masked in Apprise's log records, and the WARNING and ERROR
    records of this thread are appended to the list yielded (masked)."""
    global _installed
    with _install_lock:
        if not _installed:
            logging.getLogger(APPRISE_LOGGER).addFilter(_masker)
            _installed = True
    ident = threading.get_ident()
    reasons: list[str] = []
    with _masker.lock:
        _masker.secrets[ident] = secrets
        _masker.reasons[ident] = reasons
    try:
        yield reasons
    finally:
        with _masker.lock:
            _masker.secrets.pop(ident, None)
            _masker.reasons.pop(ident, None)
