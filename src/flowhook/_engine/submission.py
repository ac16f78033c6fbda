"""Submitting task runs to the flow run's task runner (``Task.submit`` and ``Task.map``)."""

from __future__ import annotations

import concurrent.futures
import contextvars
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from flowhook_hookspec.runners import RemoteTaskRunner, RemoteWork
from flowhook_hookspec.states import State

from . import context
from .calls import new_task_run, run_submitted, run_submitted_remote
from .futures import TaskRunFuture, find_futures, tolerated_futures
from .parameters import bind_arguments
from .transitions import TASK, set_state

if TYPE_CHECKING:
    from .tasks import Task

__all__ = ["submit_task"]


def submit_task(
    task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> TaskRunFuture:
    """Submit a task run to the current flow run's task runner; returns its future.

    The run is created (Pending) here, in the caller's thread; it is handed to the runner once
    every future it depends on is done, so waiting never occupies a worker.
    """
    parent = context.current.get()
    if parent is None or parent.scope is None:
        raise RuntimeError(
            f"{task.name}.submit() works inside a flow run, where a task runner exists; "
            "outside a flow, call the task directly"
        )
    scope = parent.scope
    wait_for = list(kwargs.pop("wait_for", None) or ())
    bound = bind_arguments(
        task.signature, args, kwargs, f"task {task.name!r}", task.positional_names
    )
    run, run_context = new_task_run(task, bound, parent)
    set_state(TASK, task, run, run.state)
    token = context.current.set(run_context)
    try:
        variables = contextvars.copy_context()
    finally:
        context.current.reset(token)
    upstream = [*find_futures(bound.arguments), *wait_for]
    tolerated = tolerated_futures(bound.arguments)
    runner = scope.task_runner
    if not task.is_async and _is_remote(runner):
        remote = cast(RemoteTaskRunner, runner)

        def stepped() -> RemoteWork:
            steps = run_submitted_remote(task, run, bound, run_context, upstream, remote)
            return _in_context(variables, steps)

        def hand_over() -> concurrent.futures.Future[State]:
            return remote.submit_remote(stepped)

    else:

        def work() -> State:
            return variables.run(run_submitted, task, run, bound, run_context, upstream)

        def hand_over() -> concurrent.futures.Future[State]:
            return runner.submit(work)

    if not upstream and not tolerated:  # the common case: the runner's own future is the run's
        future = TaskRunFuture(task, run, hand_over())
        with scope.lock:
            scope.futures.append(future)
        return future
    outer: concurrent.futures.Future[State] = concurrent.futures.Future()
    future = TaskRunFuture(task, run, outer)

    def start() -> None:
        inner = hand_over()
        inner.add_done_callback(lambda done: _copy_outcome(done, outer))

    with scope.lock:
        scope.futures.append(future)
    # Futures under allow_failure are waited for too, so that no worker waits for them.
    _when_all_done([f._future for f in [*upstream, *tolerated]], start)
    return future


#: Whether each task runner type is remote: an isinstance() check against a Protocol took 60 to
#: 250 us a submission in benchmarks/dask_overhead.py --profile; a dict lookup takes 0.1 us.
_REMOTE_TYPES: dict[type, bool] = {}


def _is_remote(runner: object) -> bool:
    remote = _REMOTE_TYPES.get(type(runner))
    if remote is None:
        remote = _REMOTE_TYPES[type(runner)] = isinstance(runner, RemoteTaskRunner)
    return remote


def _in_context(variables: contextvars.Context, steps: RemoteWork) -> RemoteWork:
    """``steps``, each made in ``variables`` (the run's context), whichever thread makes it."""
    while True:
        try:
            pause = variables.run(next, steps)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        yield pause


def _copy_outcome(
    source: concurrent.futures.Future[State], target: concurrent.futures.Future[State]
) -> None:
    if source.cancelled():
        target.cancel()
    elif source.exception() is not None:
        target.set_exception(source.exception())
    else:
        target.set_result(source.result())


def _when_all_done(
    futures: list[concurrent.futures.Future[State]], callback: Callable[[], None]
) -> None:
    """Call ``callback`` once every future is done (at once when there are none)."""
    remaining = len(futures)
    if remaining == 0:
        callback()
        return
    lock = threading.Lock()

    def one_done(_: concurrent.futures.Future[State]) -> None:
        nonlocal remaining
        with lock:
            remaining -= 1
            last = remaining == 0
        if last:
            callback()

    for future in futures:
        future.add_done_callback(one_done)
