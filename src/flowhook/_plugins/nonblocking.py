"""Hook implementations that never block, which an async run may call on its event loop.

In an async run, the engine moves a transition to a worker thread when some hook may be called
for it, so that a slow sync hook never stalls the event loop; that costs a thread hand-off per
step, many times a trivial task run's own work. An implementation that returns at once and
never waits (it logs, counts, or hands its work to a thread of its own) may say so with the
attribute :data:`NONBLOCKING_ATTRIBUTE` set to True: the hooks whose every implementation says
so are called on the event loop, like the engine's own log lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flowhook_hookspec.errors import PluginError

__all__ = ["NONBLOCKING_ATTRIBUTE", "check_nonblocking", "hooks_that_may_block"]

#: The attribute of a hook implementation that says it never blocks: True or False (the default).
NONBLOCKING_ATTRIBUTE = "flowhook_nonblocking"


def check_nonblocking(function: Any, plugin: str, hook: str) -> None:
    """Raise :class:`PluginError` when ``function`` has a :data:`NONBLOCKING_ATTRIBUTE` that is
    not a boolean."""
    value = getattr(function, NONBLOCKING_ATTRIBUTE, False)
    if not isinstance(value, bool):
        raise PluginError(
            f"plugin {plugin!r} gives {hook!r} a {NONBLOCKING_ATTRIBUTE} of {value!r}; it must be "
            "True (the implementation never blocks) or False, or left out"
        )


def hooks_that_may_block(implementations: Iterable[tuple[str, Any]]) -> frozenset[str]:
    """The hooks with at least one implementation that does not say it never blocks, from
    ``(hook name, implementing function)`` pairs."""
    return frozenset(
        hook
        for hook, function in implementations
        if getattr(function, NONBLOCKING_ATTRIBUTE, False) is not True
    )
