"""Helpers for testing flowhook and its plugins.

- :mod:`flowhook.testing.plugin`: the pytest fixtures (``flowhook_plugins``,
  ``flowhook_hook_recorder``, ``flowhook_home``, ``flowhook_slack_webhook_server``,
  ``flowhook_smtp_server``), active wherever flowhook is installed.
- :mod:`flowhook.testing.recorder`: a plugin that records every transition hook call.

:class:`PluginManager` is the type of the ``flowhook_plugins`` fixture and :class:`HookRecorder`
the type of ``flowhook_hook_recorder``: annotate tests with them from here.

The local servers behind ``flowhook_slack_webhook_server`` and ``flowhook_smtp_server`` (a
scripted Slack-like webhook server, an SMTP server with STARTTLS, SMTP over TLS and AUTH) are the
module ``flowhook_testing`` of the distribution ``flowhook-testing``, which
``pip install 'flowhook[testing]'`` installs; importing this package never needs it.
"""

from flowhook._plugins import PluginManager
from flowhook.testing.recorder import HookCall, HookRecorder

__all__ = ["HookCall", "HookRecorder", "PluginManager"]
