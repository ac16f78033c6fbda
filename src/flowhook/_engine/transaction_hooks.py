"""A transaction's commit and rollback hooks: calling them, and the lines logged about them.

The lines are Prefect's (``prefect/transactions.py``, ``Transaction.run_hook``): INFO "Running
commit hook 'name'", INFO "Commit hook 'name' finished running successfully", and ERROR "An error
was encountered while running commit hook 'name'" ("rollback" likewise). A hook with an attribute
``log_on_run = False`` runs without them, as in Prefect.

They go to the logger of the run the transaction belongs to: a task run's for the transaction of
a task run, the run's in progress for a ``transaction()`` opened in a flow or task, else
``flowhook.transactions``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._plugins.isolation import resolve_awaitable
from .context import current
from .state_hooks import prefect_hook_name

if TYPE_CHECKING:
    from typing import TypeAlias

    from .transactions import Transaction

    Logger: TypeAlias = logging.Logger | logging.LoggerAdapter[Any]

__all__ = ["Hook", "default_logger", "run_hook"]

Hook = Callable[["Transaction"], Any]

module_logger = logging.getLogger("flowhook.transactions")


def default_logger() -> Logger:
    """The logger of the run in progress; ``flowhook.transactions`` outside any run."""
    if current.get() is None:
        return module_logger
    from .logs import get_run_logger

    return get_run_logger()


def run_hook(txn: Transaction, hook: Hook, kind: str, logger: Logger) -> None:
    """Call ``hook(txn)``, awaited when it is async; ``kind`` is ``"commit"`` or ``"rollback"``.

    Its error is logged, then raised: the caller decides what an error means.
    """
    name = prefect_hook_name(hook)
    log = getattr(hook, "log_on_run", True)
    if log:
        logger.info("Running %s hook %r", kind, name)
    try:
        resolve_awaitable(hook(txn))
    except Exception:
        if log:
            logger.error(
                "An error was encountered while running %s hook %r", kind, name, exc_info=True
            )
        raise
    if log:
        logger.info("%s hook %r finished running successfully", kind.capitalize(), name)
