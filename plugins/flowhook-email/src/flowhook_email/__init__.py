"""flowhook-email: send flowhook notifications by email through an SMTP server.

Installing this distribution registers the ``email`` block type with flowhook::

    from flowhook_email import EmailNotifier

    EmailNotifier(
        host="smtp.example.com",
        username="flowhook@example.com",
        password="...",
        from_addr="flowhook <flowhook@example.com>",
        to=["ops@example.com"],
    ).notify("Flow run etl/crimson-fox failed", subject="etl failed")
"""

from __future__ import annotations

from collections.abc import Callable

from flowhook_hookspec import Notifier, hookimpl

from ._smtp import DEFAULT_PORTS, DEFAULT_SUBJECT, EmailNotifier, InvalidMessageError, Security
from ._version import __version__

__all__ = [
    "DEFAULT_PORTS",
    "DEFAULT_SUBJECT",
    "EmailNotifier",
    "InvalidMessageError",
    "Security",
    "__version__",
    "register_notifiers",
]


@hookimpl
def register_notifiers(register: Callable[[type[Notifier]], object]) -> None:
    """Make the ``email`` block type known to flowhook."""
    register(EmailNotifier)
