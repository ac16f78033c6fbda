"""The ``apprise`` block type: one message to every Apprise URL of the block."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import Any, ClassVar

import attrs

from flowhook_hookspec import NotificationError, Notifier, Secret, redact

from ._masking import captured_reasons, secret_pieces

__all__ = ["IDEMPOTENCY_HEADER", "NOTIFY_TYPES", "AppriseNotifier", "split_urls"]

#: The request header that carries a message's idempotency key, for the services whose Apprise
#: URL sends custom headers (``json://``, ``form://``, ``xml://``).
IDEMPOTENCY_HEADER = "X-Flowhook-Idempotency-Key"
_SERVICES = "https://appriseit.com/services/"
_USAGE = (
    "AppriseNotifier urls must be one or more Apprise URLs separated by spaces or commas, "
    f"like ntfy://ntfy.sh/my-topic or msteams://... (see {_SERVICES})"
)
#: Messages whose delivery failed for some services: the services that did receive them, so
#: that a retry sends to the others only. Bounded: a message retried this far back is old.
_REMEMBERED = 1024


def split_urls(value: str) -> list[str]:
    """The URLs of ``value``: separated by whitespace, commas or semicolons."""
    return [url for url in re.split(r"[\s,;]+", value) if url]


def _as_urls(value: Secret | str) -> Secret:
    raw = value.get_secret_value() if isinstance(value, Secret) else value
    if not isinstance(raw, str):
        raise TypeError(f"AppriseNotifier urls must be a string, not {type(raw).__name__}")
    return Secret(" ".join(split_urls(raw)))


def _scheme(url: str) -> str:
    return url.split("://", 1)[0] + "://" if "://" in url else "(no scheme)"


def _instantiate(url: str, position: str) -> Any:
    """Apprise's service object for ``url``; ``ValueError`` (the URL never shown) if invalid."""
    import apprise  # slow to import: only when a block is checked or a message sent

    with captured_reasons(secret_pieces(url)) as reasons:
        server = apprise.Apprise.instantiate(url)
    if server is None:
        why = "; ".join(reasons) or "Apprise does not know this URL"
        raise ValueError(
            f"{_USAGE}; URL {position} ({_scheme(url)}...) is not one Apprise can use: {why}"
        )
    return server


#: Apprise's notification types: services colour messages by them, and some act on them
#: (Opsgenie opens an alert for ``warning`` and ``failure``, adds a note for ``info``).
NOTIFY_TYPES = ("info", "success", "warning", "failure")


def _check_notify_type(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in NOTIFY_TYPES:
        raise ValueError(
            f"AppriseNotifier notify_type must be one of {', '.join(NOTIFY_TYPES)}, not {value!r}"
        )


def _check_urls(instance: object, attribute: attrs.Attribute[Secret], value: Secret) -> None:
    urls = split_urls(value.get_secret_value())
    if not urls:
        raise ValueError(f"{_USAGE}; the value given is empty")
    for index, url in enumerate(urls, 1):
        _instantiate(url, f"{index} of {len(urls)}")


#: The services whose API drops duplicates by a key, and the attribute of Apprise's service
#: object that holds it: PagerDuty's ``dedup_key``, Opsgenie's ``alias``.
_KEY_ATTRIBUTES = {"pagerduty": "dedup", "opsgenie": "alias"}


def _carry_key(server: Any, key: str) -> None:
    """Give ``key`` to the service where it takes one (see docs/apprise.md), unless the URL
    set that service's key itself."""
    protocols = server.secure_protocol
    for protocol in (protocols,) if isinstance(protocols, str) else protocols:
        attribute = _KEY_ATTRIBUTES.get(protocol)
        if attribute and not getattr(server, attribute, None):
            setattr(server, attribute, key)
    headers = getattr(server, "headers", None)
    if isinstance(headers, dict):  # json://, form://, xml:// and others with custom headers
        headers[IDEMPOTENCY_HEADER] = key


@attrs.define
class AppriseNotifier(Notifier):
    """Sends each notification to every service of ``urls``, through Apprise.

    ``urls`` (a secret) holds one or more Apprise URLs separated by spaces or commas; each is
    checked when the block is made, and never shown. ``notify_type`` is Apprise's type of every
    message (``info``, ``success``, ``warning``, ``failure``; default ``warning``). A message is delivered when every service
    received it; when some failed, the error names them (by position and service), delivery
    retries it, and a retry in the same process sends to the services that failed only.
    """

    block_type: ClassVar[str] = "apprise"
    description: ClassVar[str] = (
        "Send messages through Apprise: Teams, Discord, PagerDuty, Opsgenie, Telegram, ntfy, ..."
    )

    urls: Secret = attrs.field(converter=_as_urls, validator=_check_urls)
    notify_type: str = attrs.field(default="warning", validator=_check_notify_type, kw_only=True)

    _sent: ClassVar[OrderedDict[str, set[int]]] = OrderedDict()
    _sent_lock: ClassVar[threading.Lock] = threading.Lock()

    def notify(self, body: str, subject: str | None = None, *, key: str | None = None) -> None:
        """Send one message to every service, or raise
        :class:`~flowhook_hookspec.NotificationError` naming those that failed (a transient
        error: Apprise does not say whether trying again can help).

        ``key`` goes to the services that take an idempotency key: PagerDuty's ``dedup_key``
        and Opsgenie's ``alias`` (unless the URL sets them), and the ``X-Flowhook-Idempotency-Key`` header of the
        services with custom headers (``json://``, ``form://``, ``xml://``).
        """
        if not body.strip() and not (subject or "").strip():
            raise NotificationError(
                "nothing to send: the body and the subject are empty", permanent=True
            )
        urls = split_urls(self.urls.get_secret_value())
        with self._sent_lock:
            done = set(self._sent.get(key, ())) if key else set()
        failures = []
        for index, url in enumerate(urls):
            if index in done:
                continue
            position = f"{index + 1} of {len(urls)}"
            reason = self._send(url, position, body, subject, key)
            if reason is None:
                done.add(index)
            else:
                failures.append(reason)
        if failures:
            self._remember(key, done)
            raise NotificationError(
                f"Apprise could not deliver to {len(failures)} of {len(urls)} services: "
                + "; ".join(failures)
            )
        self._remember(key, None)

    def _send(
        self, url: str, position: str, body: str, subject: str | None, key: str | None
    ) -> str | None:
        """Send to one service: ``None`` when it received the message, else why not."""
        try:
            server = _instantiate(url, position)
        except ValueError as exc:
            raise NotificationError(str(exc), permanent=True) from None
        if key:
            _carry_key(server, key)
        pieces = secret_pieces(url)
        with captured_reasons(pieces) as reasons:
            try:
                sent = bool(
                    server.notify(
                        body=body or " ", title=subject or "", notify_type=self.notify_type
                    )
                )
            except Exception as exc:  # a service plugin's bug must not lose the message
                reasons.append(f"{type(exc).__name__}: {exc}")
                sent = False
        if sent:
            return None
        why = redact("; ".join(reasons) or "Apprise reported a failure", *pieces)
        return f"URL {position} ({server.service_name}): {why}"

    @classmethod
    def _remember(cls, key: str | None, done: set[int] | None) -> None:
        if not key:
            return
        with cls._sent_lock:
            if done is None:
                cls._sent.pop(key, None)
                return
            cls._sent[key] = done
            cls._sent.move_to_end(key)
            while len(cls._sent) > _REMEMBERED:
                cls._sent.popitem(last=False)
