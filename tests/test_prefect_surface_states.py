"""Prefect's state helpers, state constructors and exceptions (issue 24, item 1).

Prefect's behaviour relied on, read in Prefect 3's source:
- ``src/prefect/states.py``: ``Completed(cls=State, **kwargs)`` and its siblings take the state
  class first; ``get_state_exception`` returns the exception a Failed (``FailedRun``), Crashed
  (``CrashedRun``) or Cancelled (``CancelledRun``) state stands for, the message or the data
  string when it holds no exception, the first failure of the states it holds, and raises
  ``ValueError`` for any other state; ``raise_state_exception`` raises it and returns None for
  other states; ``is_state_iterable`` is true for a non-empty list, tuple or set of states only;
  ``StateGroup`` counts states by type.
- ``src/prefect/exceptions.py``: every error derives from ``PrefectException``;
  ``SignatureMismatchError`` is also a ``TypeError``; ``ObjectNotFound(http_exc, help_message)``
  prints its help message; ``PrefectSignal`` (``Abort``, ``Pause``) and ``ExternalSignal``
  (``TerminationSignal(signal)``) derive from ``BaseException``.
- ``src/prefect/utilities/engine/__init__.py``: a task whose upstream did not complete does not
  run, with ``UpstreamTaskError``.
"""

from __future__ import annotations

import asyncio
import signal
import threading

import pytest

import flowhook
from flowhook import flow, task
from flowhook.exceptions import (
    Abort,
    CancelledRun,
    ConfigError,
    ConfigurationError,
    CrashedRun,
    FailedRun,
    FlowhookError,
    MappingLengthMismatch,
    MappingMissingIterable,
    MissingContextError,
    MissingResult,
    ObjectNotFound,
    ParameterBindError,
    ParameterTypeError,
    Pause,
    PrefectException,
    SerializationError,
    SignatureMismatchError,
    TerminationSignal,
    UpstreamTaskError,
)
from flowhook.states import (
    AwaitingRetry,
    Cancelled,
    Completed,
    Crashed,
    Failed,
    Pending,
    Running,
    State,
    StateGroup,
    StateType,
    aget_state_exception,
    araise_state_exception,
    get_state_exception,
    is_state_iterable,
    raise_state_exception,
)
from flowhook.store import StoreError

# -- constructors -------------------------------------------------------------------------------


def test_state_constructors_take_prefects_positional_form() -> None:
    completed = Completed(State, message="done", data=5)
    assert (completed.type, completed.name, completed.message, completed.result()) == (
        StateType.COMPLETED,
        "Completed",
        "done",
        5,
    )
    failed = Failed(State, message="broke", name="Broken")
    assert (failed.type, failed.name, failed.message) == (StateType.FAILED, "Broken", "broke")
    assert Running(State).is_running() and AwaitingRetry(State).name == "AwaitingRetry"
    assert Completed("flowhook's form").message == "flowhook's form"
    assert Completed(message="by keyword").message == "by keyword"


def test_a_state_constructor_given_another_class_says_what_it_takes() -> None:
    with pytest.raises(TypeError, match="takes a message or a State class first, got int"):
        Completed(int)


# -- get_state_exception, raise_state_exception ---------------------------------------------------


def test_get_state_exception_returns_the_exception_a_state_stands_for() -> None:
    error = ValueError("boom")
    assert get_state_exception(Failed(data=error)) is error
    interrupt = KeyboardInterrupt()
    assert get_state_exception(Crashed(data=interrupt)) is interrupt
    wrapped = get_state_exception(Failed("it broke"))
    assert type(wrapped) is FailedRun and str(wrapped) == "it broke"
    assert str(get_state_exception(Failed())) == "Run failed."
    assert type(get_state_exception(Crashed())) is CrashedRun
    assert str(get_state_exception(Cancelled())) == "Run cancelled."
    assert type(get_state_exception(Cancelled())) is CancelledRun
    from_text = get_state_exception(Failed(data="text as data"))
    assert type(from_text) is FailedRun and str(from_text) == "text as data"


def test_get_state_exception_of_held_states_is_the_first_failure() -> None:
    error = KeyError("k")
    assert get_state_exception(Failed(data=Failed(data=error))) is error
    held = [Completed(), Cancelled("stopped"), Failed(data=error)]
    assert str(get_state_exception(Failed(data=held))) == "stopped"
    with pytest.raises(ValueError, match="none of which failed"):
        get_state_exception(Failed(data=[Completed()]))
    with pytest.raises(TypeError, match="does not stand for an exception"):
        get_state_exception(Failed(data=42))


def test_get_state_exception_of_a_state_that_did_not_fail_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="takes a Failed, Crashed or Cancelled state"):
        get_state_exception(Completed())


def test_the_async_forms_do_the_same() -> None:
    error = ValueError("boom")
    assert asyncio.run(aget_state_exception(Failed(data=error))) is error
    assert asyncio.run(araise_state_exception(Completed())) is None
    with pytest.raises(ValueError, match="boom"):
        asyncio.run(araise_state_exception(Failed(data=error)))


def test_raise_state_exception_raises_for_failures_only() -> None:
    assert raise_state_exception(Completed(data=1)) is None
    assert raise_state_exception(Running()) is None
    with pytest.raises(ValueError, match="boom"):
        raise_state_exception(Failed(data=ValueError("boom")))
    with pytest.raises(CancelledRun):
        raise_state_exception(Cancelled())


def test_is_state_iterable() -> None:
    assert is_state_iterable([Completed(), Failed()])
    assert is_state_iterable((Completed(),)) and is_state_iterable({Pending()})
    assert not is_state_iterable([])
    assert not is_state_iterable([Completed(), 1])
    assert not is_state_iterable({"a": Completed()})
    assert not is_state_iterable(flowhook.unmapped([Completed()]))


def test_state_group_counts_states() -> None:
    group = StateGroup([Completed(), Failed(), Crashed(), Cancelled(), Running()])
    assert group.total_count == 5 and group.final_count == 4 and group.not_final_count == 1
    assert group.fail_count == 2 and group.cancelled_count == 1 and group.paused_count == 0
    assert group.any_failed() and group.any_cancelled() and not group.any_paused()
    assert not group.all_completed() and not group.all_final()
    assert group.counts_message() == (
        "total=5, not_final=1, 'COMPLETED'=1, 'FAILED'=1, 'CRASHED'=1, 'CANCELLED'=1, 'RUNNING'=1"
    )
    assert repr(group) == f"StateGroup<{group.counts_message()}>"
    done = StateGroup([Completed(), Completed()])
    assert done.all_completed() and done.all_final() and not done.any_failed()


# -- exceptions ---------------------------------------------------------------------------------


def test_every_flowhook_error_is_a_prefect_exception() -> None:
    assert PrefectException is FlowhookError
    assert ConfigurationError is ConfigError
    for error in (
        FailedRun,
        CrashedRun,
        CancelledRun,
        MissingContextError,
        ParameterTypeError,
        ParameterBindError,
        ConfigError,
        UpstreamTaskError,
        MissingResult,
        SignatureMismatchError,
        ObjectNotFound,
        SerializationError,
        flowhook.NotificationError,
        flowhook.PluginError,
        StoreError,
    ):
        assert issubclass(error, PrefectException), error


def test_signature_mismatch_error() -> None:
    error = SignatureMismatchError.from_bad_params(["x", "y"], ["z"])
    assert isinstance(error, TypeError)
    assert "['x', 'y']" in str(error) and "['z']" in str(error)


def test_object_not_found_shows_its_help_message() -> None:
    cause = LookupError("404")
    error = ObjectNotFound(cause, "no block named 'x'")
    assert error.http_exc is cause and str(error) == "no block named 'x'"


def test_signals_are_base_exceptions_not_caught_by_except_exception() -> None:
    paused = Completed()
    for signal_error in (Abort("stop"), Pause(state=paused), TerminationSignal(signal.SIGTERM)):
        assert not isinstance(signal_error, Exception)
    assert Pause(state=paused).state is paused
    assert TerminationSignal(signal.SIGTERM).signal == signal.SIGTERM


def test_a_task_whose_upstream_failed_holds_upstream_task_error() -> None:
    @task
    def broken() -> int:
        raise ValueError("no")

    @task
    def downstream(value: int) -> int:
        return value  # pragma: no cover

    seen: list[State] = []

    @flow
    def job() -> None:
        seen.append(downstream(broken.submit(), return_state=True))

    job()
    (state,) = seen
    assert state.name == "UpstreamFailed"
    with pytest.raises(UpstreamTaskError, match="upstream task run 'broken-"):
        state.result()
    assert isinstance(get_state_exception(state), UpstreamTaskError)


def test_map_errors_are_prefects_mapping_errors() -> None:
    """``src/prefect/utilities/callables/__init__.py``: ``MappingMissingIterable`` for an
    argument that is not iterable, ``MappingLengthMismatch`` for iterables of different
    lengths."""

    @task
    def add(x: int, y: int) -> int:
        return x + y  # pragma: no cover

    @flow
    def mapped(x: object, y: object) -> None:
        add.map(x, y)

    with pytest.raises(MappingMissingIterable, match="wrap values to pass whole"):
        mapped(5, [1])
    with pytest.raises(MappingLengthMismatch, match="needs iterables of one length"):
        mapped([1, 2], [1])
    assert issubclass(MappingMissingIterable, TypeError)
    assert issubclass(MappingLengthMismatch, ValueError)


@pytest.mark.parametrize("serializer", ["json", "pickle"])
def test_a_result_the_serializer_cannot_hold_is_a_serialization_error(serializer: str) -> None:
    """``src/prefect/_internal/result_records.py``: a result that cannot be serialized is a
    ``SerializationError`` naming the serializer."""
    from flowhook.serializers import JSONSerializer, PickleSerializer

    chosen = JSONSerializer() if serializer == "json" else PickleSerializer()
    unpicklable = threading.Lock()
    with pytest.raises(SerializationError, match=f"result_serializer='{serializer}' cannot"):
        chosen.dumps(unpicklable)
