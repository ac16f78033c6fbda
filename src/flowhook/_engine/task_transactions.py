"""The transaction of one task run: its record is the task's result, its hooks the task's.

As in Prefect (``prefect/task_engine.py``, ``transaction_context`` and ``handle_success``), a
task run that completes stages its result with the task's ``on_commit``/``on_rollback`` hooks;
a rollback after that appends a ``RolledBack`` state to the run's history (Prefect emits it as
an event; neither is a transition, so no state hook fires).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowhook_hookspec import states
from flowhook_hookspec.runs import TaskRun

from .persisted import release_result, task_settings_in
from .transaction_base import TransactionState, active_transaction
from .transactions import Transaction

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from .context import RunContext
    from .transaction_hooks import Logger

__all__ = ["begin_task_transaction", "end_task_transaction"]


class TaskRunTransaction(Transaction):
    """A task run's transaction, whose hook lines go to the task run's logger."""

    def __init__(self, task: Any, key: str | None, **options: Any) -> None:
        super().__init__(key, **options)
        self._task = task

    def _log(self) -> Logger:
        if self.logger is None:
            from .logs import run_logger

            assert self.task_run is not None
            self.logger = run_logger(self._task, self.task_run)
        return self.logger


def begin_task_transaction(
    task: Any, run: TaskRun, arguments: Mapping[str, Any], run_context: RunContext
) -> Transaction | None:
    """The task run's own transaction, entered; None when it keeps no result and no
    transaction is open (then nothing is done at all). Its record is the task's result, under
    the run's cache key."""
    flow = run_context.flow
    if flow is None or flow.result_options is None:  # the common case, without a call
        settings = task.result_settings
    else:
        settings = task_settings_in(task, flow)
    if settings is None and active_transaction.get() is None:  # current_transaction(), inline
        return None
    key = None
    if settings is not None:
        # A run that is not to be cached (NO_CACHE) still persists, under a key of its own.
        key = settings.cache_key(run_context, arguments) or f"run-{run.id.hex}"
    txn = TaskRunTransaction(
        task,
        key,
        store=None if settings is None else settings.storage,
        serializer=None if settings is None else settings.serializer,
        lifetime=None if settings is None else settings.lifetime,
        overwrite=settings is not None and settings.refresh,
        isolation_level=None if settings is None else settings.isolation_level,
        write_on_commit=key is not None,
        task_run=run,
    )
    txn.begin()
    return txn


def end_task_transaction(txn: Transaction, task: Any, run: TaskRun) -> None:
    """After a task run: stage what it returned and leave; a run that did not complete (or was
    Cached) stages nothing. A commit hook's error is logged: the run is Completed already.
    With ``cache_result_in_memory=False``, a result stored now is released from the state."""
    state = run.state
    if state.is_completed() and not txn.is_committed():
        txn.stage(
            state.result(),
            on_rollback_hooks=[_marking_rolled_back(run), *task.on_rollback_hooks],
            on_commit_hooks=task.on_commit_hooks,
        )
        txn.finish(None, raise_errors=False)
    elif txn.is_committed():
        txn.finish(None, raise_errors=False)
    else:
        txn.state = TransactionState.ROLLED_BACK
        txn._end()
        return
    if not task.cache_result_in_memory and txn.key is not None and txn.is_committed():
        release_result(state, txn._storage(), txn.key, txn.serializer)


def _marking_rolled_back(run: TaskRun) -> Callable[[Transaction], None]:
    """The rollback hook that shows a rollback in the run's history. It runs last (rollback
    hooks run in reverse order), unlogged, as Prefect's ``handle_rollback`` does."""

    def mark(txn: Transaction) -> None:
        run.state_history.append(
            states.Completed(
                "Task rolled back as part of transaction", name="RolledBack", run_id=run.id
            )
        )

    mark.log_on_run = False  # type: ignore[attr-defined]
    return mark
