"""What the email notifier's tests share: a notifier configured for a test's SMTP server."""

from __future__ import annotations

from typing import Any

from flowhook_email import EmailNotifier
from flowhook_testing import SMTPServer

FROM = "flowhook <flowhook@example.com>"


def options_for(server: SMTPServer) -> dict[str, Any]:
    """A notifier's options for ``server`` (security, credentials and CA included)."""
    return {
        "host": server.host,
        "port": server.port,
        "security": server.security,
        "username": server.username,
        "password": server.password,
        "from_addr": FROM,
        "to": ["ops@example.com"],
        "ca_file": server.ca_file,
    }


def notifier_for(server: SMTPServer, **overrides: Any) -> EmailNotifier:
    """A notifier configured for ``server``."""
    options = {**options_for(server), "timeout": 5}
    options.update(overrides)
    return EmailNotifier(**options)
