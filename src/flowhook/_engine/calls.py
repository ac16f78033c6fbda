"""Calls of flows and tasks: a new run, its context, its state machine driven, its outcome.

:data:`preparers` is the engine's one seam for what must happen before a top-level run starts:
the runtime appends the function that attaches the store. The engine itself knows no store.
"""

from __future__ import annotations

import contextvars
import logging
import signal
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from flowhook_hookspec import states
from flowhook_hookspec.errors import UpstreamTaskError
from flowhook_hookspec.runners import RemoteTaskRunner, RemoteWork
from flowhook_hookspec.runs import FlowRun, TaskRun
from flowhook_hookspec.states import State

from . import context
from .attempts import Attempts, attempt_task, drive, drive_async, run_attempts
from .cancellation import SigtermCanceller, track, untrack
from .futures import (
    TaskRunFuture,
    failed_upstream,
    find_futures,
    holds_annotation,
    may_hold_futures,
    resolve_futures,
    tolerated_futures,
)
from .ids import new_run_id
from .naming import generated_name, render_run_name
from .parameters import bind_arguments
from .persisted import keep_flow_result, task_settings_in
from .prepare import preparers
from .runners import TaskRunner, ThreadPoolTaskRunner, new_task_runner
from .task_transactions import begin_task_transaction, end_task_transaction
from .transitions import FLOW, NO_GUARD, TASK, advance, set_state

if TYPE_CHECKING:
    import inspect

    from .flows import Flow
    from .runnables import Runnable
    from .tasks import Task

__all__ = [
    "new_task_run",
    "preparers",
    "run_flow",
    "run_flow_async",
    "run_submitted",
    "run_submitted_remote",
    "run_task",
    "run_task_async",
]

logger = logging.getLogger("flowhook.engine")


def _prepare() -> None:
    for prepare in preparers:
        prepare()


def _outcome(state: State, return_state: bool) -> Any:
    if return_state:
        return state
    return state.result()


def _parent_ids(parent: context.RunContext | None) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    if parent is None:
        return None, None
    flow_run_id = parent.flow_run.id if parent.flow_run is not None else None
    task_run_id = parent.task_run.id if parent.task_run is not None else None
    return flow_run_id, task_run_id


def _run_name(
    owner: Runnable[..., Any],
    template: Any,
    parameters: Mapping[str, Any],
    default: Callable[[], str],
) -> str:
    try:
        return render_run_name(template, parameters, default)
    except Exception as exc:
        name = default()
        logger.warning(
            "the run name of %r could not be rendered (%s: %s); using %r",
            owner.name,
            type(exc).__name__,
            exc,
            name,
        )
        return name


@attrs.define(eq=False)
class _FlowCall:
    """One call of a flow: its run, its scope, and what must be undone when it ends."""

    flow: Flow[..., Any]
    run: FlowRun
    bound: inspect.BoundArguments
    scope: context.FlowScope
    return_state: bool
    token: contextvars.Token[context.RunContext | None]
    sigterm: SigtermCanceller | None
    wait_for: list[TaskRunFuture]

    @classmethod
    def begin(
        cls, flow: Flow[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> _FlowCall:
        _prepare()
        return_state = bool(kwargs.pop("return_state", False))
        wait_for = list(kwargs.pop("wait_for", None) or ())
        bound = bind_arguments(flow.signature, args, kwargs, f"flow {flow.name!r}")
        parent = context.current.get()
        parent_flow_run_id, parent_task_run_id = _parent_ids(parent)
        run_id = new_run_id()
        run = FlowRun(
            id=run_id,
            name=_run_name(flow, flow.flow_run_name, bound.arguments, generated_name),
            state=states.Pending(run_id=run_id),
            parameters=bound.arguments,
            tags=context.run_tags(flow.tags),
            flow_name=flow.name,
            parent_flow_run_id=parent_flow_run_id,
            parent_task_run_id=parent_task_run_id,
        )
        scope = context.FlowScope(task_runner=_task_runner_of(flow))
        if parent is not None and parent.scope is not None and parent.scope.cancel_event.is_set():
            scope.cancel_event.set()  # a subflow of a cancelled flow run never runs its body
        track(flow, run, scope)
        token = context.current.set(context.flow_context(flow, run, scope))
        sigterm = SigtermCanceller.install(run.id) if parent is None else None
        return cls(flow, run, bound, scope, return_state, token, sigterm, wait_for)

    def attempts(self) -> Attempts:
        if self.wait_for:
            upstream = failed_upstream(self.wait_for)
            if upstream is not None:
                return _ended(self.flow, self.run, _upstream_failed(self.run, upstream))
        return run_attempts(FLOW, self.flow, self.run, self.bound, self.scope, self.scope.lock)

    def end(self) -> None:
        context.current.reset(self.token)
        untrack(self.run.id)
        self.scope.task_runner.shutdown()
        if self.sigterm is not None:
            self.sigterm.restore()

    def outcome(self, state: State) -> Any:
        keep_flow_result(self.flow, self.run, state)
        if self.sigterm is not None and self.sigterm.received:
            raise SystemExit(128 + signal.SIGTERM)
        return _outcome(state, self.return_state)


def _ended(flow: Flow[..., Any], run: FlowRun, state: State) -> Attempts:
    """The attempts of a flow run that ends before its first: Pending, then ``state``."""
    set_state(FLOW, flow, run, run.state)
    return advance(FLOW, flow, run, state, NO_GUARD)
    yield  # type: ignore[unreachable]  # a generator, as the drivers expect


def _upstream_failed(run: FlowRun | TaskRun, upstream: TaskRunFuture) -> State:
    message = (
        f"upstream task run {upstream.task_run.name!r} ({upstream.task_run_id}) ended "
        f"{upstream.state.name}"
    )
    return states.UpstreamFailed(message, data=UpstreamTaskError(message), run_id=run.id)


def _task_runner_of(flow: Flow[..., Any]) -> TaskRunner:
    if isinstance(flow.task_runner, str):
        return new_task_runner(flow.task_runner)
    return flow.task_runner or ThreadPoolTaskRunner()


def run_flow(flow: Flow[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run ``flow`` in this thread; returns its result or final state (``return_state=True``)."""
    call = _FlowCall.begin(flow, args, kwargs)
    try:
        state = drive(FLOW, flow, call.run, call.bound, call.attempts())
    finally:
        call.end()
    return call.outcome(state)


async def run_flow_async(
    flow: Flow[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Run ``flow`` on the running event loop (an ``async def`` flow)."""
    call = _FlowCall.begin(flow, args, kwargs)
    try:
        state = await drive_async(FLOW, flow, call.run, call.bound, call.attempts())
    finally:
        call.end()
    return call.outcome(state)


def _default_task_run_name(task: Task[..., Any], run_id: uuid.UUID) -> str:
    # The last 8 digits of ``run_id.hex``, without formatting all 32 first.
    return f"{task.name}-{run_id.int & 0xFFFFFFFF:08x}"


def new_task_run(
    task: Task[..., Any], bound: inspect.BoundArguments, parent: context.RunContext | None
) -> tuple[TaskRun, context.RunContext]:
    flow_run = None if parent is None else parent.flow_run
    flow_run_id = None if flow_run is None else flow_run.id
    run_id = new_run_id()
    if task.task_run_name is None:  # the common case, on the hot path: no template to render
        name = _default_task_run_name(task, run_id)
    else:
        name = _run_name(
            task,
            task.task_run_name,
            bound.arguments,
            lambda: _default_task_run_name(task, run_id),
        )
    # Every field positionally, in the order of TASK_RUN_FIELDS: keywords and defaults cost
    # more than the rest of the call (0.75 us against 0.32).
    run = TaskRun(
        run_id,
        name,
        states.Pending(run_id=run_id),
        bound.arguments,
        context.run_tags(task.tags),
        0,
        [],
        None,
        None,
        task.name,
        flow_run_id,
    )
    return run, context.task_context(parent, task, run)


#: The fields of :class:`TaskRun`, in the order :func:`new_task_run` passes them.
TASK_RUN_FIELDS = (
    "id",
    "name",
    "state",
    "parameters",
    "tags",
    "run_count",
    "state_history",
    "start_time",
    "end_time",
    "task_name",
    "flow_run_id",
)


def _begin_task(
    task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[TaskRun, inspect.BoundArguments, context.RunContext, list[TaskRunFuture], bool]:
    parent = context.current.get()
    if parent is None:  # inside a flow run, the flow's call attached the store already
        _prepare()
    return_state = bool(kwargs.pop("return_state", False)) if kwargs else False
    wait_for = list(kwargs.pop("wait_for", None) or ()) if kwargs else []
    bound = bind_arguments(
        task.signature, args, kwargs, f"task {task.name!r}", task.positional_names
    )
    run, run_context = new_task_run(task, bound, parent)
    return run, bound, run_context, wait_for, return_state


def run_task(task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run ``task`` in this thread, inside the current flow run if there is one."""
    run, bound, run_context, wait_for, return_state = _begin_task(task, args, kwargs)
    token = context.current.set(run_context)
    try:
        state = run_submitted(task, run, bound, run_context, wait_for)
    finally:
        context.current.reset(token)
    return state if return_state else state.result()  # _outcome, without its frame


async def run_task_async(
    task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Run an ``async def`` task on the running event loop."""
    run, bound, run_context, wait_for, return_state = _begin_task(task, args, kwargs)
    token = context.current.set(run_context)
    try:
        upstream_failed = _upstream_failure(task, run, bound, wait_for)
        if upstream_failed is not None:
            state = upstream_failed
        else:
            txn = begin_task_transaction(task, run, bound.arguments, run_context)
            attempts = run_attempts(TASK, task, run, bound, run_context.scope, NO_GUARD, txn)
            if txn is None:
                state = await drive_async(TASK, task, run, bound, attempts)
            else:
                try:
                    state = await drive_async(TASK, task, run, bound, attempts)
                finally:
                    end_task_transaction(txn, task, run)
    finally:
        context.current.reset(token)
    return _outcome(state, return_state)


def _upstream_failure(
    task: Task[..., Any],
    run: TaskRun,
    bound: inspect.BoundArguments,
    wait_for: list[TaskRunFuture],
    keep_remote: bool = False,
) -> State | None:
    """Wait for the futures a task run depends on; its final UpstreamFailed state if one failed.

    Otherwise the futures among the arguments are replaced by their results, and None returned;
    with ``keep_remote``, a result left where its body ran stays a
    :class:`~flowhook_hookspec.states.RemoteResult`, for the runner to pass on.
    """
    if not run.state_history:
        set_state(TASK, task, run, run.state)
    arguments = bound.arguments
    if not wait_for and (not arguments or not may_hold_futures(arguments)):
        return None
    found = find_futures(bound.arguments)
    tolerated = tolerated_futures(bound.arguments)
    upstream = failed_upstream([*found, *wait_for], tolerated)
    if upstream is not None:
        return advance(TASK, task, run, _upstream_failed(run, upstream), NO_GUARD)
    # Arguments without futures or annotations reach the body as they are, as in Prefect.
    if found or tolerated or holds_annotation(bound.arguments):
        for name, value in bound.arguments.items():
            bound.arguments[name] = resolve_futures(value, keep_remote)
    return None


def run_submitted(
    task: Task[..., Any],
    run: TaskRun,
    bound: inspect.BoundArguments,
    run_context: context.RunContext,
    wait_for: list[TaskRunFuture],
) -> State:
    """Execute a task run whose arguments may hold futures: upstream first, then the attempts."""
    upstream_failed = _upstream_failure(task, run, bound, wait_for)
    if upstream_failed is not None:
        return upstream_failed
    txn = begin_task_transaction(task, run, bound.arguments, run_context)
    if txn is None:  # the hot path: no result to keep, no transaction open
        return attempt_task(task, run, bound, run_context.scope, None)
    try:
        return attempt_task(task, run, bound, run_context.scope, txn)
    finally:
        end_task_transaction(txn, task, run)


def run_submitted_remote(
    task: Task[..., Any],
    run: TaskRun,
    bound: inspect.BoundArguments,
    run_context: context.RunContext,
    wait_for: list[TaskRunFuture],
    remote: RemoteTaskRunner,
) -> RemoteWork:
    """:func:`run_submitted` as a stepped work item of ``remote``, which runs each attempt's
    body; the transitions stay here. Upstream results left on the cluster go to the body as
    they are (unchecked against the annotations), unless this run keeps results (its cache
    key may read its arguments).
    """
    from .remote_attempts import drive_remote  # only a remote task runner needs it

    keep_remote = task_settings_in(task, run_context.flow) is None
    upstream_failed = _upstream_failure(task, run, bound, wait_for, keep_remote)
    if upstream_failed is not None:
        return upstream_failed
    txn = begin_task_transaction(task, run, bound.arguments, run_context)
    attempts = run_attempts(TASK, task, run, bound, run_context.scope, NO_GUARD, txn, remote)
    if txn is None:
        return (yield from drive_remote(TASK, task, run, bound, attempts))
    try:
        return (yield from drive_remote(TASK, task, run, bound, attempts))
    finally:
        end_task_transaction(txn, task, run)
