"""Calling one hook in isolation: whatever it raises never reaches the run.

A hook that raises never changes a run's state or result. Errors are logged on logger
``flowhook.hooks``, with the hook's name, and the remaining hooks still run. KeyboardInterrupt (the
user's Ctrl-C) is re-raised once every hook of the transition has run. ``SystemExit`` is re-raised
the same way when a flow's or task's own hook raises it (the user's code asked to exit), and is an
ordinary error when a plugin raises it: a plugin never ends the process. ``FLOWHOOK_STRICT_HOOKS=1``
treats ordinary exceptions as re-raised too, for plugin authors' tests.

Both kinds of hooks go through :func:`call_isolated`: a plugin's implementations (through
:class:`~flowhook._plugins.hooks.PluginHooks`) and a flow's or task's own state hooks.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

logger = logging.getLogger("flowhook.hooks")

__all__ = ["call_isolated", "resolve_awaitable", "strict_hooks"]


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
    hook: Callable[..., Any],
    args: Sequence[Any],
    describe: str | Callable[[], str],
    *,
    exit_is_error: bool = False,
) -> BaseException | None:
    """Call one hook; log what it raises and return the exception the caller must re-raise.

    Returns ``None`` when the hook succeeded, or failed with an ``Exception`` (or, with
    ``exit_is_error``, a ``SystemExit``: a plugin's code) outside strict mode. ``describe``
    names the hook in the log; a callable is only called on failure, so that the success path
    stays cheap.
    """
    try:
        result = hook(*args)
        if result is not None:  # most hooks return None: skip the awaitable check for them
            resolve_awaitable(result)
    except (Exception, SystemExit) as exc:
        if isinstance(exc, SystemExit) and not exit_is_error:
            return _deferred(exc, describe)
        label = describe if isinstance(describe, str) else describe()
        logger.error("%s raised %s: %s", label, type(exc).__name__, exc, exc_info=True)
        return exc if strict_hooks() else None
    except BaseException as exc:
        return _deferred(exc, describe)
    return None


def _deferred(exc: BaseException, describe: str | Callable[[], str]) -> BaseException:
    """Log ``exc``, which the caller re-raises once the remaining hooks have run."""
    logger.error(
        "%s raised %s; the remaining hooks run first, then it is re-raised",
        describe if isinstance(describe, str) else describe(),
        type(exc).__name__,
        exc_info=True,
    )
    return exc
