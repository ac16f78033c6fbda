"""The notifier contract: what a notification plugin implements.

A notifier is an attrs class with a ``block_type`` (``"slack-webhook"``, ``"email"``, ``"log"``),
typed fields, and a ``notify(body, subject=None)`` method that delivers one message or raises
:class:`~flowhook_hookspec.errors.NotificationError`. A saved configuration of a notifier is a
*block*, named ``type/name`` (``slack-webhook/ops``).

Plugins make their notifier classes known through the ``register_notifiers(register)`` hook.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from .errors import NotificationError

__all__ = ["MASK", "NotificationError", "Notifier", "Secret", "redact"]

#: What a secret looks like wherever it is shown.
MASK = "**********"


@attrs.frozen(repr=False)
class Secret:
    """A value that must never be shown: webhook URLs, passwords, tokens.

    ``str()``, ``repr()``, logging and the JSON form all show ``**********``; the value is read
    only through :meth:`get_secret_value`.
    """

    _value: str = attrs.field(alias="value")

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __bool__(self) -> bool:
        return bool(self._value)


def _as_secret(value: Secret | str) -> Secret:
    return value if isinstance(value, Secret) else Secret(value)


#: Use as ``converter=`` on a notifier field so that plain strings become :class:`Secret`.
as_secret = _as_secret


def _secret_forms(value: str) -> set[str]:
    """The texts that would give ``value`` away: itself, its URL-quoted forms, and for a URL
    its path and query (where webhook tokens live), which libraries often quote alone."""
    import urllib.parse  # only when a secret is redacted: slow to import

    forms = {value, urllib.parse.quote(value, safe=""), urllib.parse.quote(value)}
    parts = urllib.parse.urlsplit(value)
    if parts.scheme and parts.netloc:
        tail = parts.path + (f"?{parts.query}" if parts.query else "")
        if len(tail) > 1:
            forms.update({tail, parts.path} if len(parts.path) > 1 else {tail})
    return {form for form in forms if form}


def redact(text: str, *secrets: Secret | str | None) -> str:
    """``text`` with every trace of each secret replaced by the mask.

    Masks the raw and URL-quoted value and, for a URL, also its path and query where they appear
    without the host, so that exception texts of HTTP libraries that quote what they were given can
    reach a log, an error or the database.
    """
    for secret in secrets:
        if secret is None:
            continue
        value = secret.get_secret_value() if isinstance(secret, Secret) else secret
        for form in sorted(_secret_forms(value), key=len, reverse=True):
            text = text.replace(form, MASK)
    return text


@attrs.define
class Notifier:
    """Base class of notifiers. Subclasses are attrs classes that set ``block_type``.

    Fields typed :class:`Secret` (with ``converter=as_secret``) are masked everywhere.
    """

    block_type: ClassVar[str] = ""
    #: One line shown by ``flowhook block types``.
    description: ClassVar[str] = ""
    #: The least time between two messages to one block: delivery spaces them out to respect
    #: the service's rate limit (Slack's incoming webhooks: about one message a second).
    min_interval_seconds: ClassVar[float] = 0.0

    def notify(self, body: str, subject: str | None = None, *, key: str | None = None) -> None:
        """Deliver one message, or raise :class:`NotificationError`.

        Raise with ``permanent=True`` when trying again cannot help (a bad address, a revoked
        webhook), and with ``retry_after=seconds`` when the service said how long to wait.

        ``key`` is the message's idempotency key: 32 hex digits, the same for every attempt to
        deliver this message, from any process. A notifier that can carry it to the receiver
        should (the email plugin makes it the ``Message-ID``; the Slack plugin sends it as the
        ``X-Flowhook-Idempotency-Key`` header), so that a receiver can drop duplicates.
        Delivery passes it only to notifiers whose ``notify`` accepts ``key``, so a notifier
        written before it existed keeps working.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement notify()")

    def secrets(self) -> tuple[Secret, ...]:
        """Every secret value this notifier holds, for :func:`redact`."""
        return tuple(
            value
            for value in attrs.asdict(self, recurse=False).values()
            if isinstance(value, Secret)
        )

    def save(self, name: str, overwrite: bool = False) -> str:
        """Save this configuration as the block ``<block_type>/<name>``; returns that name.

        The contract owns no store: the function that saves is the one the installed engine
        declares in the ``flowhook.block_savers`` entry-point group (``pip install flowhook``).
        """
        return str(_block_saver()(self, name, overwrite=overwrite))


#: The entry-point group in which an engine declares the function that saves blocks.
BLOCK_SAVERS_GROUP = "flowhook.block_savers"


def _block_saver() -> Any:
    """The block saver the installed engine declares; NotificationError when there is none."""
    from importlib.metadata import entry_points  # slow to import: only when a block is saved

    for entry_point in entry_points(group=BLOCK_SAVERS_GROUP):
        return entry_point.load()
    raise NotificationError(
        "saving a block needs the flowhook engine, which declares how blocks are saved: "
        "pip install flowhook",
        permanent=True,
    )
