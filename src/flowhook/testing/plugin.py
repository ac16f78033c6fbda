"""pytest fixtures for testing flowhook and its plugins.

Registered through the ``pytest11`` entry point of the flowhook distribution: installed, it is active.

Local servers (see :mod:`flowhook.testing.servers`), on 127.0.0.1 only, one per test:

- ``slack_webhook_server``: a Slack-like incoming webhook answering ``ok`` until scripted
  otherwise with ``slack_webhook_server.respond(...)``.
- ``smtp_server``: an SMTP server requiring STARTTLS and AUTH. Configure it by indirect
  parametrization with the keyword arguments of :class:`~flowhook.testing.servers.SMTPServer`::

      @pytest.mark.parametrize("smtp_server", [{"security": "ssl"}], indirect=True)
      def test_smtps(smtp_server): ...
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from flowhook.testing.servers import HOST, SlackWebhookServer, SMTPServer

__all__ = ["slack_webhook_server", "smtp_server"]


@pytest.fixture
def slack_webhook_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackWebhookServer]:
    """A Slack-like incoming-webhook server on 127.0.0.1; post to ``.url``, read ``.requests``.

    HTTP proxies from the environment are bypassed for 127.0.0.1 during the test, so that
    requests reach this server and nothing else.
    """
    bypass = ",".join(
        part for part in (os.environ.get("no_proxy") or os.environ.get("NO_PROXY"), HOST) if part
    )
    monkeypatch.setenv("no_proxy", bypass)
    monkeypatch.setenv("NO_PROXY", bypass)
    with SlackWebhookServer() as server:
        yield server


@pytest.fixture
def smtp_server(request: pytest.FixtureRequest) -> Iterator[SMTPServer]:
    """An SMTP server on 127.0.0.1 requiring STARTTLS and AUTH (user ``flowhook``, random
    password: ``.username``/``.password``); trust its certificate with ``.ca_file``.

    Read ``.messages`` for what it accepted. Parametrize it indirectly with a dict of
    :class:`~flowhook.testing.servers.SMTPServer` keyword arguments to configure it.
    """
    options: dict[str, Any] = dict(getattr(request, "param", None) or {})
    with SMTPServer(**options) as server:
        yield server
