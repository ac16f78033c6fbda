"""Futures of submitted task runs, at Prefect's import path: ``from flowhook.futures import wait``.

``PrefectFuture``, ``PrefectConcurrentFuture``, ``PrefectTaskRunFuture`` and
``PrefectWrappedFuture`` are other names of
:class:`~flowhook.TaskRunFuture` (what ``Task.submit`` returns), and ``PrefectFutureList`` of
``TaskRunFutureList`` (what ``Task.map`` returns), so that Prefect code and its ``isinstance``
checks work unchanged.
"""

from ._engine.futures import (
    DoneAndNotDoneFutures,
    TaskRunFuture,
    TaskRunFutureList,
    as_completed,
    resolve_futures_to_results,
    resolve_futures_to_states,
    wait,
)

PrefectFuture = TaskRunFuture
PrefectConcurrentFuture = TaskRunFuture
PrefectTaskRunFuture = TaskRunFuture
PrefectWrappedFuture = TaskRunFuture
PrefectFutureList = TaskRunFutureList

__all__ = [
    "DoneAndNotDoneFutures",
    "PrefectConcurrentFuture",
    "PrefectFuture",
    "PrefectFutureList",
    "PrefectTaskRunFuture",
    "PrefectWrappedFuture",
    "TaskRunFuture",
    "TaskRunFutureList",
    "as_completed",
    "resolve_futures_to_results",
    "resolve_futures_to_states",
    "wait",
]
