"""A flow's or task's own state hooks: their events, and checking them when they are given.

They are called through :func:`flowhook._plugins.isolation.call_isolated`, like plugin hooks.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any


def hook_name(hook: Callable[..., Any]) -> str:
    """A readable name for a hook: its function name, also through partials and callable objects."""
    while isinstance(hook, functools.partial):
        hook = hook.func
    name = getattr(hook, "__qualname__", None) or getattr(hook, "__name__", None)
    return name if isinstance(name, str) else type(hook).__name__


def prefect_hook_name(hook: Callable[..., Any]) -> str:
    """A hook's name as Prefect's log lines show it: its ``__name__`` (not the qualified name),
    a partial's function's, else its class's."""
    name = getattr(hook, "__name__", None)
    if isinstance(name, str):
        return name
    if isinstance(hook, functools.partial):
        return prefect_hook_name(hook.func)
    return type(hook).__name__


def _usage(option: str, subject: str, arguments: str) -> str:
    return (
        f"\n\nUsage, either form:\n"
        f"    @{subject}({option}=[hook1, hook2])\n"
        f"    def my_{subject}(...): ...\n\n"
        f"    @my_{subject}.{option}\n"
        f"    def hook({arguments}): ...\n"
    )


def validate_hook(hook: object, option: str, subject: str, arguments: tuple[str, ...]) -> None:
    """Raise ``TypeError`` unless ``hook`` can be called with ``len(arguments)`` positional arguments."""
    shown = ", ".join(arguments)
    if not callable(hook):
        raise TypeError(
            f"{option!r} hooks must be callables, got {type(hook).__name__} {hook!r}."
            + _usage(option, subject, shown)
        )
    try:
        signature = inspect.signature(hook)
    except (TypeError, ValueError):  # builtins without a signature: trust them
        return
    try:
        signature.bind(*arguments)
    except TypeError as exc:
        raise TypeError(
            f"{option!r} hook {hook_name(hook)!r} cannot be called as hook({shown}): {exc}. "
            f"Hooks receive {len(arguments)} positional arguments; give extra arguments defaults "
            f"or bind them with functools.partial." + _usage(option, subject, shown)
        ) from None


def validate_hook_list(
    hooks: object, option: str, subject: str, arguments: tuple[str, ...]
) -> list[Callable[..., Any]]:
    """A fresh list of the validated hooks, so that no two objects share one list."""
    if hooks is None:
        return []
    if callable(hooks) or isinstance(hooks, (str, bytes)) or not isinstance(hooks, Iterable):
        raise TypeError(
            f"{option!r} takes a list of hooks, got {type(hooks).__name__}."
            + _usage(option, subject, ", ".join(arguments))
        )
    checked = list(hooks)
    for hook in checked:
        validate_hook(hook, option, subject, arguments)
    return checked
