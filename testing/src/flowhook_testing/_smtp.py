"""An SMTP server on 127.0.0.1 (aiosmtpd in a thread) with TLS from a throwaway CA (trustme)."""

from __future__ import annotations

import email.policy
import secrets
import shutil
import ssl
import tempfile
import threading
from collections.abc import Iterable
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, Literal

import attrs
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from ._common import HOST, BackgroundServer, closed_port

__all__ = ["ReceivedMessage", "SMTPSecurity", "SMTPServer"]


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
            self.owner._sessions.setdefault(id(session), session)  # kept: its id is not reused
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
        # What the authenticator accepted (aiosmtpd's ``login_data`` is deprecated, and warns).
        accepted = getattr(session, "auth_data", None)
        login = accepted.login if isinstance(accepted, LoginPassword) else None
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


class SMTPServer(BackgroundServer):
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
    ``idle_timeout`` is how many seconds a session may wait between two commands before the
    server ends it (as real servers end idle sessions); :attr:`sessions` counts the sessions
    (connections) that began a mail transaction.
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
        idle_timeout: float = 300.0,
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
        self.idle_timeout = idle_timeout
        self.auth_failures = 0
        self._lock = threading.Lock()
        self._messages: list[ReceivedMessage] = []
        self._mail_from_commands: list[str] = []
        self._sessions: dict[int, Any] = {}
        self._controller: Controller | None = None
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

    @property
    def sessions(self) -> int:
        """How many sessions (connections) sent a MAIL command: a client that keeps its
        session open for the next message shows one for many messages."""
        with self._lock:
            return len(self._sessions)

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
        tempdir = Path(tempfile.mkdtemp(prefix="flowhook-smtp-"))
        authority = trustme.CA()
        authority.cert_pem.write_to_path(str(tempdir / "ca.pem"))
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        authority.issue_cert(HOST, "localhost").configure_cert(server_context)

        options: dict[str, Any] = {
            "server_hostname": "flowhook-test-smtp",
            "timeout": self.idle_timeout,
        }
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
