"""flowhook-logging: notifications to a Python logger, and a log line for every transition.

Installing this distribution

- registers the ``log`` block type (:class:`LogNotifier`), and
- logs every state transition of every flow run and task run on logger ``flowhook.transitions``
  (INFO; WARNING for Failed, TimedOut and Crashed). ``FLOWHOOK_LOG_FORMAT=json`` makes each
  line one JSON object. Disable the transition lines with ``FLOWHOOK_DISABLE_PLUGINS=logging``,
  or by setting that logger's level above WARNING.
"""

from __future__ import annotations

from collections.abc import Callable

from flowhook_hookspec import Notifier, hookimpl

from ._notifier import DEFAULT_LOGGER, LogNotifier
from ._transitions import (
    FORMAT_VARIABLE,
    TRANSITIONS_LOGGER,
    on_flow_run_crashed,
    on_flow_run_failure,
    on_flow_run_state_change,
    on_task_run_crashed,
    on_task_run_failure,
    on_task_run_state_change,
    transition_level,
)
from ._version import __version__

__all__ = [
    "DEFAULT_LOGGER",
    "FORMAT_VARIABLE",
    "TRANSITIONS_LOGGER",
    "LogNotifier",
    "__version__",
    "on_flow_run_crashed",
    "on_flow_run_failure",
    "on_flow_run_state_change",
    "on_task_run_crashed",
    "on_task_run_failure",
    "on_task_run_state_change",
    "register_notifiers",
    "transition_level",
]


@hookimpl
def register_notifiers(register: Callable[[type[Notifier]], object]) -> None:
    """Make the ``log`` block type known to flowhook."""
    register(LogNotifier)
