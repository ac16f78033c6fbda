"""The SMTP email notifier: message building, delivery and error mapping."""

from __future__ import annotations

import base64
import email.utils
import logging
import math
from datetime import datetime, timezone
from email.message import EmailMessage
from typing import TYPE_CHECKING, ClassVar, Literal, NoReturn

import attrs

from flowhook_hookspec import NotificationError, Notifier, Secret, as_secret, redact
from flowhook_hookspec.lazy import defer_modules

from ._connections import close, put_back, session_key, take
from ._version import __version__

if TYPE_CHECKING:
    import html
    import smtplib
    import ssl
    from email import policy
else:  # with the first message, not with the plugin, which every flow run loads
    defer_modules(globals(), "html", "smtplib", "ssl", "email.policy")

__all__ = ["DEFAULT_PORTS", "DEFAULT_SUBJECT", "EmailNotifier", "InvalidMessageError", "Security"]

logger = logging.getLogger("flowhook_email")

Security = Literal["starttls", "ssl", "none"]

#: The port each security mode uses unless told otherwise (submission, submissions, smtp).
DEFAULT_PORTS: dict[str, int] = {"starttls": 587, "ssl": 465, "none": 25}

#: The subject of a notification sent without one.
DEFAULT_SUBJECT = "flowhook notification"


class InvalidMessageError(NotificationError, ValueError):
    """The message cannot be sent as given (a subject with a line break); nothing was sent.

    A :class:`ValueError` and a permanent :class:`~flowhook_hookspec.NotificationError`.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


# -- field converters and validators ----------------------------------------------------------


def _split_address(value: str, what: str) -> tuple[str, str]:
    """``(display name, addr-spec)`` of one address, or ``ValueError`` saying what is wrong."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, not {type(value).__name__}")
    if "\r" in value or "\n" in value:
        raise ValueError(f"{what} {value!r} contains a line break; give one address per entry")
    pairs = email.utils.getaddresses([value])
    if len(pairs) != 1:
        raise ValueError(f"{what} {value!r} must be one address, not {len(pairs)}")
    name, addr = pairs[0]
    local, at, domain = addr.rpartition("@")
    if not (local and at and domain) or any(char.isspace() for char in addr):
        raise ValueError(
            f"{what} {value!r} is not an email address; "
            "write it like ops@example.com or 'Ops <ops@example.com>'"
        )
    return name, addr


def _as_recipients(value: str | list[str] | tuple[str, ...]) -> list[str]:
    """A list of addresses from a list, or from one string of comma-separated addresses."""
    if isinstance(value, str):
        pairs = email.utils.getaddresses([value])
        return [email.utils.formataddr(pair) for pair in pairs if pair[1]]
    return list(value)


def _check_recipients(
    instance: object, attribute: attrs.Attribute[list[str]], value: list[str]
) -> None:
    if not value:
        raise ValueError("EmailNotifier to must list at least one recipient address")
    for address in value:
        _split_address(address, "EmailNotifier recipient")


def _check_from_addr(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    _split_address(value, "EmailNotifier from_addr")


def _check_host(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value):
        raise ValueError(f"EmailNotifier host must be a host name or address, not {value!r}")


def _check_port(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise ValueError(f"EmailNotifier port must be a TCP port (1 to 65535), not {value!r}")


def _check_timeout(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"EmailNotifier timeout must be a positive number of seconds, not {value}")


def _as_optional_secret(value: Secret | str | None) -> Secret | None:
    return None if value is None else as_secret(value)


def _default_port(notifier: EmailNotifier) -> int:
    return DEFAULT_PORTS.get(notifier.security, 587)


# -- the notifier ------------------------------------------------------------------------------


@attrs.define(kw_only=True)
class EmailNotifier(Notifier):
    """Sends each notification as an email through an SMTP server.

    - ``security``: ``"starttls"`` (default: plain connection upgraded with STARTTLS, port
      587), ``"ssl"`` (SMTP over TLS, port 465) or ``"none"`` (no encryption, port 25; for a
      relay on a trusted network, and never with a password).
    - ``port``: defaults by ``security``.
    - ``username``/``password``: log in (after TLS is up) when given; the password is a
      :class:`~flowhook_hookspec.Secret`, never shown.
    - ``from_addr``, ``to``: ``ops@example.com`` or ``"Ops <ops@example.com>"``; ``to`` is a
      list, or one string of comma-separated addresses.
    - ``timeout``: seconds for connecting and for each reply.
    - ``ca_file``: a PEM file of CAs to trust instead of the system's. Certificates are always
      verified, host name included.
    """

    block_type: ClassVar[str] = "email"
    description: ClassVar[str] = "Send notifications by email through an SMTP server"

    host: str = attrs.field(validator=_check_host)
    from_addr: str = attrs.field(validator=_check_from_addr)
    to: list[str] = attrs.field(converter=_as_recipients, validator=_check_recipients)
    security: Security = attrs.field(
        default="starttls", validator=attrs.validators.in_(("starttls", "ssl", "none"))
    )
    port: int = attrs.field(
        default=attrs.Factory(_default_port, takes_self=True), validator=_check_port
    )
    username: str | None = None
    password: Secret | None = attrs.field(default=None, converter=_as_optional_secret)
    timeout: float = attrs.field(default=15.0, converter=float, validator=_check_timeout)
    ca_file: str | None = None

    def __attrs_post_init__(self) -> None:
        self._check_credentials()

    def _check_credentials(self) -> None:
        if self.password is not None and not self.username:
            raise ValueError("EmailNotifier password is set but username is not; set both")
        if self.username and self.password is None:
            raise ValueError(f"EmailNotifier username {self.username!r} needs a password")
        if self.password is not None and self.security == "none":
            raise ValueError(
                "EmailNotifier would send the password unencrypted with security='none'; "
                "use security='starttls' (port 587) or 'ssl' (port 465)"
            )

    # -- the message -------------------------------------------------------------------------

    def build_message(
        self, body: str, subject: str | None = None, key: str | None = None
    ) -> EmailMessage:
        """The message ``notify`` sends: text and HTML alternatives, with Date and Message-ID.

        With ``key`` (the message's idempotency key) the Message-ID is ``<key@domain>``, the
        same for every attempt, so that mail systems can drop a duplicate; else a new one.
        Raises :class:`InvalidMessageError` when the subject holds a line break.
        """
        subject = DEFAULT_SUBJECT if subject is None else subject
        if "\r" in subject or "\n" in subject:
            raise InvalidMessageError(
                "the subject must be one line, but it contains a carriage return or a line "
                "feed (which could inject headers); nothing was sent"
            )
        message = EmailMessage(policy=policy.SMTP)
        message["From"] = self.from_addr
        message["To"] = ", ".join(self.to)
        message["Subject"] = subject
        message["Date"] = email.utils.format_datetime(datetime.now(timezone.utc))
        domain = _split_address(self.from_addr, "from_addr")[1].rpartition("@")[2]
        token = "".join(char for char in key or "" if char.isascii() and char.isalnum())
        message["Message-ID"] = (
            f"<{token}.flowhook@{domain}>" if token else email.utils.make_msgid(domain=domain)
        )
        message["X-Mailer"] = f"flowhook-email/{__version__}"
        message.set_content(body)
        message.add_alternative(_html(body, subject), subtype="html")
        return message

    # -- delivery ----------------------------------------------------------------------------

    def notify(self, body: str, subject: str | None = None, *, key: str | None = None) -> None:
        """Send one message to every recipient, or raise
        :class:`~flowhook_hookspec.NotificationError`.

        Refused connections, timeouts, dropped connections and 4xx replies are transient;
        failed authentication, certificate errors, 5xx replies and refused recipients are
        permanent. When the server refuses some recipients only, the others get the message
        and the error names the refused ones.
        """
        self._check_credentials()
        message = self.build_message(body, subject, key)
        recipients = [_split_address(address, "recipient")[1] for address in self.to]
        sender = _split_address(self.from_addr, "from_addr")[1]
        try:
            refused = self._send(message, sender, recipients)
        except NotificationError:
            raise
        except Exception as exc:
            self._raise_for(exc)
        if refused:
            delivered = len(recipients) - len(refused)
            raise NotificationError(
                f"{self._where} delivered the message to {delivered} of {len(recipients)} "
                f"recipients and refused {_describe_refusals(refused)}",
                permanent=True,
            )
        logger.debug(
            "sent %s to %d recipients through %s",
            message["Message-ID"],
            len(recipients),
            self._where,
        )

    @property
    def _where(self) -> str:
        return f"the SMTP server {self.host}:{self.port}"

    def _ssl_context(self) -> ssl.SSLContext | None:
        if self.security == "none":
            return None
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:  # FileNotFoundError, or not a PEM file
            raise NotificationError(
                f"EmailNotifier ca_file {self.ca_file!r} could not be loaded: {exc}",
                permanent=True,
            ) from None

    def _send(
        self, message: EmailMessage, sender: str, recipients: list[str]
    ) -> dict[str, tuple[int, bytes]]:
        """Send ``message`` on a kept-open session of these settings (see :mod:`._connections`),
        or a new one; the recipients the server refused."""
        password = None if self.password is None else self.password.get_secret_value()
        key = session_key(
            self.host, self.port, self.security, self.ca_file, self.timeout, self.username, password
        )
        session = take(key, self._open_session)
        try:
            refused = session.send_message(message, from_addr=sender, to_addrs=recipients)
        except BaseException:
            close(session)
            raise
        put_back(key, session)
        return refused

    def _open_session(self) -> smtplib.SMTP:
        """A new session: connected, encrypted as ``security`` says, logged in if asked."""
        context = self._ssl_context()
        session: smtplib.SMTP
        if self.security == "ssl":
            session = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            session = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.security == "starttls":
                session.starttls(context=context)
            if self.username and self.password is not None:
                session.login(self.username, self.password.get_secret_value())
        except BaseException:
            close(session)
            raise
        return session

    def _redact(self, text: str) -> str:
        """``text`` without the password, nor the base64 forms AUTH sends it in."""
        if self.password is None:
            return text
        password = self.password.get_secret_value()
        forms = [
            base64.b64encode(f"\0{self.username}\0{password}".encode()).decode("ascii"),
            base64.b64encode(password.encode()).decode("ascii"),
        ]
        return redact(text, self.password, *forms)

    def _raise_for(self, exc: Exception) -> NoReturn:
        """Raise the :class:`NotificationError` that says what ``exc`` means for delivery."""
        where = self._where
        permanent = True
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            reply = _reply(exc.smtp_code, exc.smtp_error)
            text = f"{where} refused the login of {self.username!r}: {reply}; check the credentials"
            permanent = not 400 <= exc.smtp_code < 500
        elif isinstance(exc, smtplib.SMTPNotSupportedError):
            text = f"{where} does not support {_missing_extension(exc)}"
            if self.security == "starttls":
                text += "; use security='ssl' if it speaks SMTP over TLS (port 465)"
                if self.password is None:  # 'none' refuses a password: only then an option
                    text += ", or security='none' to send unencrypted, on a network you trust"
        elif isinstance(exc, smtplib.SMTPRecipientsRefused):
            text = f"{where} refused every recipient: {_describe_refusals(exc.recipients)}"
            permanent = not all(400 <= code < 500 for code, _ in exc.recipients.values())
        elif isinstance(exc, smtplib.SMTPSenderRefused):
            text = f"{where} refused the sender {exc.sender!r}: {_reply(exc.smtp_code, exc.smtp_error)}"
            permanent = not 400 <= exc.smtp_code < 500
        elif isinstance(exc, smtplib.SMTPResponseException):
            text = f"{where} answered {_reply(exc.smtp_code, exc.smtp_error)}"
            permanent = not 400 <= exc.smtp_code < 500
        elif isinstance(exc, ssl.SSLCertVerificationError):
            text = (
                f"the certificate of {where} could not be verified ({exc.verify_message}); "
                "set ca_file to the CA that issued it if it is a private one"
            )
        elif isinstance(exc, ssl.SSLError):
            text = (
                f"the TLS connection to {where} failed: {exc}; check that security="
                f"{self.security!r} is what port {self.port} speaks"
            )
            permanent = False
        elif isinstance(exc, smtplib.SMTPServerDisconnected) and not isinstance(
            exc.__context__, TimeoutError
        ):
            text = f"{where} closed the connection: {exc}"
            permanent = False
        elif isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
            # smtplib reports a reply that never came as SMTPServerDisconnected from a timeout
            text = f"{where} did not answer within {self.timeout:g} s"
            permanent = False
        elif isinstance(exc, ConnectionRefusedError):
            text = f"{where} refused the connection; check host and port, and try again later"
            permanent = False
        elif isinstance(exc, (OSError, smtplib.SMTPException)):
            text = f"could not talk to {where}: {type(exc).__name__}: {exc}"
            permanent = False
        elif isinstance(exc, ValueError):  # smtplib refusing a value, e.g. a non-ASCII password
            text = f"could not send through {where}: {type(exc).__name__}: {exc}"
        else:
            raise exc
        raise NotificationError(self._redact(text), permanent=permanent) from None


def _reply(code: int, text: bytes | str) -> str:
    shown = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {' '.join(shown.split())}"


def _describe_refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    return ", ".join(
        f"{address} ({_reply(code, text)})" for address, (code, text) in refused.items()
    )


def _missing_extension(exc: smtplib.SMTPNotSupportedError) -> str:
    text = str(exc)
    return "STARTTLS" if "STARTTLS" in text else "AUTH" if "AUTH" in text else text


def _html(body: str, subject: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html><head><meta charset="utf-8">'
        f"<title>{html.escape(subject)}</title></head>\n"
        '<body><pre style="white-space: pre-wrap; font-family: monospace">'
        f"{html.escape(body)}</pre></body></html>\n"
    )
