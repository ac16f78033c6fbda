"""What keeps other web pages away from the UI: the Host check and the CSRF token.

A page on another site can make the browser send requests to 127.0.0.1, and with DNS
rebinding even read the answers, under a Host header of its own name: every request whose Host
is not one the server was bound to is refused (Starlette's ``TrustedHostMiddleware``, 400).
A state-changing request (cancel, resume, retry) must also carry the token that the server put in its
own forms; another site can neither read a page nor guess the token, which is made anew, at
random, each time the server starts.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import socket
from urllib.parse import parse_qs

from starlette.requests import Request

__all__ = [
    "CSRF_FIELD",
    "CsrfError",
    "allowed_hosts",
    "check_csrf",
    "form_fields",
    "is_loopback",
    "new_token",
]

#: The form field that carries the token.
CSRF_FIELD = "csrf_token"
_FORM = "application/x-www-form-urlencoded"


class CsrfError(Exception):
    """A state-changing request came without the server's token."""


def new_token() -> str:
    return secrets.token_urlsafe(32)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str) -> list[str]:
    """The Host header values (without the port) a server bound to ``host`` answers.

    On a loopback address, that address, ``127.0.0.1`` and ``localhost``; on every address
    (``0.0.0.0``), this machine's names too; otherwise the name or address it was bound to.
    """
    names = {host, "localhost", "127.0.0.1"} if is_loopback(host) else {host}
    if host in ("0.0.0.0", "::", ""):
        names |= {"localhost", "127.0.0.1", socket.gethostname(), socket.getfqdn()}
    return sorted(names)


async def form_fields(request: Request) -> dict[str, str]:
    """The fields of a URL-encoded form (the UI's forms have no files), first value of each."""
    if request.headers.get("content-type", "").split(";")[0].strip() != _FORM:
        return {}
    fields = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=20)
    return {name: values[0] for name, values in fields.items()}


async def check_csrf(request: Request) -> dict[str, str]:
    """The request's form fields; :class:`CsrfError` unless they carry the server's token."""
    fields = await form_fields(request)
    expected: str = request.app.state.csrf_token
    if not hmac.compare_digest(fields.get(CSRF_FIELD, "").encode(), expected.encode()):
        raise CsrfError("missing or wrong CSRF token: reload the page and try again")
    return fields
