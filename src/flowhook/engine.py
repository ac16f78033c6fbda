"""The engine: the one place that moves runs from state to state.

Every transition of every run goes through :func:`set_state`: it checks the transition against
the contract's table, records it on the run, tells the observers (the store), then fires the
run's own hooks and the plugins' hooks. No other module sets a state.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import attrs

from flowhook_hookspec import states
from flowhook_hookspec.errors import IllegalTransitionError
from flowhook_hookspec.runs import FlowRun, TaskRun
from flowhook_hookspec.states import FINAL_TYPES, State, StateType, is_legal_transition

from . import context
from .hooks import call_isolated, hook_name
from .naming import generated_name, render_run_name
from .parameters import ParameterValidationError, bind_arguments, coerce_arguments
from .plugins import plugin_manager
from .retries import condition_allows_retry, retry_delay

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

#: Called after each transition is recorded and before hooks fire: ``observer(kind, owner, run,
#: old_state, new_state)``. The store registers itself here; observers must not raise.
TransitionObserver = Callable[["RunKind", Any, Any, "State | None", State], None]
observers: list[TransitionObserver] = []


@attrs.frozen
class RunKind:
    """What differs between flow runs and task runs, as far as the engine is concerned."""

    label: str  # "Flow" or "Task"
    owner_argument: str  # "flow" or "task"
    run_argument: str  # "flow_run" or "task_run"
    state_change_hook: str
    entered_hooks: Mapping[str, str]

    @classmethod
    def named(cls, subject: str) -> RunKind:
        return cls(
            label=subject.title(),
            owner_argument=subject,
            run_argument=f"{subject}_run",
            state_change_hook=f"on_{subject}_run_state_change",
            entered_hooks={event: f"on_{subject}_run_{event}" for event in EVENT_BY_TYPE.values()},
        )


FLOW = RunKind.named("flow")
TASK = RunKind.named("task")


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
    if state.type is StateType.RUNNING:
        if run.start_time is None:
            run.start_time = state.timestamp
    elif state.type in FINAL_TYPES:
        run.end_time = state.timestamp
    for observer in observers:
        observer(kind, owner, run, old, state)
    _fire_hooks(kind, owner, run, old, state)


def _fire_hooks(
    kind: RunKind, owner: Runnable[..., Any], run: Run, old: State | None, state: State
) -> None:
    pending: BaseException | None = None
    event = EVENT_BY_TYPE.get(state.type)
    if event is not None:
        for hook in owner._hook_list(event):

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
    if pending is not None:
        raise pending


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


def _finish(kind: RunKind, owner: Runnable[..., Any], run: Run, state: State) -> None:
    if state.type is StateType.CANCELLED:
        # A run that ends Cancelled always passes through Cancelling, so on_cancellation fires once.
        set_state(kind, owner, run, states.Cancelling(state.message, run_id=run.id))
    set_state(kind, owner, run, state)


def _run_attempts(
    kind: RunKind, owner: Runnable[..., Any], run: Run, bound: inspect.BoundArguments
) -> State:
    try:
        set_state(kind, owner, run, run.state)
        if owner.validate_parameters and owner.type_hints:
            try:
                coerce_arguments(bound, owner.type_hints)
            except ParameterValidationError as exc:
                failed = states.Failed(
                    f"{kind.label} run parameters are invalid: {exc}", data=exc, run_id=run.id
                )
                set_state(kind, owner, run, failed)
                return failed
        while True:
            run.run_count += 1
            attempt = states.Running if run.run_count == 1 else states.Retrying
            set_state(kind, owner, run, attempt(run_id=run.id))
            try:
                result = owner.fn(*bound.args, **bound.kwargs)
            except Exception as exc:
                state = _failure_state(kind, run, exc)
            else:
                state = _result_to_state(kind, run, result)
            if state.type is StateType.FAILED:
                retry = _retry_state(owner, run, state)
                if retry is not None:
                    set_state(kind, owner, run, retry)
                    assert retry.scheduled_time is not None
                    time.sleep(max(0.0, (retry.scheduled_time - _now()).total_seconds()))
                    continue
            _finish(kind, owner, run, state)
            return state
    except BaseException as exc:
        if run.state_history and not run.state.is_final():
            set_state(kind, owner, run, states.Crashed(crash_message(exc), data=exc, run_id=run.id))
        raise


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


def run_flow(flow: Flow[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run ``flow`` in this thread; returns its result or final state (``return_state=True``)."""
    return_state = bool(kwargs.pop("return_state", False))
    bound = bind_arguments(flow.signature, args, kwargs, f"flow {flow.name!r}")
    parent = context.current.get()
    parent_flow_run_id, parent_task_run_id = _parent_ids(parent)
    run_id = uuid.uuid4()
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
    token = context.current.set(context.RunContext(flow=flow, flow_run=run))
    try:
        state = _run_attempts(FLOW, flow, run, bound)
    finally:
        context.current.reset(token)
    return _outcome(state, return_state)


def run_task(task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run ``task`` in this thread, inside the current flow run if there is one."""
    return_state = bool(kwargs.pop("return_state", False))
    bound = bind_arguments(task.signature, args, kwargs, f"task {task.name!r}")
    parent = context.current.get()
    flow_run_id, _ = _parent_ids(parent)
    run_id = uuid.uuid4()
    run = TaskRun(
        id=run_id,
        name=_run_name(
            task, task.task_run_name, bound.arguments, lambda: f"{task.name}-{run_id.hex[:8]}"
        ),
        state=states.Pending(run_id=run_id),
        parameters=bound.arguments,
        tags=task.tags,
        task_name=task.name,
        flow_run_id=flow_run_id,
    )
    token = context.current.set(
        context.RunContext(
            flow=parent.flow if parent else None,
            flow_run=parent.flow_run if parent else None,
            task=task,
            task_run=run,
        )
    )
    try:
        state = _run_attempts(TASK, task, run, bound)
    finally:
        context.current.reset(token)
    return _outcome(state, return_state)
