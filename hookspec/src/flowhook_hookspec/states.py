"""States of flow runs and task runs, and the table of legal transitions.

A state has a *type*, which drives the engine, and a *name*, which says more precisely what
happened: ``AwaitingRetry`` is a ``SCHEDULED`` state, ``Retrying`` is a ``RUNNING`` state and
``TimedOut`` is a ``FAILED`` state.
"""

from __future__ import annotations

import enum
import functools
from datetime import datetime, timezone
from typing import Any, Protocol
from uuid import UUID

import attrs

from .errors import CancelledRun, CrashedRun, FailedRun, UnfinishedRun

__all__ = [
    "FINAL_TYPES",
    "FIRST_TYPES",
    "LEGAL_TRANSITIONS",
    "STATE_NAMES",
    "AwaitingRetry",
    "Cancelled",
    "Cancelling",
    "Completed",
    "Crashed",
    "Failed",
    "Pending",
    "RemoteResult",
    "Retrying",
    "Running",
    "State",
    "StateConstructor",
    "StateType",
    "TimedOut",
    "UpstreamFailed",
    "is_legal_transition",
]


class StateType(str, enum.Enum):
    """What kind of state a run is in. The engine acts on types; names are for people."""

    PENDING = "PENDING"
    SCHEDULED = "SCHEDULED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CRASHED = "CRASHED"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"
    PAUSED = "PAUSED"

    def __str__(self) -> str:
        return self.value


FINAL_TYPES: frozenset[StateType] = frozenset(
    {StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED}
)

#: Which state types a run may move to from each state type. Crashed is reachable from every
#: non-final state because a process can die at any moment.
LEGAL_TRANSITIONS: dict[StateType, frozenset[StateType]] = {
    StateType.PENDING: frozenset(
        {
            StateType.RUNNING,
            StateType.FAILED,
            StateType.CRASHED,
            StateType.CANCELLING,
        }
    ),
    StateType.RUNNING: frozenset(
        {
            StateType.COMPLETED,
            StateType.FAILED,
            StateType.CRASHED,
            StateType.CANCELLING,
            StateType.SCHEDULED,
            StateType.PAUSED,
        }
    ),
    StateType.SCHEDULED: frozenset({StateType.RUNNING, StateType.CRASHED, StateType.CANCELLING}),
    # Resumed, timed out (Failed), cancelled while paused, or crashed.
    StateType.PAUSED: frozenset(
        {StateType.RUNNING, StateType.FAILED, StateType.CRASHED, StateType.CANCELLING}
    ),
    StateType.CANCELLING: frozenset({StateType.CANCELLED, StateType.CRASHED}),
    StateType.COMPLETED: frozenset(),
    StateType.FAILED: frozenset(),
    StateType.CRASHED: frozenset(),
    StateType.CANCELLED: frozenset(),
}


#: The state types a new run may be created in: Pending only.
FIRST_TYPES: frozenset[StateType] = frozenset({StateType.PENDING})


def is_legal_transition(old: StateType | None, new: StateType) -> bool:
    """Whether a run in a state of type ``old`` may enter a state of type ``new``.

    ``old`` is ``None`` for a run that does not exist yet: it may only be created Pending.
    """
    return new in (FIRST_TYPES if old is None else LEGAL_TRANSITIONS[old])


#: The current time in UTC. A partial, not a function: every state is stamped with it, and a
#: partial calls ``datetime.now`` without a Python frame of its own.
_now = functools.partial(datetime.now, timezone.utc)


class RemoteResult:
    """A run's return value left where the run's body ran (on a Dask worker, say), for a task
    runner to pass on to downstream bodies without bringing it to the flow's process.

    A Completed state may hold one as its data; :meth:`State.result` returns :meth:`fetch`'s
    value, so code reading results never sees it.
    """

    def fetch(self) -> Any:
        """The value, brought to this process (once: later calls return the same object)."""
        raise NotImplementedError


@attrs.frozen(repr=False)
class State:
    """One state of a run. Immutable: a transition makes a new ``State``.

    ``data`` holds the result of a Completed state, or the exception of a Failed or Crashed
    one; read it through :meth:`result`.
    """

    type: StateType
    #: Defaults to the type's title: ``State(type=StateType.COMPLETED)`` is named "Completed".
    name: str = attrs.field(default=attrs.Factory(lambda self: self.type.title(), takes_self=True))
    message: str | None = None
    timestamp: datetime = attrs.field(factory=_now)
    data: Any = attrs.field(default=None, eq=False)
    run_id: UUID | None = None
    #: When a run in ``AwaitingRetry`` will start its next attempt; for a Paused state, when
    #: its pause times out (None: it waits until resumed).
    scheduled_time: datetime | None = None

    def __repr__(self) -> str:
        shown = self.name if self.name == self.type.title() else f"{self.name}, type={self.type}"
        message = f", message={self.message!r}" if self.message else ""
        return f"State({shown}{message})"

    def is_pending(self) -> bool:
        return self.type is StateType.PENDING

    def is_scheduled(self) -> bool:
        return self.type is StateType.SCHEDULED

    def is_running(self) -> bool:
        return self.type is StateType.RUNNING

    def is_completed(self) -> bool:
        return self.type is StateType.COMPLETED

    def is_failed(self) -> bool:
        return self.type is StateType.FAILED

    def is_crashed(self) -> bool:
        return self.type is StateType.CRASHED

    def is_cancelling(self) -> bool:
        return self.type is StateType.CANCELLING

    def is_cancelled(self) -> bool:
        return self.type is StateType.CANCELLED

    def is_paused(self) -> bool:
        return self.type is StateType.PAUSED

    def is_final(self) -> bool:
        return self.type in FINAL_TYPES

    @property
    def exception(self) -> BaseException | None:
        """The exception this state carries, if any (Failed and Crashed states)."""
        return self.data if isinstance(self.data, BaseException) else None

    def result(self, raise_on_failure: bool = True) -> Any:
        """The run's outcome.

        - Completed: the value the run returned.
        - Failed: the exception the run raised (or :class:`FailedRun` if it returned Failed).
        - Crashed: :class:`CrashedRun`, chained from the interrupting exception.
        - Cancelled: :class:`CancelledRun`.
        - Any state that is not final: :class:`UnfinishedRun`.

        Exceptions are raised, or returned when ``raise_on_failure`` is false.
        """
        if self.type is StateType.COMPLETED:
            data = self.data
            return data.fetch() if isinstance(data, RemoteResult) else data
        error = self._outcome_error()
        if raise_on_failure:
            raise error
        return error

    def _outcome_error(self) -> BaseException:
        inner = _first_unsuccessful(self.data)
        if inner is not None:  # a run that returned states ends as the first that failed
            return inner._outcome_error()
        label = f"{self.name}: {self.message}" if self.message else self.name
        if self.type is StateType.FAILED:
            if isinstance(self.data, BaseException):
                return self.data
            return FailedRun(label)
        if self.type is StateType.CRASHED:
            crashed = CrashedRun(label)
            if isinstance(self.data, BaseException):
                crashed.__cause__ = self.data
            return crashed
        if self.type is StateType.CANCELLED:
            return CancelledRun(label)
        return UnfinishedRun(f"the run is {self.name}, not final; its result is not known yet")


def _first_unsuccessful(data: Any) -> State | None:
    """The first state that did not complete in ``data``, a state or a list, tuple or set of
    them (what a run returned), or None."""
    group = [data] if isinstance(data, State) else data
    if not isinstance(group, (list, tuple, set, frozenset)) or not group:
        return None
    if not all(isinstance(item, State) for item in group):
        return None
    return next((state for state in group if state.is_final() and not state.is_completed()), None)


class StateConstructor(Protocol):
    """Builds a state of one name: ``Failed("message")``, or Prefect's form ``Failed(State,
    message=...)``; ``name=`` overrides the name, other keywords go to :class:`State`."""

    def __call__(self, message: Any = None, /, **fields: Any) -> State: ...


def _of_class(
    cls: type, type_: StateType, name: str, data: Any, run_id: UUID | None, fields: dict[str, Any]
) -> State:
    if not issubclass(cls, State):
        raise TypeError(
            f"a state constructor takes a message or a State class first, got {cls.__name__}"
        )
    message = fields.pop("message", None)
    return cls(type_, fields.pop("name", name), message, data=data, run_id=run_id, **fields)


_new = object.__new__
# The setters of State's slots, in the order of its fields (a new field fails this unpacking).
(
    _set_type,
    _set_name,
    _set_message,
    _set_timestamp,
    _set_data,
    _set_run_id,
    _set_scheduled_time,
) = (State.__dict__[field.name].__set__ for field in attrs.fields(State))


def _constructor(type_: StateType, name: str, doc: str) -> StateConstructor:
    def make(
        message: Any = None, /, *, data: Any = None, run_id: UUID | None = None, **fields: Any
    ) -> State:
        if fields or not (message is None or type(message) is str):
            if isinstance(message, type):  # Prefect's form, a State class first: Failed(State, ...)
                return _of_class(message, type_, name, data, run_id, fields)
            if fields:
                message = fields.pop("message", message)
                return State(
                    type_, fields.pop("name", name), message, data=data, run_id=run_id, **fields
                )
        # ``State(type_, name, message, _now(), data, run_id)``, the same object built here
        # through its slots' setters: without a call of attrs' ``__init__`` (0.6 us instead of
        # 0.85) nor of a helper (three states per task run, on every run).
        state = _new(State)
        _set_type(state, type_)
        _set_name(state, name)
        _set_message(state, message)
        _set_timestamp(state, _now())
        _set_data(state, data)
        _set_run_id(state, run_id)
        _set_scheduled_time(state, None)
        return state

    make.__name__ = make.__qualname__ = name
    make.__doc__ = doc
    return make


Pending = _constructor(StateType.PENDING, "Pending", "The run exists and has not started.")
Running = _constructor(StateType.RUNNING, "Running", "The first attempt is running.")
Retrying = _constructor(StateType.RUNNING, "Retrying", "A later attempt is running.")
AwaitingRetry = _constructor(
    StateType.SCHEDULED, "AwaitingRetry", "An attempt failed; the next one waits for its delay."
)
Completed = _constructor(StateType.COMPLETED, "Completed", "The run finished and has a result.")
Failed = _constructor(StateType.FAILED, "Failed", "The run's code failed and no retry is left.")
TimedOut = _constructor(StateType.FAILED, "TimedOut", "The run exceeded its time limit.")
Crashed = _constructor(
    StateType.CRASHED, "Crashed", "The run was interrupted from outside its code."
)
Cancelling = _constructor(
    StateType.CANCELLING, "Cancelling", "Cancellation was requested; the run is stopping."
)
Cancelled = _constructor(StateType.CANCELLED, "Cancelled", "The run was cancelled.")
UpstreamFailed = _constructor(
    StateType.FAILED, "UpstreamFailed", "A task run it waited for did not complete; it never ran."
)

#: The name of every state the engine enters: what notification rules and filters may name.
STATE_NAMES: frozenset[str] = frozenset(
    make().name
    for make in (
        Pending,
        Running,
        Retrying,
        AwaitingRetry,
        Completed,
        Failed,
        TimedOut,
        UpstreamFailed,
        Crashed,
        Cancelling,
        Cancelled,
    )
) | {"Paused", "Suspended"}  # made in flowhook_hookspec.paused_states
