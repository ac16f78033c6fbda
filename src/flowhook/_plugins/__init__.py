"""The plugins layer: the pluggy manager, entry-point discovery, isolation, the typed caller.

It imports only the contract. Everything above it (the engine, the store's glue, the command
line) calls hooks through :class:`PluginHooks` (``plugin_hooks().on_task_run_failure(...)``).
"""

from .hooks import PluginHooks
from .isolation import call_isolated, resolve_awaitable, strict_hooks
from .manager import (
    PluginInfo,
    PluginManager,
    blocking_hooks,
    implemented_hooks,
    list_plugins,
    plugin_hooks,
    plugin_manager,
    register_plugin,
    set_plugin_manager,
    unregister_plugin,
)

__all__ = [
    "PluginHooks",
    "PluginInfo",
    "PluginManager",
    "blocking_hooks",
    "call_isolated",
    "implemented_hooks",
    "list_plugins",
    "plugin_hooks",
    "plugin_manager",
    "register_plugin",
    "resolve_awaitable",
    "set_plugin_manager",
    "strict_hooks",
    "unregister_plugin",
]
