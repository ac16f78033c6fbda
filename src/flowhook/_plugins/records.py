"""The plugin layer's records: what is known about a plugin, and one implementation to call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import attrs

__all__ = ["HookCaller", "PluginInfo"]


@attrs.frozen
class PluginInfo:
    """What ``flowhook plugins`` shows about one plugin.

    ``status`` is ``active``, ``failed`` (it could not be imported), ``rejected`` (its hooks do
    not match the contract) or ``disabled`` (``FLOWHOOK_DISABLE_PLUGINS``, or left out of
    ``FLOWHOOK_LOAD_PLUGINS``). ``error`` says why
    and how to fix it, for every status but ``active``.
    """

    name: str
    version: str | None = None
    distribution: str | None = None
    hooks: tuple[str, ...] = ()
    status: str = "active"
    error: str | None = None


class HookCaller(NamedTuple):
    """One implementation of one hook, ready to call."""

    function: Callable[..., Any]
    argnames: tuple[str, ...]
    plugin_name: str
    hook_name: str
    label: str
    #: Its test (see :mod:`.gates`), or None: it is called whenever its hook is dispatched.
    active: Callable[[], object] | None = None
