from __future__ import annotations

import logging
from functools import partial

import pytest

from flowhook import exponential_backoff, flow, task


def always_fails() -> None:
    raise ConnectionError("down")


def delays_seen(recorder, hook: str = "on_task_run_retry") -> list[float]:
    return [
        (call.state.scheduled_time - call.state.timestamp).total_seconds()
        for call in recorder.called(hook)
    ]


def test_exponential_backoff() -> None:
    assert exponential_backoff(backoff_factor=2)(4) == [2, 4, 8, 16]
    assert exponential_backoff(1)(0) == []
    with pytest.raises(ValueError):
        exponential_backoff(-1)


def test_retries_mean_n_plus_one_attempts_with_state_sequence(recorder) -> None:
    t = task(retries=2)(always_fails)
    state = t(return_state=True)
    assert state.is_failed()
    assert recorder.state_names("on_task_run_state_change") == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "AwaitingRetry",
        "Retrying",
        "Failed",
    ]
    assert recorder.called("on_task_run_failure")[0].kwargs["task_run"].run_count == 3


def test_flow_retries_rerun_the_body(recorder) -> None:
    attempts = []

    @flow(retries=1)
    def f() -> None:
        attempts.append(1)
        raise ValueError

    f(return_state=True)
    assert len(attempts) == 2
    assert recorder.state_names() == ["Pending", "Running", "AwaitingRetry", "Retrying", "Failed"]


def test_retry_state_carries_the_failure(recorder) -> None:
    task(retries=1)(always_fails)(return_state=True)
    retry = recorder.called("on_task_run_retry")[0].state
    assert isinstance(retry.exception, ConnectionError)
    assert "ConnectionError: down" in retry.message and "retry 1/1" in retry.message


@pytest.mark.parametrize(
    ("delay", "retries", "expected"),
    [
        (0.01, 2, [0.01, 0.01]),
        ([0.01, 0.02], 3, [0.01, 0.02, 0.02]),  # a short list repeats its last value
        (exponential_backoff(0.005), 3, [0.005, 0.01, 0.02]),
        ([], 1, [0.0]),
    ],
)
def test_retry_delays(recorder, delay, retries, expected) -> None:
    task(retries=retries, retry_delay_seconds=delay)(always_fails)(return_state=True)
    assert delays_seen(recorder) == pytest.approx(expected, abs=1e-6)


def test_callable_delays_follow_with_options_retries(recorder) -> None:
    t = task(retries=1, retry_delay_seconds=exponential_backoff(0.001))(always_fails)
    t.with_options(retries=3)(return_state=True)
    assert delays_seen(recorder) == pytest.approx([0.001, 0.002, 0.004], abs=1e-6)


def test_jitter_stays_within_bounds_and_varies(recorder) -> None:
    task(retries=8, retry_delay_seconds=0.004, retry_jitter_factor=0.5)(always_fails)(
        return_state=True
    )
    seen = delays_seen(recorder)
    assert len(seen) == 8
    assert all(0.002 - 1e-9 <= d <= 0.006 + 1e-9 for d in seen)
    assert len({round(d, 9) for d in seen}) > 1


def condition_on_type(task, task_run, state, retry_on=ConnectionError) -> bool:
    return isinstance(state.exception, retry_on)


class OnlyFirstRetries:
    def __init__(self) -> None:
        self.calls = []

    def __call__(self, task, task_run, state) -> bool:
        self.calls.append(task_run.run_count)
        return task_run.run_count < 2


@pytest.mark.parametrize(
    ("condition", "attempts"),
    [
        (condition_on_type, 4),
        (partial(condition_on_type, retry_on=KeyError), 1),
        (OnlyFirstRetries(), 2),
        (lambda task, task_run, state: False, 1),
    ],
)
def test_retry_condition_fn_any_callable(recorder, condition, attempts) -> None:
    task(retries=3, retry_condition_fn=condition)(always_fails)(return_state=True)
    assert len(recorder.called("on_task_run_running")) == attempts
    assert len(recorder.called("on_task_run_failure")) == 1


def test_retry_condition_receives_task_run_and_failed_state() -> None:
    seen = []

    def condition(task, task_run, state) -> bool:
        seen.append((task.name, task_run.run_count, state.name, type(state.exception)))
        return True

    task(retries=1, retry_condition_fn=condition)(always_fails)(return_state=True)
    assert seen == [("always_fails", 1, "Failed", ConnectionError)]


def test_a_raising_retry_condition_stops_retrying_and_is_logged(recorder, caplog) -> None:
    def broken(task, task_run, state) -> bool:
        raise RuntimeError("condition bug")

    with caplog.at_level(logging.ERROR, logger="flowhook.engine"):
        state = task(retries=3, retry_condition_fn=broken)(always_fails)(return_state=True)
    assert state.is_failed() and len(recorder.called("on_task_run_running")) == 1
    assert any("retry_condition_fn" in r.getMessage() for r in caplog.records)


def test_returned_failed_state_is_retried(recorder) -> None:
    from flowhook.states import Failed

    attempts = []

    @task(retries=1)
    def gives_up() -> object:
        attempts.append(1)
        return Failed(message="soft failure")

    assert gives_up(return_state=True).message == "soft failure"
    assert len(attempts) == 2
