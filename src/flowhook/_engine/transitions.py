"""Transitions: the one place that moves a run from one state to another.

Every transition of every run goes through :func:`set_state`: it checks the transition against
the contract's table, records it on the run, tells the observers (the runtime's recorder), then
fires the run's own hooks and the plugins' hooks through the typed caller. :func:`advance` is
the same with cancellation taken into account; the attempt state machine, ``cancel_flow_run``
and the reaper use these two and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timezone
from typing import Any, Literal, Protocol

import attrs

from flowhook_hookspec import states
from flowhook_hookspec.errors import IllegalTransitionError
from flowhook_hookspec.runs import FlowRun, TaskRun
from flowhook_hookspec.specs import TRANSITION_SPECS, hook_names
from flowhook_hookspec.states import (
    FINAL_TYPES,
    FIRST_TYPES,
    LEGAL_TRANSITIONS,
    State,
    StateType,
)

from .._plugins import manager as _plugins
from .._plugins.hooks import PluginHooks
from .._plugins.isolation import call_isolated, resolve_awaitable
from .._plugins.manager import implemented_hooks, plugin_hooks
from .logs import run_logger
from .runnables import HOOK_ATTRIBUTES
from .state_hooks import hook_name, prefect_hook_name

__all__ = [
    "FLOW",
    "RUN_KINDS",
    "TASK",
    "RunKind",
    "RunOwner",
    "TransitionObserver",
    "advance",
    "observers",
    "set_state",
]

Run = FlowRun | TaskRun


class RunOwner(Protocol):
    """What a transition needs of the flow or task a run belongs to: a
    :class:`~flowhook._engine.runnables.Runnable`, or the reaper's stand-in for one it could
    not import (which has no hooks of its own)."""

    @property
    def name(self) -> str: ...


#: The plugin hook a flow run (or a task run) fires on entering a state, by event.
FlowEnteredHook = Callable[[PluginHooks, RunOwner, FlowRun, State], "BaseException | None"]
TaskEnteredHook = Callable[[PluginHooks, RunOwner, TaskRun, State], "BaseException | None"]

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
HOOKS_BY_TYPE: dict[StateType, str] = {
    type_: HOOK_ATTRIBUTES[event] for type_, event in EVENT_BY_TYPE.items()
}

# The hot path compares state types about ten times per task run, and on Python 3.11 reading a
# member off an enum class (``StateType.RUNNING``) costs several times a module global: hence
# these names. They are the members themselves, compared with ``is``.
RUNNING = StateType.RUNNING
COMPLETED = StateType.COMPLETED
FAILED = StateType.FAILED
CRASHED = StateType.CRASHED
CANCELLING = StateType.CANCELLING
CANCELLED = StateType.CANCELLED
PAUSED = StateType.PAUSED


@attrs.frozen
class RunKind:
    """What differs between flow runs and task runs, as far as the engine is concerned.

    Which of the two a run is, is told by its type (:class:`FlowRun` or :class:`TaskRun`);
    a kind carries the words and the names that go with it.
    """

    #: As the store records it.
    name: Literal["flow", "task"]
    label: str  # "Flow" or "Task"
    owner_argument: str  # "flow" or "task"
    run_argument: str  # "flow_run" or "task_run"
    #: The names of every plugin hook a transition of this kind of run may dispatch: the
    #: contract's (see :data:`flowhook_hookspec.specs.TRANSITION_SPECS`).
    plugin_hooks: frozenset[str]
    #: By the type of the state entered: the attribute of the run's own hooks it fires (as
    #: HOOKS_BY_TYPE), and the plugin hooks it may dispatch (the state change's and the type's
    #: event's), so that a plugin costs nothing on the transitions it has no hook for. Worked
    #: out from the fields above: left out of equality and hashing.
    by_type: Mapping[StateType, tuple[str | None, frozenset[str]]] = attrs.field(eq=False)

    @classmethod
    def of(cls, name: Literal["flow", "task"]) -> RunKind:
        return cls(
            name=name,
            label=name.title(),
            owner_argument=name,
            run_argument=f"{name}_run",
            plugin_hooks=frozenset(hook_names(TRANSITION_SPECS[name])),
            by_type={
                type_: (
                    HOOKS_BY_TYPE.get(type_),
                    frozenset(
                        f"on_{name}_run_{event}"
                        for event in ("state_change", EVENT_BY_TYPE.get(type_))
                        if event is not None
                    ),
                )
                for type_ in StateType
            },
        )


class TransitionObserver(Protocol):
    """Called after each transition is recorded and before its hooks fire, with the run's kind,
    owner, the run, and its old and new states: the store's recorder, memory routing and
    ``transitions_observed`` register in :data:`observers`. An observer must not raise."""

    def __call__(
        self, kind: RunKind, owner: RunOwner, run: Run, old: State | None, new: State, /
    ) -> None: ...


observers: list[TransitionObserver] = []

#: The guard of runs that nothing else transitions concurrently (task runs).
NO_GUARD: AbstractContextManager[Any] = nullcontext()

FLOW = RunKind.of("flow")
TASK = RunKind.of("task")
#: The kinds by their lower-case name, as the store records them.
RUN_KINDS = {"flow": FLOW, "task": TASK}

#: The typed caller's method for entering a state, by event (see EVENT_BY_TYPE).
FLOW_ENTERED_HOOKS: Mapping[str, FlowEnteredHook] = {
    "running": PluginHooks.on_flow_run_running,
    "retry": PluginHooks.on_flow_run_retry,
    "completion": PluginHooks.on_flow_run_completion,
    "failure": PluginHooks.on_flow_run_failure,
    "cancellation": PluginHooks.on_flow_run_cancellation,
    "crashed": PluginHooks.on_flow_run_crashed,
}
TASK_ENTERED_HOOKS: Mapping[str, TaskEnteredHook] = {
    "running": PluginHooks.on_task_run_running,
    "retry": PluginHooks.on_task_run_retry,
    "completion": PluginHooks.on_task_run_completion,
    "failure": PluginHooks.on_task_run_failure,
    "cancellation": PluginHooks.on_task_run_cancellation,
    "crashed": PluginHooks.on_task_run_crashed,
}


def now() -> datetime:
    """The time of a new state: now, in UTC."""
    return datetime.now(timezone.utc)


def set_state(
    kind: RunKind, owner: RunOwner, run: Run, state: State, *, recorded: bool = False
) -> None:
    """Move ``run`` to ``state``: validate, record, notify observers, fire hooks.

    ``recorded=True`` says that the store holds the new state already (the reaper moves a dead
    process's runs to Crashed with a conditional update first): the observers are not told.

    Hook errors never change the state. A KeyboardInterrupt or SystemExit from a hook (or any
    hook error under ``FLOWHOOK_STRICT_HOOKS``) is re-raised after every hook has run.
    """
    history = run.state_history
    old = history[-1] if history else None
    # is_legal_transition(old type, state.type), read off the table without a call.
    if state.type not in (FIRST_TYPES if old is None else LEGAL_TRANSITIONS[old.type]):
        raise IllegalTransitionError(
            f"{kind.label.lower()} run {run.name!r} cannot go from "
            f"{'nothing' if old is None else old.name} to {state.name}"
        )
    run.state = state
    history.append(state)
    if state.type is RUNNING:
        if run.start_time is None:
            run.start_time = state.timestamp
    elif state.type in FINAL_TYPES:
        run.end_time = state.timestamp
    if not recorded:
        for observer in observers:
            observer(kind, owner, run, old, state)
    # The hot path: most transitions have nothing to fire. Two lookups prove it (the run's own
    # hooks for this state; the hooks plugins implement and have work for, cached until a plugin
    # is registered or unregistered), so that such a transition never walks _fire_hooks.
    own_hooks, hooks_of_type = kind.by_type[state.type]
    if own_hooks is not None and getattr(owner, own_hooks, None):
        fire = True
    else:
        # implemented_hooks(), read off the manager without a call while no implementation has
        # a test to ask (the common case).
        manager = _plugins._manager
        implemented = None if manager is None else manager.ready
        fire = not hooks_of_type.isdisjoint(
            implemented_hooks() if implemented is None else implemented
        )
    if fire:
        pending = _fire_hooks(kind, owner, run, old, state)
        if pending is not None:
            raise pending


def _no_hooks(event: str) -> list[Any]:
    return []


def _fire_hooks(
    kind: RunKind, owner: RunOwner, run: Run, old: State | None, state: State
) -> BaseException | None:
    """Fire the hooks of one transition: the run's own, then the plugins' state-change hook, then
    the per-state hook. Returns the exception the caller must re-raise, if any.

    ``owner`` may be a stand-in without hooks of its own (the reaper's, for a flow it could not
    import).
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

            logger = run_logger(owner, run)
            name = prefect_hook_name(hook)
            logger.info("Running hook %r in response to entering state %r", name, state.name)
            error = call_isolated(
                _logging_success(hook, logger, name), (owner, run, state), describe
            )
            if pending is None:
                pending = error
    error = _fire_plugin_hooks(plugin_hooks(), owner, run, old, state, event)
    return error if pending is None else pending


def _fire_plugin_hooks(
    hooks: PluginHooks,
    owner: RunOwner,
    run: Run,
    old: State | None,
    state: State,
    event: str | None,
) -> BaseException | None:
    """The plugins' state-change hook, then their hook for entering ``state``'s event."""
    if isinstance(run, FlowRun):
        pending = hooks.on_flow_run_state_change(owner, run, old, state)
        error = None if event is None else FLOW_ENTERED_HOOKS[event](hooks, owner, run, state)
    else:
        pending = hooks.on_task_run_state_change(owner, run, old, state)
        error = None if event is None else TASK_ENTERED_HOOKS[event](hooks, owner, run, state)
    return error if pending is None else pending


def _logging_success(hook: Callable[..., Any], logger: Any, name: str) -> Callable[..., None]:
    """``hook``, awaited if it is async, logging Prefect's line once it returned."""

    def run(*args: Any) -> None:
        resolve_awaitable(hook(*args))
        logger.info("Hook %r finished running successfully", name)

    return run


def crash_message(exc: BaseException) -> str:
    """Why a run crashed, in words a person understands."""
    if isinstance(exc, KeyboardInterrupt):
        return "Execution was aborted by an interrupt signal (KeyboardInterrupt)."
    if isinstance(exc, SystemExit):
        return f"Execution was aborted by a call to sys.exit({exc.code!r})."
    return f"Execution was interrupted by {type(exc).__name__}: {exc}"


def advance(
    kind: RunKind,
    owner: RunOwner,
    run: Run,
    state: State,
    guard: AbstractContextManager[Any],
) -> State:
    """Enter ``state``, unless cancellation got there first; returns the state entered.

    ``guard`` is the flow run's lock: ``cancel_flow_run`` may move a flow run to Cancelling from
    another thread at any time, after which the run can only end Cancelled (or Crashed).
    """
    if guard is not NO_GUARD:
        with guard:
            return advance(kind, owner, run, state, NO_GUARD)
    # Here the guard is held, or there is none: a task run, on the hot path, which so never
    # enters a context that does nothing.
    current = run.state
    if current.type is CANCELLING and state.type not in (CANCELLED, CRASHED):
        state = states.Cancelled(current.message, run_id=run.id)
    elif current.type is PAUSED:
        from .pausing import timed_out_state

        state = timed_out_state(current, state) or state
    if state.type is CANCELLED and current.type is not CANCELLING:
        # A run that ends Cancelled always passes Cancelling, so on_cancellation fires once.
        set_state(kind, owner, run, states.Cancelling(state.message, run_id=run.id))
    set_state(kind, owner, run, state)
    return state
