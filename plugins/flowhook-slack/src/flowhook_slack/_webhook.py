"""The Slack incoming-webhook notifier: message building, delivery and error mapping."""

from __future__ import annotations

import email.utils
import functools
import json
import logging
import math
import os
import sys
import urllib.parse
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from flowhook_hookspec import NotificationError, Notifier, Secret, redact
from flowhook_hookspec.lazy import defer_modules

from ._version import __version__

if TYPE_CHECKING:
    from . import _connections, _proxy
else:  # with the first message, not with the plugin: they bring ssl, http.client, urllib.request
    defer_modules(globals(), "._connections", "._proxy", package=__package__)

__all__ = [
    "IDEMPOTENCY_HEADER",
    "MAX_HEADER_TEXT",
    "MAX_SECTION_TEXT",
    "MAX_TEXT",
    "TRUNCATION_MARK",
    "SlackWebhook",
    "build_payload",
    "escape",
]

logger = logging.getLogger("flowhook_slack")

#: Slack truncates a message's ``text`` beyond 40,000 characters; we cut it ourselves.
MAX_TEXT = 40_000
#: The longest text of a section block.
MAX_SECTION_TEXT = 3_000
#: The longest text of a header block.
MAX_HEADER_TEXT = 150
#: The most blocks one message may hold.
MAX_BLOCKS = 50
#: Ends every text that was cut to fit a limit.
TRUNCATION_MARK = "… (truncated)"
#: The most of a response body we read: Slack answers with a short code.
_MAX_RESPONSE_BYTES = 64 * 1024

#: What to do about each error code Slack answers with.
_HINTS: dict[str, str] = {
    "no_service": "the webhook was disabled or revoked, or its app uninstalled: create a new one",
    "invalid_token": "the webhook was disabled or revoked: create a new one",
    "no_team": "the workspace of the webhook no longer exists",
    "team_disabled": "the workspace of the webhook is disabled",
    "channel_not_found": "the channel of the webhook was deleted: create a new webhook",
    "channel_is_archived": "the channel of the webhook is archived: unarchive it or create a "
    "new webhook",
    "action_prohibited": "a workspace admin restricted posting to this channel",
    "posting_to_general_channel_denied": "only admins may post to this channel",
    "user_not_found": "the user of the webhook no longer exists",
    "invalid_payload": "Slack could not read the message; please report this flowhook-slack bug",
    "rate_limited": "Slack limits webhooks to about one message per second",
}


def escape(text: str) -> str:
    """``text`` with Slack's three control characters (``& < >``) replaced by their entities.

    Slack reads ``<...>`` as links and mentions; nothing else needs escaping.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _safe_cut(text: str, end: int) -> int:
    """``end``, moved back so that ``text[:end]`` does not stop inside an ``&...;`` entity."""
    amp = text.rfind("&", max(0, end - 4), end)
    if amp != -1 and ";" not in text[amp:end]:
        return amp
    return end


def _truncate(text: str, limit: int) -> str:
    """``text`` (already escaped) cut to at most ``limit`` characters, marked when cut."""
    if len(text) <= limit:
        return text
    return text[: _safe_cut(text, limit - len(TRUNCATION_MARK))] + TRUNCATION_MARK


def _chunks(text: str, size: int) -> list[str]:
    """``text`` split into pieces of at most ``size`` characters, at line ends where possible."""
    pieces: list[str] = []
    while len(text) > size:
        newline = text.rfind("\n", size // 2, size)
        if newline != -1:
            pieces.append(text[:newline])
            text = text[newline + 1 :]
        else:
            cut = _safe_cut(text, size)
            pieces.append(text[:cut])
            text = text[cut:]
    pieces.append(text)
    return [piece for piece in pieces if piece.strip()]


def _one_line(text: str) -> str:
    return " ".join(text.split())


#: The request header that carries a message's idempotency key.
IDEMPOTENCY_HEADER = "X-Flowhook-Idempotency-Key"


def _header_safe(key: str) -> str:
    """``key`` as a header value: printable ASCII without spaces or line breaks."""
    if key.isascii() and key.isprintable() and " " not in key:
        return key  # flowhook's keys (hex digits): no need to look at each character
    return "".join(char for char in key if char.isascii() and char.isprintable() and char != " ")


def build_payload(body: str, subject: str | None = None) -> dict[str, Any]:
    """The JSON payload of one message: ``text`` (the notification fallback) and ``blocks``.

    The subject becomes a header block and a bold first line of ``text``; the body becomes
    section blocks of at most :data:`MAX_SECTION_TEXT` characters. Everything is escaped and
    cut to Slack's limits (:data:`MAX_TEXT` for ``text`` and for the body as a whole).

    Raises ``ValueError`` when there is nothing to send (empty body and subject).
    """
    title = _one_line(subject) if subject else ""
    content = _truncate(escape(body), MAX_TEXT) if body.strip() else ""
    if not title and not content:
        raise ValueError("nothing to send: the body and the subject are empty")
    if title and content:
        text = _truncate(f"*{escape(title)}*\n{content}", MAX_TEXT)
    else:
        text = f"*{escape(title)}*" if title else content
    blocks: list[dict[str, Any]] = []
    if title:
        header = _truncate(escape(title), MAX_HEADER_TEXT)
        blocks.append({"type": "header", "text": {"type": "plain_text", "text": header}})
    for piece in _chunks(content, MAX_SECTION_TEXT)[: MAX_BLOCKS - len(blocks)]:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": piece}})
    return {"text": text, "blocks": blocks}


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value.strip())
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _as_webhook_url(value: Secret | str) -> Secret:
    raw = value.get_secret_value() if isinstance(value, Secret) else value
    if not isinstance(raw, str):
        raise TypeError(f"SlackWebhook url must be a string, not {type(raw).__name__}")
    return Secret(raw.strip())


def _check_webhook_url(instance: object, attribute: attrs.Attribute[Secret], value: Secret) -> None:
    # Never echo the value: the URL is the credential.
    raw = value.get_secret_value()
    usage = (
        "SlackWebhook url must be the webhook's http(s) URL, "
        "like https://hooks.slack.com/services/T.../B.../...; the value given "
    )
    if any(char.isspace() or ord(char) < 32 or ord(char) == 127 for char in raw):
        raise ValueError(usage + "contains spaces or control characters (it is not shown)")
    try:
        parts = urllib.parse.urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError(usage + "is not a valid URL (it is not shown)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(usage + "is not an http(s) URL (it is not shown)")


def _check_timeout(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"SlackWebhook timeout must be a positive number of seconds, not {value}")


@functools.lru_cache(maxsize=64)
def _target(url: str) -> tuple[str, str, int | None, str]:
    """The scheme, host, port and path (with its query) of a webhook URL."""
    parts = urllib.parse.urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname or "", parts.port, path


def _proxied(scheme: str) -> bool:
    """Whether a proxy may apply to ``scheme`` (then ``urllib`` sends, honouring ``no_proxy``
    and the rest): on Linux, a ``<scheme>_proxy`` variable; elsewhere the system's settings
    count too, which only ``urllib`` reads."""
    if sys.platform in ("darwin", "win32"):
        return bool(_proxy.getproxies().get(scheme))
    return bool(os.environ.get(f"{scheme}_proxy") or os.environ.get(f"{scheme.upper()}_PROXY"))


@attrs.define
class SlackWebhook(Notifier):
    """Posts each notification to a Slack channel through an incoming webhook.

    ``url`` is the webhook URL, a secret: it is never shown in a repr, an error or a log.
    ``username``, ``icon_emoji`` and ``icon_url`` override the poster's name and icon, which
    only webhooks of legacy Slack integrations honour. ``timeout`` bounds each request.
    """

    block_type: ClassVar[str] = "slack-webhook"
    description: ClassVar[str] = "Post messages to a Slack channel through an incoming webhook"
    #: Slack allows about one message a second per webhook.
    min_interval_seconds: ClassVar[float] = 1.0

    url: Secret = attrs.field(converter=_as_webhook_url, validator=_check_webhook_url)
    username: str | None = attrs.field(default=None, kw_only=True)
    icon_emoji: str | None = attrs.field(default=None, kw_only=True)
    icon_url: str | None = attrs.field(default=None, kw_only=True)
    timeout: float = attrs.field(
        default=10.0, converter=float, validator=_check_timeout, kw_only=True
    )

    def notify(self, body: str, subject: str | None = None, *, key: str | None = None) -> None:
        """Post one message; raise :class:`~flowhook_hookspec.NotificationError` if Slack did
        not answer ``200 ok``.

        ``key``, the message's idempotency key, goes in the ``X-Flowhook-Idempotency-Key``
        header: Slack itself keeps no such key, but a proxy or a Slack-compatible receiver can
        drop the duplicates an unclear failure leads to.

        Rate limits (429), server errors (5xx), timeouts and connection errors are transient;
        Slack refusing the message or the webhook (other 4xx, a redirect, a 200 that is not
        ``ok``) is permanent. The error names Slack's error code.
        """
        try:
            payload = build_payload(body, subject)
        except ValueError as exc:
            raise NotificationError(str(exc), permanent=True) from None
        for name in ("username", "icon_emoji", "icon_url"):
            value = getattr(self, name)
            if value:
                payload[name] = value
        data = json.dumps(payload).encode("utf-8")
        status, code, headers = self._post(data, key)
        if status == 200 and code == "ok":
            logger.debug("posted a message to the Slack webhook at %s", self._where)
            return
        raise self._error(status, code, headers)

    @property
    def _where(self) -> str:
        """The webhook's host and port: shown in messages instead of the secret URL."""
        _, host, port, _ = _target(self.url.get_secret_value())
        return f"{host}:{port}" if port else host

    def _redact(self, text: str) -> str:
        """``text`` without the URL, nor its secret parts: the path, and its last segment (the
        token), which a server or a library may quote on their own."""
        parts = urllib.parse.urlsplit(self.url.get_secret_value())
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        token = parts.path.rstrip("/").rpartition("/")[2]
        pieces = [path if len(path) > 1 else None, token if len(token) >= 8 else None]
        return redact(text, *self.secrets(), *pieces)

    def _post(self, data: bytes, key: str | None = None) -> tuple[int, str, dict[str, str]]:
        """POST ``data``; returns the status, the body (one line) and the response's header
        fields (names in lower case)."""
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": f"flowhook-slack/{__version__}",
        }
        if key is not None:
            headers[IDEMPOTENCY_HEADER] = _header_safe(key)
        url = self.url.get_secret_value()
        try:
            scheme, host, port, path = _target(url)
            if _proxied(scheme):
                status, answer, response_headers = _proxy.post(
                    url, data, headers, self.timeout, _MAX_RESPONSE_BYTES
                )
            else:
                status, answer, response_headers = _connections.post(
                    scheme, host, port, path, data, headers, self.timeout, _MAX_RESPONSE_BYTES
                )
            return status, _one_line(answer.decode("utf-8", "replace")), response_headers
        except TimeoutError:
            raise self._timeout_error() from None
        except (_proxy.URLError, _connections.Unreachable) as exc:
            if isinstance(exc.reason, TimeoutError):
                raise self._timeout_error() from None
            raise NotificationError(
                f"could not reach the Slack webhook at {self._where}: "
                f"{self._redact(str(exc.reason))}; check the network and try again"
            ) from None
        except (_connections.HTTPException, OSError) as exc:
            raise NotificationError(
                f"the connection to the Slack webhook at {self._where} failed: "
                f"{type(exc).__name__}: {self._redact(str(exc))}"
            ) from None
        except ValueError as exc:  # http.client.InvalidURL and friends quote the URL
            raise NotificationError(
                f"the Slack webhook URL was refused by the HTTP client: {self._redact(str(exc))}",
                permanent=True,
            ) from None

    def _timeout_error(self) -> NotificationError:
        return NotificationError(
            f"the Slack webhook at {self._where} did not answer within {self.timeout:g} s "
            "(it may still have posted the message)"
        )

    def _error(self, status: int, code: str, headers: dict[str, str]) -> NotificationError:
        shown = self._redact(code)[:200] or "(empty answer)"
        hint = _HINTS.get(code)
        message = f"Slack webhook at {self._where} answered HTTP {status} {shown}"
        if hint:
            message += f": {hint}"
        if status == 429 or 500 <= status <= 599 or status == 408:
            return NotificationError(message, retry_after=_retry_after(headers.get("retry-after")))
        if 300 <= status <= 399:
            message += "; Slack never redirects a webhook: check the URL"
        return NotificationError(message, permanent=True)
