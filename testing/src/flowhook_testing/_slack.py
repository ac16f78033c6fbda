"""A Slack-like incoming webhook: an HTTP server on 127.0.0.1 that answers from a script."""

from __future__ import annotations

import contextlib
import http.server
import json
import secrets
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

import attrs

from ._common import HOST, BackgroundServer

__all__ = [
    "ReceivedRequest",
    "ScriptItem",
    "SlackWebhookServer",
    "WebhookResponse",
    "webhook_response",
]

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
    #: The client's port: requests with the same one came on the same connection.
    client_port: int = 0

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        """The body parsed as JSON (raises ``ValueError`` when it is not JSON)."""
        return json.loads(self.body)


class _WebhookHandler(http.server.BaseHTTPRequestHandler):
    server: _WebhookHTTPServer
    # Keeps connections open between requests, as Slack does (every answer has a length);
    # without Nagle's algorithm, or an answer's body waits for the client's delayed ack.
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

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
                client_port=self.client_address[1],
            )
        )
        response = owner._next_response()
        if response.delay > 0 and owner._stopping.wait(response.delay):
            self.close_connection = True  # the server is stopping: hang up without an answer
            return
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
    # socketserver's default backlog (5) drops the connections of a sender pool's burst, which
    # the client then retries a second later: a real webhook endpoint takes them at once
    request_queue_size = 128

    def __init__(self, owner: SlackWebhookServer, port: int) -> None:
        super().__init__((HOST, port), _WebhookHandler)
        self.owner = owner
        self._open: set[socket.socket] = set()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.owner._lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.owner._lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def hang_up(self) -> None:
        """Close the connections clients keep open: a stopped server answers nothing more."""
        with self.owner._lock:
            open_now, self._open = list(self._open), set()
        for request in open_now:
            with contextlib.suppress(OSError):  # the client hung up first
                request.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that hung up early is part of the tests, not an error
        super().handle_error(request, client_address)


class SlackWebhookServer(BackgroundServer):
    """An HTTP server on 127.0.0.1 that answers like a Slack incoming webhook, from a script.

    Each request gets the next answer of the script (see :data:`ScriptItem`), then ``default``
    (``ok``) once the script is used up. Every request is recorded in :attr:`requests`, in the
    order received. :attr:`url` has a random secret-like path (:attr:`token`), so tests can
    check that it never leaks into errors or logs.

    Stopped and started again, it listens on the same port (``port=0``, the default, picks a
    free one on the first start), so a test can make the service unreachable for a while.
    """

    def __init__(self, *script: ScriptItem, default: ScriptItem = "ok", port: int = 0) -> None:
        self._port = port
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
        self._httpd = _WebhookHTTPServer(self, self._port)
        self._port = self._httpd.server_address[1]
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
        httpd.hang_up()
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = self._thread = None
