"""pytest fixtures for testing flowhook and its plugins.

Registered through the ``pytest11`` entry point of the flowhook distribution: installed, it is active.
Every fixture's name starts with ``flowhook_``, so that none shadows a fixture of the project under
test.

Isolation (see :doc:`testing a plugin <plugins>` in the docs):

- ``flowhook_plugins``: a fresh plugin manager for the test, which loads no installed entry point;
  register the plugin under test with ``flowhook_plugins.register(my_plugin)``. Removed after the
  test, with everything registered in it.
- ``flowhook_hook_recorder``: a :class:`~flowhook.testing.recorder.HookRecorder` registered in
  ``flowhook_plugins``: every transition hook call, with its arguments, in order.
- ``flowhook_home``: a temporary ``FLOWHOOK_HOME``, so that run history and blocks of the test
  never touch the user's.

Local servers, on 127.0.0.1 only, one per test. They come from the distribution
``flowhook-testing`` (module ``flowhook_testing``), installed by ``pip install 'flowhook[testing]'``;
without it these two fixtures fail the test saying so:

- ``flowhook_slack_webhook_server``: a Slack-like incoming webhook answering ``ok`` until scripted
  otherwise with ``flowhook_slack_webhook_server.respond(...)``.
- ``flowhook_smtp_server``: an SMTP server requiring STARTTLS and AUTH. Configure it by indirect
  parametrization with the keyword arguments of ``flowhook_testing.SMTPServer``::

      @pytest.mark.parametrize("flowhook_smtp_server", [{"security": "ssl"}], indirect=True)
      def test_smtps(flowhook_smtp_server): ...
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from flowhook._plugins import PluginManager, set_plugin_manager
from flowhook.testing.recorder import HookRecorder

if TYPE_CHECKING:
    from flowhook_testing import SlackWebhookServer, SMTPServer

__all__ = [
    "flowhook_home",
    "flowhook_hook_recorder",
    "flowhook_plugins",
    "flowhook_slack_webhook_server",
    "flowhook_smtp_server",
]


def _fail_without_servers(fixture: str, error: ImportError) -> NoReturn:
    """Fail the test in one line: the fixture needs ``flowhook_testing``, which did not import."""
    reason = (
        "which is not installed"
        if error.name == "flowhook_testing"
        else f"which does not import ({error})"
    )
    message = (
        f"{fixture} needs the local test servers of flowhook-testing, {reason}: "
        "pip install 'flowhook[testing]'"
    )
    # pytest.fail's exception, raised without the ImportError as its context: the line alone.
    raise pytest.fail.Exception(message, pytrace=False) from None


@pytest.fixture
def flowhook_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginManager]:
    """A fresh plugin manager that loads no installed plugin, in use for the test's duration.

    ``FLOWHOOK_DISABLE_PLUGINS``, ``FLOWHOOK_LOAD_PLUGINS`` and ``FLOWHOOK_STRICT_HOOKS`` are
    cleared; set the last with ``monkeypatch.setenv("FLOWHOOK_STRICT_HOOKS", "1")`` to make your
    hooks' errors fail the test.
    """
    monkeypatch.delenv("FLOWHOOK_STRICT_HOOKS", raising=False)
    monkeypatch.delenv("FLOWHOOK_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("FLOWHOOK_LOAD_PLUGINS", raising=False)
    manager = PluginManager(load_entrypoints=False)
    previous = set_plugin_manager(manager)
    try:
        yield manager
    finally:
        set_plugin_manager(previous)


@pytest.fixture
def flowhook_hook_recorder(flowhook_plugins: PluginManager) -> HookRecorder:
    """Records every transition hook call made during the test (see ``HookRecorder``)."""
    recorder = HookRecorder()
    flowhook_plugins.register(recorder, name="hook-recorder")
    return recorder


@pytest.fixture
def flowhook_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A temporary ``FLOWHOOK_HOME`` (a ``pathlib.Path``) for the test's run history and blocks."""
    home = tmp_path_factory.mktemp("flowhook-home")
    monkeypatch.setenv("FLOWHOOK_HOME", str(home))
    return home


@pytest.fixture
def flowhook_slack_webhook_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackWebhookServer]:
    """A Slack-like incoming-webhook server on 127.0.0.1; post to ``.url``, read ``.requests``.

    HTTP proxies from the environment are bypassed for 127.0.0.1 during the test, so that
    requests reach this server and nothing else. Needs ``pip install 'flowhook[testing]'``.
    """
    try:
        from flowhook_testing import HOST, SlackWebhookServer
    except ImportError as error:
        _fail_without_servers("flowhook_slack_webhook_server", error)
    bypass = ",".join(
        part for part in (os.environ.get("no_proxy") or os.environ.get("NO_PROXY"), HOST) if part
    )
    monkeypatch.setenv("no_proxy", bypass)
    monkeypatch.setenv("NO_PROXY", bypass)
    with SlackWebhookServer() as server:
        yield server


@pytest.fixture
def flowhook_smtp_server(request: pytest.FixtureRequest) -> Iterator[SMTPServer]:
    """An SMTP server on 127.0.0.1 requiring STARTTLS and AUTH (user ``flowhook``, random
    password: ``.username``/``.password``); trust its certificate with ``.ca_file``.

    Read ``.messages`` for what it accepted. Parametrize it indirectly with a dict of
    ``flowhook_testing.SMTPServer`` keyword arguments to configure it. Needs
    ``pip install 'flowhook[testing]'``.
    """
    try:
        from flowhook_testing import SMTPServer
    except ImportError as error:
        _fail_without_servers("flowhook_smtp_server", error)
    options: dict[str, Any] = dict(getattr(request, "param", None) or {})
    with SMTPServer(**options) as server:
        yield server
