"""flowhook-slack: post flowhook notifications to Slack through an incoming webhook.

Installing this distribution registers the ``slack-webhook`` block type with flowhook::

    from flowhook_slack import SlackWebhook

    SlackWebhook("https://hooks.slack.com/services/T.../B.../...").notify(
        "Flow run etl/crimson-fox failed: ValueError: bad row", subject="etl failed"
    )
"""

from __future__ import annotations

from collections.abc import Callable

from flowhook_hookspec import Notifier, hookimpl

from ._version import __version__
from ._webhook import SlackWebhook, build_payload, escape

__all__ = ["SlackWebhook", "__version__", "build_payload", "escape", "register_notifiers"]


@hookimpl
def register_notifiers(register: Callable[[type[Notifier]], object]) -> None:
    """Make the ``slack-webhook`` block type known to flowhook."""
    register(SlackWebhook)
