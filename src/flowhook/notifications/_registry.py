"""The registry of notifier types that plugins provide through ``register_notifiers``."""

from __future__ import annotations

import threading

from flowhook_hookspec.errors import PluginError
from flowhook_hookspec.notify import Notifier

from .._plugins import plugin_hooks

__all__ = ["notifier_types"]

_lock = threading.Lock()


def notifier_types() -> dict[str, type[Notifier]]:
    """Every notifier class the installed plugins register, by block type.

    A plugin whose ``register_notifiers`` raises is logged and registers nothing; the others'
    types are kept. Raises :class:`~flowhook_hookspec.errors.PluginError` when two plugins
    register the same block type, or a plugin registers something that is not a notifier class.
    """
    with _lock:
        registered, pending = plugin_hooks().register_notifiers()
    if pending is not None:
        raise pending
    found: dict[str, tuple[type[Notifier], str]] = {}
    for plugin, classes in registered.items():
        for cls in classes:
            if not (isinstance(cls, type) and issubclass(cls, Notifier) and cls.block_type):
                raise PluginError(
                    f"plugin {plugin!r} registered {cls!r}, which is not a Notifier subclass "
                    "with a block_type"
                )
            if cls.block_type in found and found[cls.block_type][0] is not cls:
                other = found[cls.block_type][1]
                raise PluginError(
                    f"block type {cls.block_type!r} is registered by both plugin {other!r} "
                    f"and plugin {plugin!r}; uninstall or disable one of them "
                    "(FLOWHOOK_DISABLE_PLUGINS)"
                )
            found[cls.block_type] = (cls, plugin)
    return {block_type: cls for block_type, (cls, _) in sorted(found.items())}
