"""State constructors and the ``State`` class, re-exported from the contract.

from flowhook.states import Completed, Failed, Cancelled

Also Prefect's helpers for reading states: :func:`get_state_exception`,
:func:`raise_state_exception`, :func:`is_state_iterable` and :class:`StateGroup`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any, TypeGuard

from flowhook_hookspec.errors import CancelledRun, CrashedRun, FailedRun
from flowhook_hookspec.paused_states import Late, Paused, PauseDetails, Scheduled, Suspended
from flowhook_hookspec.states import (
    FINAL_TYPES,
    LEGAL_TRANSITIONS,
    STATE_NAMES,
    AwaitingRetry,
    Cancelled,
    Cancelling,
    Completed,
    Crashed,
    Failed,
    Pending,
    Retrying,
    Running,
    State,
    StateType,
    TimedOut,
    UpstreamFailed,
    is_legal_transition,
)

from ._engine import BaseAnnotation

__all__ = [
    "FINAL_TYPES",
    "LEGAL_TRANSITIONS",
    "STATE_NAMES",
    "AwaitingRetry",
    "Cancelled",
    "Cancelling",
    "Completed",
    "Crashed",
    "Failed",
    "Late",
    "PauseDetails",
    "Paused",
    "Pending",
    "Retrying",
    "Running",
    "Scheduled",
    "State",
    "StateGroup",
    "StateType",
    "Suspended",
    "TimedOut",
    "UpstreamFailed",
    "aget_state_exception",
    "araise_state_exception",
    "get_state_exception",
    "is_legal_transition",
    "is_state_iterable",
    "raise_state_exception",
]


def get_state_exception(state: State) -> BaseException:
    """The exception a Failed, Crashed or Cancelled ``state`` stands for (Prefect's function).

    The exception the run raised when there is one; for a state that holds states (a run that
    returned them), the first that did not complete; otherwise :class:`FailedRun`,
    :class:`CrashedRun` or :class:`CancelledRun` with the state's message. A state of another
    type is a ``ValueError``.
    """
    wrappers = {
        StateType.FAILED: (FailedRun, "Run failed."),
        StateType.CRASHED: (CrashedRun, "Run crashed."),
        StateType.CANCELLED: (CancelledRun, "Run cancelled."),
    }
    if state.type not in wrappers:
        raise ValueError(
            f"get_state_exception takes a Failed, Crashed or Cancelled state, got {state!r}"
        )
    wrapper, default_message = wrappers[state.type]
    data = state.data
    if data is None:
        return wrapper(state.message or default_message)
    if isinstance(data, BaseException):
        return data
    if isinstance(data, str):
        return wrapper(data)
    if isinstance(data, State):
        return get_state_exception(data)
    if is_state_iterable(data):
        for inner in data:
            if inner.type in wrappers:
                return get_state_exception(inner)
        raise ValueError(f"{state!r} holds states, none of which failed, crashed or was cancelled")
    raise TypeError(
        f"{state!r} holds a {type(data).__name__}, {data!r}, which does not stand for an exception"
    )


def raise_state_exception(state: State) -> None:
    """Raise :func:`get_state_exception` of a Failed, Crashed or Cancelled ``state``; return
    None for any other."""
    if state.type in (StateType.FAILED, StateType.CRASHED, StateType.CANCELLED):
        raise get_state_exception(state)


async def aget_state_exception(state: State) -> BaseException:
    """:func:`get_state_exception`, to await (Prefect's async form; nothing is awaited here)."""
    return get_state_exception(state)


async def araise_state_exception(state: State) -> None:
    """:func:`raise_state_exception`, to await (Prefect's async form)."""
    raise_state_exception(state)


def is_state_iterable(obj: Any) -> TypeGuard[Iterable[State]]:
    """Whether ``obj`` is a non-empty list, tuple or set of states only (not an annotation)."""
    if not isinstance(obj, (list, set, tuple)) or not obj or isinstance(obj, BaseAnnotation):
        return False
    return all(isinstance(item, State) for item in obj)


class StateGroup:
    """Counts over a list of states, as Prefect's ``StateGroup``: ``fail_count``,
    ``all_completed()``, ``any_failed()``, ``counts_message()``..."""

    def __init__(self, states: list[State]) -> None:
        self.states = states
        self.type_counts: Counter[StateType] = Counter(state.type for state in states)
        self.total_count = len(states)
        self.cancelled_count = self.type_counts[StateType.CANCELLED]
        self.final_count = sum(state.is_final() for state in states)
        self.not_final_count = self.total_count - self.final_count
        # PAUSED is counted by its value, so that the count reads 0 where no state can be paused.
        self.paused_count = sum(
            count for kind, count in self.type_counts.items() if kind == "PAUSED"
        )

    @property
    def fail_count(self) -> int:
        """Failed and Crashed states."""
        return self.type_counts[StateType.FAILED] + self.type_counts[StateType.CRASHED]

    def all_completed(self) -> bool:
        return self.type_counts[StateType.COMPLETED] == self.total_count

    def any_cancelled(self) -> bool:
        return self.cancelled_count > 0

    def any_failed(self) -> bool:
        return self.fail_count > 0

    def any_paused(self) -> bool:
        return self.paused_count > 0

    def all_final(self) -> bool:
        return self.final_count == self.total_count

    def counts_message(self) -> str:
        """``total=3, 'COMPLETED'=2, 'FAILED'=1``, and ``not_final=`` when some are not final."""
        parts = [f"total={self.total_count}"]
        if self.not_final_count:
            parts.append(f"not_final={self.not_final_count}")
        parts += [f"{kind.value!r}={count}" for kind, count in self.type_counts.items() if count]
        return ", ".join(parts)

    def __repr__(self) -> str:
        return f"StateGroup<{self.counts_message()}>"
