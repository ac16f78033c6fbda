"""Posting through a proxy, with ``urllib``: the one path that needs it, loaded with its first
use (``urllib.request`` brings ``http.client`` and ``ssl``)."""

from __future__ import annotations

import functools
import urllib.request
from email.message import Message
from typing import IO, Any
from urllib.error import HTTPError, URLError
from urllib.request import getproxies

__all__ = ["URLError", "getproxies", "post"]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Slack never redirects a webhook; a redirect means a wrong URL, reported as such."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


@functools.lru_cache(maxsize=8)
def _opener(proxies: tuple[tuple[str, str], ...]) -> urllib.request.OpenerDirector:
    """An opener that follows no redirect, for these proxy settings (from the environment),
    built once: building one costs more CPU than a POST to a local server."""
    return urllib.request.build_opener(_NoRedirects, urllib.request.ProxyHandler(dict(proxies)))


def post(
    url: str, data: bytes, headers: dict[str, str], timeout: float, limit: int
) -> tuple[int, bytes, dict[str, str]]:
    """POST through ``urllib`` (a new connection each time); returns the status, at most
    ``limit`` bytes of the answer, and its header fields (names in lower case), for an error
    status too. Raises ``URLError`` when the proxy or the host cannot be reached."""
    request = urllib.request.Request(url, data=data, method="POST", headers=headers)
    opener = _opener(tuple(sorted(getproxies().items())))
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.read(limit), _fields(response.headers)
    except HTTPError as exc:
        try:
            return exc.code, exc.read(limit), _fields(exc.headers)
        finally:
            exc.close()


def _fields(headers: Message) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}
