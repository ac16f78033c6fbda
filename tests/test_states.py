from __future__ import annotations

import uuid
from datetime import timezone

import attrs
import pytest

from flowhook import CancelledRun, CrashedRun, FailedRun, StateType, UnfinishedRun
from flowhook.states import (
    LEGAL_TRANSITIONS,
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
    TimedOut,
    is_legal_transition,
)


@pytest.mark.parametrize(
    ("constructor", "type_", "name"),
    [
        (Pending, StateType.PENDING, "Pending"),
        (Running, StateType.RUNNING, "Running"),
        (Retrying, StateType.RUNNING, "Retrying"),
        (AwaitingRetry, StateType.SCHEDULED, "AwaitingRetry"),
        (Completed, StateType.COMPLETED, "Completed"),
        (Failed, StateType.FAILED, "Failed"),
        (TimedOut, StateType.FAILED, "TimedOut"),
        (Crashed, StateType.CRASHED, "Crashed"),
        (Cancelling, StateType.CANCELLING, "Cancelling"),
        (Cancelled, StateType.CANCELLED, "Cancelled"),
    ],
)
def test_constructors_give_type_and_name(constructor, type_, name) -> None:
    state = constructor(message="why")
    assert (state.type, state.name, state.message) == (type_, name, "why")
    assert state.timestamp.tzinfo is timezone.utc
    assert constructor(name="Custom").name == "Custom"


@pytest.mark.parametrize("message", [None, "why", 42])
def test_the_engines_constructor_calls_build_the_state_attrs_builds(message) -> None:
    """The engine's form, ``Completed("why", data=..., run_id=...)``, skips attrs' __init__: the
    state is the one ``State(...)`` builds, field for field (``data`` included, which == skips)."""
    run_id, data = uuid.uuid4(), ValueError("x")
    for constructor in (Pending, Running, Retrying, AwaitingRetry, Completed, Failed, Crashed):
        state = constructor(message, data=data, run_id=run_id)
        expected = State(
            state.type, constructor.__name__, message, state.timestamp, data=data, run_id=run_id
        )
        assert attrs.astuple(state, recurse=False) == attrs.astuple(expected, recurse=False)
        assert state == expected and hash(state) == hash(expected)
        assert state.timestamp.tzinfo is timezone.utc
        with pytest.raises(AttributeError):
            state.message = "other"  # type: ignore[misc]


def test_predicates() -> None:
    assert Running().is_running() and Retrying().is_running()
    assert Completed().is_completed() and Completed().is_final()
    assert TimedOut().is_failed() and TimedOut().is_final()
    assert Crashed().is_crashed() and Crashed().is_final()
    assert Cancelling().is_cancelling() and not Cancelling().is_final()
    assert Cancelled().is_cancelled() and Cancelled().is_final()
    assert not AwaitingRetry().is_final() and AwaitingRetry().is_scheduled()
    assert Pending().is_pending() and not Pending().is_final()


def test_state_is_immutable() -> None:
    state = Completed()
    with pytest.raises(AttributeError):
        state.name = "Other"  # type: ignore[misc]


def test_result_of_completed_is_the_value() -> None:
    assert Completed(data=[1, 2]).result() == [1, 2]


def test_result_of_failed_is_the_original_exception() -> None:
    error = ValueError("boom")
    state = Failed(data=error)
    with pytest.raises(ValueError, match="boom") as info:
        state.result()
    assert info.value is error
    assert state.result(raise_on_failure=False) is error


def test_result_of_failed_without_exception() -> None:
    with pytest.raises(FailedRun, match="nope"):
        Failed(message="nope").result()


def test_result_of_crashed_is_chained_from_the_interrupt() -> None:
    interrupt = KeyboardInterrupt()
    error = Crashed(message="aborted", data=interrupt).result(raise_on_failure=False)
    assert isinstance(error, CrashedRun)
    assert error.__cause__ is interrupt
    with pytest.raises(CrashedRun):
        Crashed().result()


def test_result_of_cancelled_and_unfinished() -> None:
    with pytest.raises(CancelledRun):
        Cancelled().result()
    for state in (Pending(), Running(), AwaitingRetry(), Cancelling()):
        with pytest.raises(UnfinishedRun):
            state.result()
        assert isinstance(state.result(raise_on_failure=False), UnfinishedRun)


def test_repr_shows_type_only_when_name_differs() -> None:
    assert repr(Completed()) == "State(Completed)"
    assert repr(TimedOut(message="slow")) == "State(TimedOut, type=FAILED, message='slow')"


def test_transition_table() -> None:
    assert is_legal_transition(None, StateType.PENDING)
    assert not is_legal_transition(None, StateType.RUNNING)
    assert is_legal_transition(StateType.PENDING, StateType.RUNNING)
    assert is_legal_transition(StateType.RUNNING, StateType.SCHEDULED)
    assert is_legal_transition(StateType.SCHEDULED, StateType.RUNNING)
    assert is_legal_transition(StateType.CANCELLING, StateType.CANCELLED)
    assert not is_legal_transition(StateType.RUNNING, StateType.CANCELLED)
    assert not is_legal_transition(StateType.PENDING, StateType.COMPLETED)
    for final in (StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED):
        assert LEGAL_TRANSITIONS[final] == frozenset()
    for live in (StateType.PENDING, StateType.RUNNING, StateType.SCHEDULED, StateType.CANCELLING):
        assert StateType.CRASHED in LEGAL_TRANSITIONS[live]


def test_serde_round_trip_never_carries_the_result() -> None:
    from flowhook_hookspec import converter

    state = Failed(message="m", data=ValueError("secret value"))
    data = converter.unstructure(state)
    assert data["exception"] == {"type": "ValueError", "message": "secret value"}
    assert data["type"] == "FAILED"
    back = converter.structure(data, State)
    assert (back.type, back.name, back.message, back.timestamp) == (
        state.type,
        state.name,
        state.message,
        state.timestamp,
    )
    assert "result" not in converter.unstructure(Completed(data="x"))
