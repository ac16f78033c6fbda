"""The engine: the one place that moves runs from state to state.

Every transition of every run goes through :func:`set_state`: it checks the transition against
the contract's table, records it on the run, tells the observers (the store), then fires the
run's own hooks and the plugins' hooks. No other module sets a state.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import signal
import time
import uuid
from collections.abc import Awaitable, Callable, Generator, Mapping
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, NamedTuple

import attrs

from flowhook_hookspec import states
from flowhook_hookspec.errors import IllegalTransitionError
from flowhook_hookspec.runs import FlowRun, TaskRun
from flowhook_hookspec.states import FINAL_TYPES, State, StateType, is_legal_transition

from . import context
from .cancellation import SigtermCanceller, track, untrack
from .futures import TaskRunFuture, failed_upstream, find_futures, resolve_futures
from .hooks import call_isolated, hook_name, resolve_awaitable
from .ids import new_run_id
from .naming import generated_name, render_run_name
from .parameters import ParameterValidationError, bind_arguments, call_bound, coerce_arguments
from .plugins import implemented_hooks, plugin_manager
from .retries import condition_allows_retry, retry_delay
from .runnables import HOOK_ATTRIBUTES
from .runners import ThreadPoolTaskRunner
from .timeouts import RunTimeout, Watchdog
from .transactions import stage_completed

if TYPE_CHECKING:
    import inspect

    from .flows import Flow
    from .runnables import Runnable
    from .tasks import Task

logger = logging.getLogger("flowhook.engine")

Run = FlowRun | TaskRun

#: The per-run hook list (and per-state plugin hook) that each state type fires.
EVENT_BY_TYPE: dict[StateType, str] = {
    StateType.RUNNING: "running",
    StateType.SCHEDULED: "retry",
    StateType.COMPLETED: "completion",
    StateType.FAILED: "failure",
    StateType.CANCELLING: "cancellation",
    StateType.CRASHED: "crashed",
}

#: The attribute of the run's own hook list that each state type fires (read on every transition).
_HOOKS_BY_TYPE: dict[StateType, str] = {
    type_: HOOK_ATTRIBUTES[event] for type_, event in EVENT_BY_TYPE.items()
}

# The hot path compares state types about ten times per task run, and on Python 3.11 reading a
# member off an enum class (``StateType.RUNNING``) costs several times a module global: hence
# these names. They are the members themselves, compared with ``is``.
_RUNNING = StateType.RUNNING
_COMPLETED = StateType.COMPLETED
_FAILED = StateType.FAILED
_CRASHED = StateType.CRASHED
_CANCELLING = StateType.CANCELLING
_CANCELLED = StateType.CANCELLED

#: Called after each transition is recorded and before hooks fire: ``observer(kind, owner, run,
#: old_state, new_state)``. The store registers itself here; observers must not raise.
TransitionObserver = Callable[["RunKind", Any, Any, "State | None", State], None]
observers: list[TransitionObserver] = []


class RunKind(NamedTuple):
    """What differs between flow runs and task runs, as far as the engine is concerned."""

    label: str  # "Flow" or "Task"
    owner_argument: str  # "flow" or "task"
    run_argument: str  # "flow_run" or "task_run"
    state_change_hook: str
    entered_hooks: Mapping[str, str]
    #: Every plugin hook a transition of this kind of run may dispatch.
    plugin_hooks: frozenset[str]

    @classmethod
    def named(cls, subject: str) -> RunKind:
        state_change_hook = f"on_{subject}_run_state_change"
        entered_hooks = {event: f"on_{subject}_run_{event}" for event in EVENT_BY_TYPE.values()}
        return cls(
            label=subject.title(),
            owner_argument=subject,
            run_argument=f"{subject}_run",
            state_change_hook=state_change_hook,
            entered_hooks=entered_hooks,
            plugin_hooks=frozenset({state_change_hook, *entered_hooks.values()}),
        )


#: The guard of runs that nothing else transitions concurrently (task runs).
_NO_GUARD = nullcontext()

FLOW = RunKind.named("flow")
TASK = RunKind.named("task")
#: The kinds by their lower-case name, as the store records them.
RUN_KINDS = {"flow": FLOW, "task": TASK}


_store_attach: Callable[[], None] | None = None


def _attach_store() -> None:
    """Attach the store (it returns at once once attached). Imported on first use, so that
    ``import flowhook`` stays fast and the store's modules may import the engine."""
    global _store_attach
    if _store_attach is None:
        from .store.recorder import attach

        _store_attach = attach
    _store_attach()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def set_state(kind: RunKind, owner: Runnable[..., Any], run: Run, state: State) -> None:
    """Move ``run`` to ``state``: validate, record, notify observers, fire hooks.

    Hook errors never change the state. A KeyboardInterrupt or SystemExit from a hook (or any
    hook error under ``FLOWHOOK_STRICT_HOOKS``) is re-raised after every hook has run.
    """
    history = run.state_history
    old = history[-1] if history else None
    if not is_legal_transition(None if old is None else old.type, state.type):
        raise IllegalTransitionError(
            f"{kind.label.lower()} run {run.name!r} cannot go from "
            f"{'nothing' if old is None else old.name} to {state.name}"
        )
    run.state = state
    history.append(state)
    if state.type is _RUNNING:
        if run.start_time is None:
            run.start_time = state.timestamp
    elif state.type in FINAL_TYPES:
        run.end_time = state.timestamp
    for observer in observers:
        observer(kind, owner, run, old, state)
    # The hot path: most transitions have nothing to fire. Two lookups prove it (the run's own
    # hooks for this state; the hooks plugins implement, cached until a plugin is registered or
    # unregistered), so that such a transition never walks fire_hooks.
    own_hooks = _HOOKS_BY_TYPE.get(state.type)
    if (own_hooks is not None and getattr(owner, own_hooks)) or not kind.plugin_hooks.isdisjoint(
        implemented_hooks()
    ):
        pending = fire_hooks(kind, owner, run, old, state)
        if pending is not None:
            raise pending


def _no_hooks(event: str) -> list[Any]:
    return []


def fire_hooks(
    kind: RunKind, owner: Any, run: Run, old: State | None, state: State
) -> BaseException | None:
    """Fire the hooks of one transition: the run's own, then the plugins' state-change hook, then
    the per-state hook. Returns the exception the caller must re-raise, if any.

    Public for the store's reaper, which fires the hooks of runs that crashed in dead processes;
    ``owner`` may then be a stand-in without hooks of its own.
    """
    pending: BaseException | None = None
    event = EVENT_BY_TYPE.get(state.type)
    if event is not None:
        for hook in getattr(owner, "_hook_list", _no_hooks)(event):

            def describe(hook: Callable[..., Any] = hook, event: str = event) -> str:
                return (
                    f"on_{event} hook {hook_name(hook)!r} of {kind.owner_argument} {owner.name!r} "
                    f"({kind.run_argument} {run.name!r}, entering {state.name})"
                )

            error = call_isolated(hook, (owner, run, state), describe)
            if pending is None:
                pending = error
    manager = plugin_manager()
    if manager.callers(kind.state_change_hook):
        error = manager.dispatch(
            kind.state_change_hook,
            {
                kind.owner_argument: owner,
                kind.run_argument: run,
                "old_state": old,
                "new_state": state,
            },
        )
        if pending is None:
            pending = error
    if event is not None:
        entered = kind.entered_hooks[event]
        if manager.callers(entered):
            error = manager.dispatch(
                entered, {kind.owner_argument: owner, kind.run_argument: run, "state": state}
            )
            if pending is None:
                pending = error
    return pending


def crash_message(exc: BaseException) -> str:
    """Why a run crashed, in words a person understands."""
    if isinstance(exc, KeyboardInterrupt):
        return "Execution was aborted by an interrupt signal (KeyboardInterrupt)."
    if isinstance(exc, SystemExit):
        return f"Execution was aborted by a call to sys.exit({exc.code!r})."
    return f"Execution was interrupted by {type(exc).__name__}: {exc}"


def _result_to_state(kind: RunKind, run: Run, result: Any) -> State:
    if not isinstance(result, State):
        return states.Completed(data=result, run_id=run.id)
    if not result.is_final():
        return states.Failed(
            f"{kind.label} run returned the state {result.name!r}, which is not final; return a "
            "final state (Completed, Failed, Cancelled) or a plain value",
            run_id=run.id,
        )
    return attrs.evolve(result, run_id=run.id, timestamp=_now())


def _failure_state(kind: RunKind, run: Run, exc: Exception) -> State:
    return states.Failed(
        f"{kind.label} run encountered an exception: {type(exc).__name__}: {exc}",
        data=exc,
        run_id=run.id,
    )


def _retry_state(owner: Runnable[..., Any], run: Run, failed: State) -> State | None:
    """The AwaitingRetry state to enter instead of ``failed``, or None when no retry is left."""
    if run.run_count > owner.retries:
        return None
    if not condition_allows_retry(owner.retry_condition_fn, owner, run, failed):
        return None
    delay = retry_delay(
        owner.retry_delay_seconds, owner.retries, run.run_count, owner.retry_jitter_factor
    )
    now = _now()
    return states.AwaitingRetry(
        f"Attempt {run.run_count} failed ({failed.message}); retry {run.run_count}/{owner.retries} "
        f"in {delay:.3g} s",
        data=failed.data,
        run_id=run.id,
        timestamp=now,
        scheduled_time=now + timedelta(seconds=delay),
    )


def _advance(
    kind: RunKind,
    owner: Runnable[..., Any],
    run: Run,
    state: State,
    guard: AbstractContextManager[Any],
) -> State:
    """Enter ``state``, unless cancellation got there first; returns the state entered.

    ``guard`` is the flow run's lock: ``cancel_flow_run`` may move a flow run to Cancelling from
    another thread at any time, after which the run can only end Cancelled (or Crashed).
    """
    if guard is not _NO_GUARD:
        with guard:
            return _advance(kind, owner, run, state, _NO_GUARD)
    # Here the guard is held, or there is none: a task run, on the hot path, which so never
    # enters a context that does nothing.
    current = run.state
    if current.type is _CANCELLING and state.type not in (_CANCELLED, _CRASHED):
        state = states.Cancelled(current.message, run_id=run.id)
    if state.type is _CANCELLED and current.type is not _CANCELLING:
        # A run that ends Cancelled always passes Cancelling, so on_cancellation fires once.
        set_state(kind, owner, run, states.Cancelling(state.message, run_id=run.id))
    set_state(kind, owner, run, state)
    if isinstance(run, TaskRun) and state.type is _COMPLETED:
        stage_completed(owner, run)
    return state


def _timed_out_state(kind: RunKind, owner: Runnable[..., Any], run: Run) -> State:
    error = TimeoutError(
        f"{kind.owner_argument} run {run.name!r} exceeded its timeout of {owner.timeout_seconds} s"
    )
    return states.TimedOut(str(error), data=error, run_id=run.id)


def _call_body(
    kind: RunKind, owner: Runnable[..., Any], run: Run, bound: inspect.BoundArguments
) -> State:
    """Run a body in this thread; an ``async def`` body is run to completion."""
    if owner.is_async:
        return resolve_awaitable(_call_body_async(kind, owner, run, bound))  # type: ignore[no-any-return]
    try:
        if owner.timeout_seconds is None:
            result = call_bound(owner.fn, bound, owner.positional_names)
        else:
            with Watchdog(owner.timeout_seconds):
                result = call_bound(owner.fn, bound, owner.positional_names)
    except RunTimeout:
        return _timed_out_state(kind, owner, run)
    except Exception as exc:
        return _failure_state(kind, run, exc)
    return _result_to_state(kind, run, result)


async def _call_body_async(
    kind: RunKind, owner: Runnable[..., Any], run: Run, bound: inspect.BoundArguments
) -> State:
    body = call_bound(owner.fn, bound, owner.positional_names)
    try:
        if owner.timeout_seconds is None:
            # Awaited right here: a task of its own would be cancelled with this one just the
            # same, and would double the event loop's work per task run.
            finished, result = True, await body
        else:
            finished, result = await _await_within(body, owner.timeout_seconds)
    except Exception as exc:
        return _failure_state(kind, run, exc)
    if not finished:
        return _timed_out_state(kind, owner, run)
    return _result_to_state(kind, run, result)


async def _await_within(body: Awaitable[Any], seconds: float) -> tuple[bool, Any]:
    """``(True, result)`` of ``body``; ``(False, None)`` when it did not finish within
    ``seconds`` and was cancelled. The body's own exception propagates."""
    import asyncio

    future = asyncio.ensure_future(body)
    try:
        done, _ = await asyncio.wait({future}, timeout=seconds)
    except BaseException:
        future.cancel()
        raise
    if not done:
        future.cancel()
        with contextlib.suppress(BaseException):
            await future
        return False, None
    return True, future.result()


def _cancelled_before(scope: context.FlowScope | None, run: Run) -> State | None:
    """For a task run: Cancelled when its flow run was cancelled before the attempt starts."""
    if scope is None or not scope.cancel_event.is_set():
        return None
    return states.Cancelled("its flow run was cancelled before it started", run_id=run.id)


class _Body:
    """Request to the driver: run the body once and send back the State it leads to."""


_BODY = _Body()


class _Wait(NamedTuple):
    """Request to the driver: wait before the next attempt (cut short by cancellation)."""

    seconds: float
    scope: context.FlowScope | None


class _Drain(NamedTuple):
    """Request to the driver: wait for the task runs the flow run submitted."""

    scope: context.FlowScope


_Request = _Body | _Wait | _Drain
Attempts = Generator[_Request, "State | None", State]


def _attempts(
    kind: RunKind,
    owner: Runnable[..., Any],
    run: Run,
    bound: inspect.BoundArguments,
    scope: context.FlowScope | None,
    guard: AbstractContextManager[Any],
) -> Attempts:
    """The life of a run, from Pending to a final state, as a generator.

    It decides every transition and yields what takes time (the body, waits) to a driver: a
    sync one (:func:`_drive`) or an async one (:func:`_drive_async`). One state machine serves
    both, so sync and async runs cannot drift apart.
    """
    try:
        if not run.state_history:
            set_state(kind, owner, run, run.state)
        if owner.validate_parameters and owner.type_hints:
            try:
                coerce_arguments(bound, owner.type_hints)
            except ParameterValidationError as exc:
                failed = states.Failed(
                    f"{kind.label} run parameters are invalid: {exc}", data=exc, run_id=run.id
                )
                return _advance(kind, owner, run, failed, guard)
        while True:
            cancelled = _cancelled_before(scope, run) if kind is TASK else None
            if cancelled is not None:
                return _advance(kind, owner, run, cancelled, guard)
            run.run_count += 1
            attempt = states.Running if run.run_count == 1 else states.Retrying
            entered = _advance(kind, owner, run, attempt(run_id=run.id), guard)
            if entered.is_final():
                return entered
            state = yield _BODY
            assert state is not None
            if kind is FLOW and scope is not None and scope.futures:
                yield _Drain(scope)
            if state.type is _FAILED:
                retry = _retry_state(owner, run, state)
                if retry is not None:
                    entered = _advance(kind, owner, run, retry, guard)
                    if entered.is_final():
                        return entered
                    assert retry.scheduled_time is not None
                    yield _Wait(max(0.0, (retry.scheduled_time - _now()).total_seconds()), scope)
                    continue
            return _advance(kind, owner, run, state, guard)
    except BaseException as exc:
        with guard:
            if run.state_history and not run.state.is_final():
                crashed = states.Crashed(crash_message(exc), data=exc, run_id=run.id)
                set_state(kind, owner, run, crashed)
        raise


def _step(
    attempts: Attempts, response: State | None, error: BaseException | None
) -> tuple[bool, Any]:
    """Advance the generator: (True, final state) when it returned, else (False, request)."""
    try:
        if error is not None:
            return False, attempts.throw(error)
        return False, attempts.send(response)
    except StopIteration as stop:
        return True, stop.value


def _drive(
    kind: RunKind,
    owner: Runnable[..., Any],
    run: Run,
    bound: inspect.BoundArguments,
    attempts: Attempts,
) -> State:
    """Run the state machine in this thread."""
    done, value = _step(attempts, None, None)
    while not done:
        response: State | None = None
        error: BaseException | None = None
        try:
            if value is _BODY:
                response = _call_body(kind, owner, run, bound)
            elif isinstance(value, _Wait):
                _wait(value)
            else:
                _drain(value.scope)
        except BaseException as exc:
            error = exc
        done, value = _step(attempts, response, error)
    return value  # type: ignore[no-any-return]


def _wait(request: _Wait) -> None:
    if request.scope is not None:
        request.scope.cancel_event.wait(request.seconds)
    else:
        time.sleep(request.seconds)


def _has_hooks(kind: RunKind, owner: Runnable[..., Any]) -> bool:
    """Whether any hook, the run's own or a plugin's, may fire for a run of ``owner``."""
    if any(getattr(owner, hooks) for hooks in _HOOKS_BY_TYPE.values()):
        return True
    return not kind.plugin_hooks.isdisjoint(implemented_hooks())


async def _drive_async(
    kind: RunKind,
    owner: Runnable[..., Any],
    run: Run,
    bound: inspect.BoundArguments,
    attempts: Attempts,
) -> State:
    """Run the state machine on the event loop, awaiting the body.

    Transitions fire hooks synchronously; when any hook may fire, each step of the state
    machine runs in a worker thread so that a slow sync hook never blocks the event loop.
    """
    import asyncio

    offload = _has_hooks(kind, owner)

    async def step(response: State | None, error: BaseException | None) -> tuple[bool, Any]:
        if offload:
            return await asyncio.to_thread(_step, attempts, response, error)
        return _step(attempts, response, error)

    done, value = await step(None, None)
    while not done:
        response: State | None = None
        error: BaseException | None = None
        try:
            if value is _BODY:
                if owner.is_async:
                    response = await _call_body_async(kind, owner, run, bound)
                else:
                    response = _call_body(kind, owner, run, bound)
            elif isinstance(value, _Wait):
                if value.scope is not None:
                    await asyncio.to_thread(_wait, value)
                else:
                    await asyncio.sleep(value.seconds)
            else:
                await asyncio.to_thread(_drain, value.scope)
        except BaseException as exc:
            error = exc
        done, value = await step(response, error)
    return value  # type: ignore[no-any-return]


def _drain(scope: context.FlowScope) -> None:
    """Wait until every task run the flow run submitted is final and its hooks have run."""
    while True:
        with scope.lock:
            pending = [f for f in scope.futures if not f.done()]
            never_started = [f for f in scope.futures if f.done() and not f.state.is_final()]
        for future in never_started:  # cancelled by the task runner before they started
            cancelled = states.Cancelled(
                "its flow run was cancelled before it started", run_id=future.task_run_id
            )
            _advance(TASK, future.task, future.task_run, cancelled, _NO_GUARD)
        if not pending:
            return
        scope.task_runner.wait([f._future for f in pending])


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

    @classmethod
    def begin(
        cls, flow: Flow[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> _FlowCall:
        _attach_store()
        return_state = bool(kwargs.pop("return_state", False))
        bound = bind_arguments(flow.signature, args, kwargs, f"flow {flow.name!r}")
        parent = context.current.get()
        parent_flow_run_id, parent_task_run_id = _parent_ids(parent)
        run_id = new_run_id()
        run = FlowRun(
            id=run_id,
            name=_run_name(flow, flow.flow_run_name, bound.arguments, generated_name),
            state=states.Pending(run_id=run_id),
            parameters=bound.arguments,
            tags=flow.tags,
            flow_name=flow.name,
            parent_flow_run_id=parent_flow_run_id,
            parent_task_run_id=parent_task_run_id,
        )
        scope = context.FlowScope(task_runner=flow.task_runner or ThreadPoolTaskRunner())
        track(flow, run, scope)
        token = context.current.set(context.RunContext(flow=flow, flow_run=run, scope=scope))
        sigterm = SigtermCanceller.install(run.id) if parent is None else None
        return cls(flow, run, bound, scope, return_state, token, sigterm)

    def attempts(self) -> Attempts:
        return _attempts(FLOW, self.flow, self.run, self.bound, self.scope, self.scope.lock)

    def end(self) -> None:
        context.current.reset(self.token)
        untrack(self.run.id)
        self.scope.task_runner.shutdown()
        if self.sigterm is not None:
            self.sigterm.restore()

    def outcome(self, state: State) -> Any:
        if self.sigterm is not None and self.sigterm.received:
            raise SystemExit(128 + signal.SIGTERM)
        return _outcome(state, self.return_state)


def run_flow(flow: Flow[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run ``flow`` in this thread; returns its result or final state (``return_state=True``)."""
    call = _FlowCall.begin(flow, args, kwargs)
    try:
        state = _drive(FLOW, flow, call.run, call.bound, call.attempts())
    finally:
        call.end()
    return call.outcome(state)


async def run_flow_async(
    flow: Flow[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Run ``flow`` on the running event loop (an ``async def`` flow)."""
    call = _FlowCall.begin(flow, args, kwargs)
    try:
        state = await _drive_async(FLOW, flow, call.run, call.bound, call.attempts())
    finally:
        call.end()
    return call.outcome(state)


def _default_task_run_name(task: Task[..., Any], run_id: uuid.UUID) -> str:
    return f"{task.name}-{run_id.hex[:8]}"


def _new_task_run(
    task: Task[..., Any], bound: inspect.BoundArguments, parent: context.RunContext | None
) -> tuple[TaskRun, context.RunContext]:
    flow_run_id, _ = _parent_ids(parent)
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
    run = TaskRun(
        id=run_id,
        name=name,
        state=states.Pending(run_id=run_id),
        parameters=bound.arguments,
        tags=task.tags,
        task_name=task.name,
        flow_run_id=flow_run_id,
    )
    if parent is None:
        run_context = context.RunContext(task=task, task_run=run)
    else:
        run_context = context.RunContext(parent.flow, parent.flow_run, task, run, parent.scope)
    return run, run_context


def _begin_task(
    task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[TaskRun, inspect.BoundArguments, context.RunContext, list[TaskRunFuture], bool]:
    parent = context.current.get()
    if parent is None:  # inside a flow run, the flow's call attached the store already
        _attach_store()
    return_state = bool(kwargs.pop("return_state", False)) if kwargs else False
    wait_for = list(kwargs.pop("wait_for", None) or ()) if kwargs else []
    bound = bind_arguments(
        task.signature, args, kwargs, f"task {task.name!r}", task.positional_names
    )
    run, run_context = _new_task_run(task, bound, parent)
    return run, bound, run_context, wait_for, return_state


def run_task(task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run ``task`` in this thread, inside the current flow run if there is one."""
    run, bound, run_context, wait_for, return_state = _begin_task(task, args, kwargs)
    token = context.current.set(run_context)
    try:
        state = _run_submitted(task, run, bound, run_context, wait_for)
    finally:
        context.current.reset(token)
    return _outcome(state, return_state)


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
            attempts = _attempts(TASK, task, run, bound, run_context.scope, _NO_GUARD)
            state = await _drive_async(TASK, task, run, bound, attempts)
    finally:
        context.current.reset(token)
    return _outcome(state, return_state)


def _upstream_failure(
    task: Task[..., Any], run: TaskRun, bound: inspect.BoundArguments, wait_for: list[TaskRunFuture]
) -> State | None:
    """Wait for the futures a task run depends on; its final UpstreamFailed state if one failed.

    Otherwise the futures among the arguments are replaced by their results, and None returned.
    """
    if not run.state_history:
        set_state(TASK, task, run, run.state)
    if not bound.arguments and not wait_for:
        return None
    upstream = failed_upstream([*find_futures(bound.arguments), *wait_for])
    if upstream is not None:
        failed = states.Failed(
            f"upstream task run {upstream.task_run.name!r} ({upstream.task_run_id}) ended "
            f"{upstream.state.name}",
            name="UpstreamFailed",
            run_id=run.id,
        )
        return _advance(TASK, task, run, failed, _NO_GUARD)
    for name, value in bound.arguments.items():
        bound.arguments[name] = resolve_futures(value)
    return None


def _run_submitted(
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
    attempts = _attempts(TASK, task, run, bound, run_context.scope, _NO_GUARD)
    return _drive(TASK, task, run, bound, attempts)
