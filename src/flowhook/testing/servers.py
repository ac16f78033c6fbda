"""Local stand-ins for the services notifiers talk to: a Slack-like webhook and an SMTP server.

Each server listens on 127.0.0.1 only, on a port the system picks, in a background thread, and
records everything it receives. Use them as context managers::

    with SlackWebhookServer("ok", (429, {"Retry-After": "1"})) as slack:
        post_somewhere(slack.url)
        assert slack.requests[0].json()["text"] == "..."

    with SMTPServer(security="starttls", username="ops", password="s3cret") as smtp:
        send_mail(smtp.host, smtp.port, cafile=smtp.ca_file)
        assert smtp.messages[0].message["Subject"] == "..."

:class:`SMTPServer` needs the test-only packages ``aiosmtpd`` and ``trustme``; they are imported
when it starts, so this module imports without them.
"""

from __future__ import annotations

import email.policy
import http.server
import json
import secrets
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import attrs

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "HOST",
    "ReceivedMessage",
    "ReceivedRequest",
    "SMTPServer",
    "ScriptItem",
    "SlackWebhookServer",
    "WebhookResponse",
    "closed_port",
    "webhook_response",
]

#: The only address the test servers listen on.
HOST = "127.0.0.1"


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (for "connection refused" tests).

    The system hands out ports in sequence, so the port just released is not reused at once.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
    return port


# -- Slack-like incoming webhook ---------------------------------------------------------------

#: The error codes Slack answers with, for each status a script gives without a body.
_SLACK_BODIES: dict[int, str] = {
    200: "ok",
    400: "invalid_payload",
    403: "action_prohibited",
    404: "no_service",
    410: "channel_is_archived",
    429: "rate_limited",
    500: "rollup_error",
}


@attrs.frozen
class WebhookResponse:
    """One scripted answer of :class:`SlackWebhookServer`.

    ``delay`` seconds pass before the answer is sent (to make a client time out); the wait ends
    early when the server stops.
    """

    status: int = 200
    body: str = "ok"
    headers: Mapping[str, str] = attrs.field(factory=dict)
    delay: float = 0.0


#: What a script may hold: a :class:`WebhookResponse`, a body (sent with status 200), a status
#: (sent with Slack's error code for it), ``(status, body)``, ``(status, headers)`` or
#: ``(status, body, headers)``.
ScriptItem = (
    WebhookResponse
    | str
    | int
    | tuple[int, str]
    | tuple[int, Mapping[str, str]]
    | tuple[int, str, Mapping[str, str]]
)


def webhook_response(item: ScriptItem) -> WebhookResponse:
    """The :class:`WebhookResponse` a script item stands for.

    >>> webhook_response((429, {"Retry-After": "1"}))
    WebhookResponse(status=429, body='rate_limited', headers={'Retry-After': '1'}, delay=0.0)
    """
    if isinstance(item, WebhookResponse):
        return item
    if isinstance(item, str):
        return WebhookResponse(200, item)
    if isinstance(item, int):
        return WebhookResponse(item, _SLACK_BODIES.get(item, f"http_{item}"))
    status = item[0]
    body = _SLACK_BODIES.get(status, f"http_{status}")
    headers: Mapping[str, str] = {}
    for part in item[1:]:
        if isinstance(part, str):
            body = part
        else:
            headers = part
    return WebhookResponse(status, body, dict(headers))


@attrs.frozen
class ReceivedRequest:
    """One request the webhook server received. Header names are lower-cased."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    #: ``time.monotonic()`` when the request arrived.
    received_at: float = attrs.field(factory=time.monotonic)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        """The body parsed as JSON (raises ``ValueError`` when it is not JSON)."""
        return json.loads(self.body)


class _WebhookHandler(http.server.BaseHTTPRequestHandler):
    server: _WebhookHTTPServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        owner = self.server.owner
        owner._record(
            ReceivedRequest(
                method=self.command,
                path=self.path,
                headers={name.lower(): value for name, value in self.headers.items()},
                body=body,
            )
        )
        response = owner._next_response()
        if response.delay > 0 and owner._stopping.wait(response.delay):
            return  # the server is stopping: drop the connection without an answer
        payload = response.body.encode("utf-8")
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except ConnectionError:  # the client gave up waiting (timeout tests)
            pass

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the request line holds the webhook's secret path."""


class _WebhookHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: SlackWebhookServer) -> None:
        super().__init__((HOST, 0), _WebhookHandler)
        self.owner = owner

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that hung up early is part of the tests, not an error
        super().handle_error(request, client_address)


class _Server:
    """``with Server() as server:`` starts it and stops it, whatever happens inside."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class SlackWebhookServer(_Server):
    """An HTTP server on 127.0.0.1 that answers like a Slack incoming webhook, from a script.

    Each request gets the next answer of the script (see :data:`ScriptItem`), then ``default``
    (``ok``) once the script is used up. Every request is recorded in :attr:`requests`, in the
    order received. :attr:`url` has a random secret-like path (:attr:`token`), so tests can
    check that it never leaks into errors or logs.
    """

    def __init__(self, *script: ScriptItem, default: ScriptItem = "ok") -> None:
        self._lock = threading.Lock()
        self._script: deque[WebhookResponse] = deque(webhook_response(item) for item in script)
        self._default = webhook_response(default)
        self._requests: list[ReceivedRequest] = []
        self._stopping = threading.Event()
        self._httpd: _WebhookHTTPServer | None = None
        self._thread: threading.Thread | None = None
        #: The secret part of the URL, as in ``https://hooks.slack.com/services/T…/B…/<token>``.
        self.token = secrets.token_hex(12)
        self.path = f"/services/T0FLOWHOOK/B0FLOWHOOK/{self.token}"

    # -- script and records ------------------------------------------------------------------

    def respond(self, *items: ScriptItem) -> None:
        """Append answers to the script."""
        responses = [webhook_response(item) for item in items]
        with self._lock:
            self._script.extend(responses)

    @property
    def requests(self) -> list[ReceivedRequest]:
        """The requests received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    def _record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _next_response(self) -> WebhookResponse:
        with self._lock:
            return self._script.popleft() if self._script else self._default

    # -- address -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the webhook server is not running; call start() first")
        port: int = self._httpd.server_address[1]
        return port

    @property
    def url(self) -> str:
        """The webhook URL to post to (the secret path included)."""
        return f"http://{HOST}:{self.port}{self.path}"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> SlackWebhookServer:
        if self._httpd is not None:
            raise RuntimeError("the webhook server is already running")
        self._stopping.clear()
        self._httpd = _WebhookHTTPServer(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="flowhook-slack-webhook-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = self._thread = None


# -- SMTP --------------------------------------------------------------------------------------


@attrs.frozen
class ReceivedMessage:
    """One message the SMTP server accepted."""

    #: The envelope sender (``MAIL FROM``).
    mail_from: str
    #: The envelope recipients the server accepted (``RCPT TO``), in order.
    rcpt_tos: tuple[str, ...]
    #: The message, parsed with ``email.policy.default``.
    message: EmailMessage
    #: The message as received, bytes for bytes.
    raw: bytes
    #: The user name the client authenticated as; ``None`` when it did not authenticate.
    login: str | None
    #: Whether the connection was encrypted (after STARTTLS, or SMTP over TLS).
    tls: bool


SMTPSecurity = Literal["starttls", "ssl", "none"]


class _SMTPHandler:
    """The aiosmtpd handler: records commands and messages, refuses what it is told to."""

    def __init__(self, owner: SMTPServer) -> None:
        self.owner = owner

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        with self.owner._lock:
            self.owner._mail_from_commands.append(address)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() in {refused.lower() for refused in self.owner.refused_recipients}:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = self.owner.data_reply
        if reply is not None:
            return reply
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        message = BytesParser(EmailMessage, policy=email.policy.default).parsebytes(raw)
        transport = server.transport
        login = getattr(session, "login_data", None)
        received = ReceivedMessage(
            mail_from=str(envelope.mail_from),
            rcpt_tos=tuple(envelope.rcpt_tos),
            message=message,
            raw=bytes(raw),
            login=login.decode("utf-8") if isinstance(login, bytes) else login,
            tls=transport is not None and transport.get_extra_info("ssl_object") is not None,
        )
        with self.owner._lock:
            self.owner._messages.append(received)
        return "250 Message accepted for delivery"


class SMTPServer(_Server):
    """An SMTP server on 127.0.0.1 (aiosmtpd in a thread) with TLS from a throwaway CA.

    ``security``:

    - ``"starttls"`` (default): plain connection; the client must send STARTTLS before anything
      else (and before AUTH).
    - ``"ssl"``: SMTP over TLS from the first byte (what port 465 speaks).
    - ``"none"``: no TLS at all.

    The certificate is issued by a CA made for this server only (with ``trustme``), for
    ``127.0.0.1`` and ``localhost``; clients trust it through :attr:`ca_file`.

    With a ``username``, AUTH (PLAIN, LOGIN) checks ``username``/``password`` (a random password
    when none is given) and, in ``starttls`` mode, is required before MAIL. ``refuse_recipients``
    are answered ``550`` at RCPT; ``data_reply`` (for example ``"451 4.3.0 Try again later"``)
    replaces the answer to DATA, and the message is then not recorded. Both can also be changed
    while the server runs, through :attr:`refused_recipients` and :attr:`data_reply`.
    """

    host = HOST

    def __init__(
        self,
        *,
        security: SMTPSecurity = "starttls",
        username: str | None = "flowhook",
        password: str | None = None,
        refuse_recipients: Iterable[str] = (),
        data_reply: str | None = None,
    ) -> None:
        if security not in ("starttls", "ssl", "none"):
            raise ValueError(f"security must be 'starttls', 'ssl' or 'none', not {security!r}")
        self.security: SMTPSecurity = security
        self.username = username
        self.password = (
            password if password is not None or username is None else secrets.token_hex(8)
        )
        self.refused_recipients: set[str] = set(refuse_recipients)
        self.data_reply = data_reply
        self.auth_failures = 0
        self._lock = threading.Lock()
        self._messages: list[ReceivedMessage] = []
        self._mail_from_commands: list[str] = []
        self._controller: Any = None
        self._tempdir: Path | None = None
        self._port: int | None = None

    # -- records -----------------------------------------------------------------------------

    @property
    def messages(self) -> list[ReceivedMessage]:
        """The messages accepted so far, oldest first (a copy)."""
        with self._lock:
            return list(self._messages)

    @property
    def mail_from_commands(self) -> list[str]:
        """The sender of every MAIL command received, accepted or not: empty means that no
        client even began a transaction."""
        with self._lock:
            return list(self._mail_from_commands)

    # -- address and trust -------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the SMTP server is not running; call start() first")
        return self._port

    @property
    def ca_file(self) -> str:
        """Path of the PEM file of the CA that issued the server's certificate."""
        if self._tempdir is None:
            raise RuntimeError("the SMTP server is not running; call start() first")
        return str(self._tempdir / "ca.pem")

    def client_ssl_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts this server's certificate."""
        return ssl.create_default_context(cafile=self.ca_file)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> SMTPServer:
        if self._controller is not None:
            raise RuntimeError("the SMTP server is already running")
        try:
            import trustme  # type: ignore[import-not-found,unused-ignore]
            from aiosmtpd.controller import (  # type: ignore[import-not-found,unused-ignore]
                Controller,
            )
        except ImportError as exc:  # pragma: no cover - only without the test extras
            raise ImportError(
                f"SMTPServer needs the test-only packages aiosmtpd and trustme ({exc}); "
                "pip install aiosmtpd trustme"
            ) from exc

        tempdir = Path(tempfile.mkdtemp(prefix="flowhook-smtp-"))
        authority = trustme.CA()
        authority.cert_pem.write_to_path(str(tempdir / "ca.pem"))
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        authority.issue_cert(HOST, "localhost").configure_cert(server_context)

        options: dict[str, Any] = {"server_hostname": "flowhook-test-smtp"}
        if self.username is not None:
            options["authenticator"] = self._authenticate
        if self.security == "starttls":
            options.update(
                tls_context=server_context,
                require_starttls=True,
                auth_required=self.username is not None,
            )
        elif self.security == "ssl":
            # aiosmtpd does not see implicit TLS as TLS for AUTH purposes (aio-libs/aiosmtpd#281)
            options.update(ssl_context=server_context, auth_require_tls=False)
        else:
            options.update(auth_require_tls=False)

        # The threaded Controller cannot listen on port 0 (it connects to its own port to check
        # that it started), so take a free port first.
        port = closed_port()
        controller = Controller(_SMTPHandler(self), hostname=HOST, port=port, **options)
        try:
            controller.start()
        except BaseException:
            shutil.rmtree(tempdir, ignore_errors=True)
            raise
        self._controller, self._tempdir, self._port = controller, tempdir, port
        return self

    def stop(self) -> None:
        controller, tempdir = self._controller, self._tempdir
        self._controller = self._tempdir = self._port = None
        if controller is not None:
            controller.stop()
        if tempdir is not None:
            shutil.rmtree(tempdir, ignore_errors=True)

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> Any:
        from aiosmtpd.smtp import (  # type: ignore[import-not-found,unused-ignore]
            AuthResult,
            LoginPassword,
        )

        if (
            isinstance(auth_data, LoginPassword)
            and self.username is not None
            and self.password is not None
            and auth_data.login == self.username.encode("utf-8")
            and auth_data.password == self.password.encode("utf-8")
        ):
            return AuthResult(success=True, auth_data=auth_data)
        with self._lock:
            self.auth_failures += 1
        return AuthResult(success=False, handled=False)
