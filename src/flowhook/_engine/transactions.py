"""Transactions: group task runs so that their side effects commit or roll back together.

    with flowhook.transaction() as txn:
        write_rows()        # a task with on_rollback=[delete_rows]
        publish()           # a task with on_commit=[announce]

Tasks that complete inside the block *stage* their ``on_commit`` / ``on_rollback`` hooks. When the
block exits normally, the commit hooks run in completion order. When anything inside raises, the
rollback hooks of the completed tasks run in reverse completion order and the exception
propagates. A commit hook that raises rolls everything back, then its error is raised from the
``with`` block. A rollback hook that raises is logged, and the other rollback hooks still run.

A transaction inside another commits into it: its staged work commits (or rolls back) with the
outer one. ``txn.set(key, value)`` / ``txn.get(key, default)`` share data with the hooks; an inner
transaction sees its outer one's values.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from flowhook_hookspec.runs import TaskRun

from .._plugins.isolation import resolve_awaitable
from .state_hooks import hook_name

logger = logging.getLogger("flowhook.transactions")

__all__ = ["Transaction", "transaction"]

_current: contextvars.ContextVar[Transaction | None] = contextvars.ContextVar(
    "flowhook_transaction", default=None
)


class _Staged(NamedTuple):
    task: Any
    task_run: TaskRun


class Transaction:
    """The transaction of a ``with flowhook.transaction()`` block (see the module docs)."""

    def __init__(self, parent: Transaction | None = None) -> None:
        self.parent = parent
        self.state = "active"
        self._values: dict[str, Any] = {}
        self._staged: list[_Staged] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Transaction(state={self.state!r}, staged={len(self._staged)})"

    def set(self, key: str, value: Any) -> None:
        """Store a value for the hooks of this transaction."""
        self._values[key] = value

    def get(self, key: str, default: Any = None) -> Any:
        """A value set on this transaction or an outer one, else ``default``."""
        if key in self._values:
            return self._values[key]
        if self.parent is not None:
            return self.parent.get(key, default)
        return default

    @property
    def staged_task_runs(self) -> list[TaskRun]:
        """The task runs whose hooks are staged, in completion order."""
        return [entry.task_run for entry in self._staged]

    def stage(self, task: Any, task_run: TaskRun) -> None:
        """Stage the transaction hooks of a task run that just completed."""
        with self._lock:
            self._staged.append(_Staged(task, task_run))

    def _absorb(self, inner: Transaction) -> None:
        with self._lock:
            self._staged.extend(inner._staged)
        inner.state = "committed"

    def commit(self) -> None:
        """Run the commit hooks in completion order; on an error, roll back and re-raise it."""
        for entry in self._staged:
            for hook in entry.task.on_commit_hooks:
                try:
                    resolve_awaitable(hook(self))
                except BaseException:
                    logger.error(
                        "on_commit hook %r of task run %r failed; rolling back the transaction",
                        hook_name(hook),
                        entry.task_run.name,
                        exc_info=True,
                    )
                    self.rollback()
                    raise
        self.state = "committed"

    def rollback(self) -> None:
        """Run the rollback hooks in reverse completion order; errors are logged, not raised."""
        for entry in reversed(self._staged):
            for hook in entry.task.on_rollback_hooks:
                try:
                    resolve_awaitable(hook(self))
                except Exception:
                    logger.error(
                        "on_rollback hook %r of task run %r failed; the other rollback hooks "
                        "still run",
                        hook_name(hook),
                        entry.task_run.name,
                        exc_info=True,
                    )
        self.state = "rolled_back"


@contextmanager
def transaction() -> Iterator[Transaction]:
    """Open a transaction for the task runs that complete inside the block."""
    parent = _current.get()
    txn = Transaction(parent)
    token = _current.set(txn)
    try:
        yield txn
    except BaseException:
        txn.rollback()
        raise
    else:
        if parent is not None:
            parent._absorb(txn)
        else:
            txn.commit()
    finally:
        _current.reset(token)


def stage_completed(task: Any, task_run: TaskRun) -> None:
    """Called by the engine when a task run completes: stage it in the open transaction."""
    txn = _current.get()
    if txn is not None and (task.on_commit_hooks or task.on_rollback_hooks):
        txn.stage(task, task_run)
