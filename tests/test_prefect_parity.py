"""Prefect's semantics where flowhook follows them (issue 14): returned states, cancellation of
subflows, async retry conditions, timeouts, default retries, Prefect's import paths, options."""

from __future__ import annotations

import asyncio
import importlib
import threading
import time
import warnings

import pytest

from flowhook import CancelledRun, State, StateType, cancel_flow_run, flow, get_run_context, task
from flowhook.exceptions import ConfigError
from flowhook.states import Cancelled, Cancelling, Completed

# -- item 1: a body returning Cancelling or Cancelled ends Cancelled --------------------------


@pytest.mark.parametrize("returned", [Cancelling, Cancelled])
def test_a_returned_cancelling_or_cancelled_state_ends_cancelled(returned, calls) -> None:
    @flow(
        on_cancellation=[calls.hook("cancellation")],
        on_failure=[calls.hook("failure")],
    )
    def stopping() -> State:
        return returned(message="enough")

    state = stopping(return_state=True)
    assert state.is_cancelled() and state.message == "enough"
    assert calls == [("cancellation", "Cancelling", 1)]


def test_a_parent_whose_subflow_returned_cancelling_ends_failed() -> None:
    @flow
    def child() -> State:
        return Cancelling()

    @flow
    def parent() -> None:
        child()

    state = parent(return_state=True)
    assert state.is_failed()
    assert isinstance(state.exception, CancelledRun)


# -- item 2: cancelling a flow run cancels its running subflows --------------------------------


def test_cancelling_a_parent_cancels_its_running_subflow_first(calls) -> None:
    parent_ids = []

    @task
    def step() -> None:
        # Another thread cancels the parent while this task of the subflow runs.
        operator = threading.Thread(target=cancel_flow_run, args=(parent_ids[0],))
        operator.start()
        operator.join(30)

    @flow(on_cancellation=[calls.hook("child")], on_completion=[calls.hook("child")])
    def child() -> None:
        step()
        step()

    @flow(on_cancellation=[calls.hook("late")], on_completion=[calls.hook("late")])
    def late() -> None:
        calls.append("late body ran")

    @flow(on_cancellation=[calls.hook("parent")], on_completion=[calls.hook("parent")])
    def parent() -> tuple[State, State]:
        parent_ids.append(get_run_context().flow_run.id)
        return child(return_state=True), late(return_state=True)

    state = parent(return_state=True)
    assert state.is_cancelled()
    assert calls == [
        ("child", "Cancelling", 1),
        ("parent", "Cancelling", 1),
        ("late", "Cancelling", 0),  # started after its parent was cancelled: no body, no attempt
    ]


# -- item 3: an async retry_condition_fn is awaited --------------------------------------------


@pytest.mark.parametrize("answer", [True, False])
def test_an_async_retry_condition_is_awaited(answer) -> None:
    attempts = []

    async def condition(task, task_run, state) -> bool:
        await asyncio.sleep(0)
        return answer

    @task(retries=2, retry_condition_fn=condition)
    def flaky() -> None:
        attempts.append(1)
        raise ValueError("no")

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine was never awaited" fails the test
        state = flaky(return_state=True)
    assert state.is_failed()
    assert len(attempts) == (3 if answer else 1)


def test_an_async_retry_condition_in_an_async_flow() -> None:
    attempts = []

    async def never(task, task_run, state) -> bool:
        return False

    @task(retries=2, retry_condition_fn=never)
    async def flaky() -> None:
        attempts.append(1)
        raise ValueError("no")

    @flow
    async def f() -> State:
        return await flaky(return_state=True)

    asyncio.run(f(return_state=True))
    assert attempts == [1]


# -- item 4: timeout_seconds=0 means no timeout -----------------------------------------------


def test_timeout_zero_means_no_timeout() -> None:
    slow = task(lambda: time.sleep(0.05) or "done").with_options(timeout_seconds=0)
    assert slow.timeout_seconds is None
    assert slow() == "done"
    with pytest.raises(ValueError, match="timeout_seconds takes a number of seconds >= 0"):
        slow.with_options(timeout_seconds=-1)


# -- item 6: returned states aggregate as in Prefect ------------------------------------------


@task
def fails() -> None:
    raise ValueError("Test")


@task
def succeeds() -> int:
    return 1


def test_a_returned_failed_task_state_fails_the_flow() -> None:
    @flow
    def foo() -> State:
        return fails(return_state=True)

    state = foo(return_state=True)
    assert state.is_failed() and state.message == "1/1 states failed."
    inner = state.result(raise_on_failure=False)
    assert isinstance(inner, ValueError)  # the returned state's own exception
    assert isinstance(state.data, State) and state.data.is_failed()
    with pytest.raises(ValueError, match="Test"):
        foo()


def test_returned_task_states_are_combined() -> None:
    @flow
    def foo() -> tuple[State, ...]:
        return fails(return_state=True), fails(return_state=True), succeeds(return_state=True)

    state = foo(return_state=True)
    assert state.is_failed() and state.message == "2/3 states failed."
    first, second, third = state.data
    assert first.is_failed() and second.is_failed() and third.is_completed()


def test_returned_futures_count_as_their_states() -> None:
    @task
    def cancel() -> State:
        return Cancelled()

    @flow
    def foo() -> tuple[object, ...]:
        return cancel.submit(), succeeds.submit(), fails.submit()

    state = foo(return_state=True)
    assert state.is_cancelled() and state.message == "1/3 states cancelled."


def test_all_completed_states_complete_the_flow() -> None:
    @flow
    def foo() -> list[State]:
        return [succeeds(return_state=True), succeeds(return_state=True)]

    state = foo(return_state=True)
    assert state.is_completed() and state.message == "All states completed."
    assert [s.result() for s in foo()] == [1, 1]


def test_a_state_made_by_the_body_is_used_as_given() -> None:
    @flow
    def foo() -> State:
        return Completed(message="made here", data=7)

    assert foo() == 7


# -- item 10: Prefect's import paths ----------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "flowhook.tasks.exponential_backoff",
        "flowhook.tasks.task",
        "flowhook.flows.flow",
        "flowhook.logging.get_run_logger",
        "flowhook.logging.loggers.flow_run_logger",
        "flowhook.logging.loggers.task_run_logger",
        "flowhook.blocks.core.Block",
        "flowhook.context.get_run_context",
        "flowhook.states.Completed",
        "flowhook.exceptions.ParameterTypeError",
        "flowhook.exceptions.FailedRun",
        "flowhook.exceptions.UnfinishedRun",
        "flowhook.exceptions.CrashedRun",
        "flowhook.exceptions.CancelledRun",
        "flowhook.exceptions.MissingContextError",
        "flowhook.futures.wait",
        "flowhook.futures.as_completed",
    ],
)
def test_prefect_import_paths_resolve(path: str) -> None:
    module, _, name = path.rpartition(".")
    assert getattr(importlib.import_module(module), name) is not None


def test_a_state_without_a_name_is_named_after_its_type() -> None:
    assert State(type=StateType.COMPLETED).name == "Completed"
    assert State(type=StateType.CANCELLING).name == "Cancelling"


def test_wait_and_as_completed() -> None:
    from flowhook.futures import as_completed, wait

    @flow
    def f() -> tuple[int, list[int]]:
        futures = [succeeds.submit() for _ in range(3)]
        done, not_done = wait(futures)
        return len(done) + len(not_done) * 100, [f.result() for f in as_completed(futures)]

    assert f() == (3, [1, 1, 1])


def test_flows_accept_wait_for() -> None:
    order = []

    @task
    def first() -> None:
        time.sleep(0.1)
        order.append("task")

    @flow
    def child() -> None:
        order.append("subflow")

    @flow
    def parent() -> State:
        future = first.submit()
        child(wait_for=[future])
        return child(wait_for=[fails.submit()], return_state=True)

    state = parent(return_state=True)
    assert order == ["task", "subflow"]
    assert state.is_failed() and state.data.name == "UpstreamFailed"


# -- item 11: default retries from the environment --------------------------------------------


@pytest.mark.parametrize("subject", ["task", "flow"])
def test_default_retries_come_from_the_environment(subject, monkeypatch) -> None:
    monkeypatch.setenv(f"FLOWHOOK_{subject.upper()}_DEFAULT_RETRIES", "2")
    monkeypatch.setenv(f"FLOWHOOK_{subject.upper()}_DEFAULT_RETRY_DELAY_SECONDS", "0")
    attempts = []
    decorator = task if subject == "task" else flow

    @decorator
    def flaky() -> None:
        attempts.append(1)
        raise ValueError

    assert flaky.retries == 2
    flaky(return_state=True)
    assert len(attempts) == 3
    assert decorator(retries=0)(lambda: None).retries == 0  # an explicit option wins


def test_default_retry_delays_may_be_a_list(monkeypatch) -> None:
    monkeypatch.setenv("FLOWHOOK_TASK_DEFAULT_RETRY_DELAY_SECONDS", "1,10,60")
    assert task(lambda: None).retry_delay_seconds == [1, 10, 60]
    assert flow(lambda: None).retry_delay_seconds == 0


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FLOWHOOK_TASK_DEFAULT_RETRIES", "three"),
        ("FLOWHOOK_TASK_DEFAULT_RETRIES", "-1"),
        ("FLOWHOOK_TASK_DEFAULT_RETRY_DELAY_SECONDS", "soon"),
        ("FLOWHOOK_TASK_DEFAULT_RETRY_DELAY_SECONDS", "-5"),
    ],
)
def test_bad_default_retries_are_one_clear_error(variable, value, monkeypatch) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=f"{variable} takes .*; got '{value}'"):
        task(lambda: None)


# -- issue 18 item 4: misspelt options --------------------------------------------------------


@pytest.mark.parametrize("decorator", [flow, task])
def test_a_misspelt_option_says_did_you_mean(decorator) -> None:
    with pytest.raises(TypeError, match="unknown option 'retires'; did you mean 'retries'\\?"):
        decorator(retires=3)
    with pytest.raises(TypeError, match="unknown option 'retires'; did you mean 'retries'\\?"):
        decorator(lambda: None).with_options(retires=3)
    with pytest.raises(TypeError, match=r"unknown option 'zzz'; its options: .*description, "):
        decorator(zzz=1)
