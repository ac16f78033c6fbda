"""State hooks: validating them when they are registered, and calling them in isolation.

A hook that raises never changes a run's state or result. Errors are logged on logger
``flowhook.hooks``, with the hook's name, and the remaining hooks still run. KeyboardInterrupt and
SystemExit are re-raised once every hook of the transition has run. ``FLOWHOOK_STRICT_HOOKS=1``
treats ordinary exceptions the same way, for plugin authors' tests.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

logger = logging.getLogger("flowhook.hooks")

#: Per-run state hooks, by event, with the state they fire on (for messages and docs).
STATE_HOOK_EVENTS: dict[str, str] = {
    "running": "Running or Retrying (each attempt)",
    "retry": "AwaitingRetry (a failed attempt that will be retried)",
    "completion": "Completed",
    "failure": "a final Failed state (Failed, TimedOut, ...)",
    "cancellation": "Cancelling",
    "crashed": "Crashed",
}

#: Transaction hooks (tasks only) take the transaction as their one argument.
TRANSACTION_HOOK_EVENTS = ("commit", "rollback")


def hook_name(hook: Callable[..., Any]) -> str:
    """A readable name for a hook: its function name, also through partials and callable objects."""
    while isinstance(hook, functools.partial):
        hook = hook.func
    name = getattr(hook, "__qualname__", None) or getattr(hook, "__name__", None)
    return name if isinstance(name, str) else type(hook).__name__


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


def resolve_awaitable(result: Any) -> Any:
    """Run ``result`` to completion when it is awaitable (an ``async def`` hook); else return it.

    In a thread with no running event loop the coroutine gets a loop of its own; in a thread
    whose loop is running (a sync hook cannot await), it runs in a helper thread.
    """
    if not inspect.isawaitable(result):
        return result
    import asyncio
    import concurrent.futures

    async def wait() -> Any:
        return await result

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wait())
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="flowhook-hook") as pool:
        return pool.submit(asyncio.run, wait()).result()


def strict_hooks() -> bool:
    """Whether ``FLOWHOOK_STRICT_HOOKS`` asks for hook errors to propagate."""
    return os.environ.get("FLOWHOOK_STRICT_HOOKS", "").strip().lower() in {"1", "true", "yes", "on"}


def call_isolated(
    hook: Callable[..., Any], args: Sequence[Any], describe: str | Callable[[], str]
) -> BaseException | None:
    """Call one hook; log what it raises and return the exception the caller must re-raise.

    Returns ``None`` when the hook succeeded, or failed with an ``Exception`` outside strict
    mode. ``describe`` names the hook in the log; a callable is only called on failure, so that
    the success path stays cheap.
    """
    try:
        result = hook(*args)
        if result is not None:  # most hooks return None: skip the awaitable check for them
            resolve_awaitable(result)
    except Exception as exc:
        label = describe if isinstance(describe, str) else describe()
        logger.error("%s raised %s: %s", label, type(exc).__name__, exc, exc_info=True)
        return exc if strict_hooks() else None
    except BaseException as exc:
        logger.error(
            "%s raised %s; the remaining hooks run first, then it is re-raised",
            describe if isinstance(describe, str) else describe(),
            type(exc).__name__,
            exc_info=True,
        )
        return exc
    return None
