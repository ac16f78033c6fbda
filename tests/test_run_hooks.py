"""The state hooks a flow or task carries: on_running, on_retry, on_completion, on_failure,
on_cancellation, on_crashed."""

from __future__ import annotations

import logging
from functools import partial

import pytest

from flowhook import flow, get_run_context, get_run_logger, task
from flowhook.states import Cancelled, Completed, Failed, TimedOut

EVENTS = ("running", "retry", "completion", "failure", "cancellation", "crashed")


def all_hooks(calls, prefix: str) -> dict:
    return {f"on_{event}": [calls.hook(f"{prefix}.{event}")] for event in EVENTS}


@pytest.mark.parametrize("decorator", [flow, task])
def test_completion_fires_running_then_completion_only(decorator, calls) -> None:
    fn = decorator(**all_hooks(calls, "x"))(lambda: 1)
    assert fn() == 1
    assert calls == [("x.running", "Running", 1), ("x.completion", "Completed", 1)]


@pytest.mark.parametrize("decorator", [flow, task])
def test_failure_with_retries_fires_failure_once_after_the_last_attempt(decorator, calls) -> None:
    def boom() -> None:
        raise ValueError("no")

    fn = decorator(retries=2, **all_hooks(calls, "x"))(boom)
    state = fn(return_state=True)
    assert state.is_failed()
    assert calls == [
        ("x.running", "Running", 1),
        ("x.retry", "AwaitingRetry", 1),
        ("x.running", "Retrying", 2),
        ("x.retry", "AwaitingRetry", 2),
        ("x.running", "Retrying", 3),
        ("x.failure", "Failed", 3),
    ]


@pytest.mark.parametrize("decorator", [flow, task])
def test_success_after_a_retry_fires_no_failure(decorator, calls) -> None:
    attempts = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 2:
            raise RuntimeError("first time")
        return "ok"

    fn = decorator(retries=3, **all_hooks(calls, "x"))(flaky)
    assert fn() == "ok"
    assert [c[0] for c in calls] == ["x.running", "x.retry", "x.running", "x.completion"]


@pytest.mark.parametrize("decorator", [flow, task])
def test_returned_timed_out_fires_on_failure(decorator, calls) -> None:
    fn = decorator(**all_hooks(calls, "x"))(lambda: TimedOut(message="too slow"))
    state = fn(return_state=True)
    assert state.name == "TimedOut"
    assert calls[-1] == ("x.failure", "TimedOut", 1)


@pytest.mark.parametrize("decorator", [flow, task])
def test_returned_cancelled_passes_cancelling_and_fires_on_cancellation_once(
    decorator, calls, recorder
) -> None:
    fn = decorator(**all_hooks(calls, "x"))(lambda: Cancelled(message="stop"))
    state = fn(return_state=True)
    assert state.is_cancelled()
    assert calls == [("x.running", "Running", 1), ("x.cancellation", "Cancelling", 1)]
    kind = "flow" if decorator is flow else "task"
    assert recorder.state_names(f"on_{kind}_run_state_change") == [
        "Pending",
        "Running",
        "Cancelling",
        "Cancelled",
    ]


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_flow_crash_fires_on_crashed_and_reraises(interrupt, calls) -> None:
    @flow(**all_hooks(calls, "f"))
    def crashing() -> None:
        raise interrupt()

    with pytest.raises(interrupt):
        crashing()
    assert calls == [("f.running", "Running", 1), ("f.crashed", "Crashed", 1)]


def test_task_crash_fires_task_and_flow_crash_hooks_and_running_once(calls, recorder) -> None:
    @task(**all_hooks(calls, "t"))
    def crashing() -> None:
        raise KeyboardInterrupt

    @flow(**all_hooks(calls, "f"))
    def parent() -> None:
        crashing()

    with pytest.raises(KeyboardInterrupt):
        parent()
    assert calls == [
        ("f.running", "Running", 1),
        ("t.running", "Running", 1),
        ("t.crashed", "Crashed", 1),
        ("f.crashed", "Crashed", 1),
    ]
    crashed = recorder.called("on_flow_run_crashed")[0].state
    assert "interrupt signal" in crashed.message
    assert isinstance(crashed.exception, KeyboardInterrupt)


def test_keyword_hooks_run_before_decorated_ones_in_registration_order(calls) -> None:
    @flow(on_completion=[calls.hook("kw1"), calls.hook("kw2")])
    def f() -> None: ...

    @f.on_completion
    def deco(flow, flow_run, state) -> None:
        calls.append(("deco", state.name, flow_run.run_count))

    f()
    assert [c[0] for c in calls] == ["kw1", "kw2", "deco"]


def test_hooks_receive_flow_run_and_state_positionally() -> None:
    seen = []

    @flow
    def f(x: int) -> int:
        return x

    @f.on_completion
    def hook(flow, flow_run, state) -> None:
        seen.append((flow, flow_run.parameters, state.result()))

    f(4)
    assert seen == [(f, {"x": 4}, 4)]


def test_decorator_returns_the_function_for_every_event() -> None:
    @task
    def t() -> None: ...

    for event in EVENTS:

        def hook(task, task_run, state) -> None: ...

        assert getattr(t, f"on_{event}")(hook) is hook
        assert hook in getattr(t, f"on_{event}_hooks")


def test_partial_and_default_arguments_work(calls) -> None:
    received = {}

    def my_hook(task, task_run, state, x, y=0, **kwargs) -> None:
        received.update(x=x, y=y, state=state)

    def with_default(task, task_run, state, flag=True) -> None:
        received["flag"] = flag

    t = task(lambda: 1).with_options(on_completion=[partial(my_hook, x="foo", y=42), with_default])
    t()
    assert received["x"] == "foo" and received["y"] == 42 and received["flag"] is True


def test_callable_objects_are_hooks() -> None:
    class Alert:
        def __init__(self) -> None:
            self.states = []

        def __call__(self, flow, flow_run, state) -> None:
            self.states.append(state.name)

    alert = Alert()
    f = flow(on_failure=[alert])(lambda: Failed())
    f(return_state=True)
    assert alert.states == ["Failed"]


def test_with_options_copies_replaces_and_clears_hook_lists(calls) -> None:
    original_hook = calls.hook("original")

    @flow(on_completion=[original_hook])
    def f() -> None: ...

    copy = f.with_options(name="copy")
    assert copy.on_completion_hooks == [original_hook]
    assert copy.on_completion_hooks is not f.on_completion_hooks

    @copy.on_completion
    def only_on_copy(flow, flow_run, state) -> None: ...

    assert only_on_copy not in f.on_completion_hooks  # no aliasing

    replaced = f.with_options(on_completion=[calls.hook("new")])
    replaced()
    cleared = f.with_options(on_completion=[])
    cleared()
    assert [c[0] for c in calls] == ["new"]
    assert cleared.on_completion_hooks == [] and f.on_completion_hooks == [original_hook]
    assert copy.name == "copy" and f.name == "f"


def test_with_options_validates_like_the_decorator() -> None:
    t = task(lambda: 1)
    with pytest.raises(ValueError, match="retries"):
        t.with_options(retries=-2)
    with pytest.raises(TypeError):
        t.with_options(bogus=1)  # type: ignore[call-arg]


def test_hook_validation_errors_show_usage() -> None:
    def two_args(flow, flow_run) -> None: ...

    with pytest.raises(TypeError, match=r"(?s)takes a list of hooks.*Usage") as info:
        flow(on_failure=two_args)(lambda: None)  # type: ignore[arg-type]
    assert "@flow(on_failure=[hook1, hook2])" in str(info.value)
    with pytest.raises(TypeError, match="must be callables"):
        flow(on_failure=["not callable"])(lambda: None)
    with pytest.raises(TypeError, match=r"cannot be called as hook\(flow, flow_run, state\)"):
        flow(on_failure=[two_args])(lambda: None)
    t = task(lambda: None)
    with pytest.raises(TypeError, match=r"hook\(task, task_run, state\)"):
        t.on_completion(two_args)
    with pytest.raises(TypeError, match="must be callables"):
        t.on_completion(42)  # type: ignore[type-var]


def test_a_raising_hook_is_logged_and_skipped(calls, caplog) -> None:
    def broken(flow, flow_run, state) -> None:
        raise RuntimeError("hook bug")

    f = flow(on_completion=[calls.hook("before"), broken, calls.hook("after")])(lambda: 5)
    with caplog.at_level(logging.ERROR, logger="flowhook.hooks"):
        assert f() == 5
    assert [c[0] for c in calls] == ["before", "after"]
    record = next(r for r in caplog.records if r.name == "flowhook.hooks")
    assert "broken" in record.getMessage() and "RuntimeError: hook bug" in record.getMessage()
    assert record.exc_info is not None


def test_a_base_exception_in_a_hook_lets_the_others_run_then_propagates(calls, recorder) -> None:
    def interrupt(flow, flow_run, state) -> None:
        raise SystemExit(3)

    f = flow(on_completion=[interrupt, calls.hook("after")])(lambda: 5)
    with pytest.raises(SystemExit):
        f()
    assert [c[0] for c in calls] == ["after"]
    # the run stays Completed: a BaseException after the final state does not change it
    assert recorder.state_names() == ["Pending", "Running", "Completed"]
    assert len(recorder.called("on_flow_run_completion")) == 1


def test_strict_hooks_raise_after_the_others_ran(calls, monkeypatch, recorder) -> None:
    monkeypatch.setenv("FLOWHOOK_STRICT_HOOKS", "1")

    def broken(flow, flow_run, state) -> None:
        raise RuntimeError("strict")

    f = flow(on_completion=[broken, calls.hook("after")])(lambda: 5)
    with pytest.raises(RuntimeError, match="strict"):
        f()
    assert [c[0] for c in calls] == ["after"]
    assert recorder.state_names()[-1] == "Completed"


def test_context_and_logger_work_in_the_body_and_in_every_hook(caplog) -> None:
    seen = []

    def hook(flow, flow_run, state) -> None:
        ctx = get_run_context()
        assert ctx.flow_run is flow_run
        get_run_logger().info("in hook %s", state.name)
        seen.append(state.name)

    @task(on_running=[lambda t, r, s: seen.append(get_run_context().task_run.name)])
    def t() -> None:
        get_run_logger().info("in task")

    @flow(on_running=[hook], on_completion=[hook], flow_run_name="named")
    def f() -> None:
        get_run_logger().info("in body")
        t()

    with caplog.at_level(logging.INFO):
        f()
    messages = [r.getMessage() for r in caplog.records]
    assert "Flow run 'named' - in body" in messages
    assert "Flow run 'named' - in hook Completed" in messages
    assert any(m.startswith("Task run 't-") and m.endswith("in task") for m in messages)
    task_record = next(r for r in caplog.records if r.getMessage().endswith("in task"))
    assert task_record.name == "flowhook.task_runs" and task_record.flow_run_name == "named"


def test_get_run_context_outside_a_run_raises() -> None:
    from flowhook import MissingContextError

    with pytest.raises(MissingContextError, match="inside a flow or task"):
        get_run_context()
    with pytest.raises(MissingContextError):
        get_run_logger()


def test_hooks_can_not_change_the_result() -> None:
    @flow
    def f() -> int:
        return 1

    @f.on_completion
    def meddle(flow, flow_run, state) -> Completed:
        return Completed(data=2)

    assert f() == 1
