"""flowhook-apprise: flowhook notifications through Apprise, to any service it supports.

Installing this distribution registers the ``apprise`` block type (:class:`AppriseNotifier`),
whose secret ``urls`` are Apprise URLs (``msteams://...``, ``discord://...``,
``pagerduty://...``, ``ntfy://...``, one or several)::

    flowhook block create apprise/oncall --set urls=pagerduty://ROUTING_KEY@API_KEY

Apprise itself is imported only when a block is created or a message sent.
"""

from __future__ import annotations

from collections.abc import Callable

from flowhook_hookspec import Notifier, hookimpl

from ._notifier import IDEMPOTENCY_HEADER, AppriseNotifier
from ._version import __version__

__all__ = ["IDEMPOTENCY_HEADER", "AppriseNotifier", "__version__", "register_notifiers"]


@hookimpl
def register_notifiers(register: Callable[[type[Notifier]], object]) -> None:
    """Make the ``apprise`` block type known to flowhook."""
    register(AppriseNotifier)
