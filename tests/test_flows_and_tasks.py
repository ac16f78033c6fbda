from __future__ import annotations

import pytest

from flowhook import Flow, FlowRun, State, Task, TaskRun, flow, get_run_context, task
from flowhook.states import Failed


def test_the_issue_example() -> None:
    @task(retries=2, retry_delay_seconds=0)
    def extract(n: int) -> list[int]:
        return list(range(n))

    @flow(retries=1)
    def etl(n: int = 3) -> int:
        return sum(extract(n))

    assert etl(5) == 10
    state = etl(5, return_state=True)
    assert isinstance(state, State) and state.is_completed() and state.result() == 10


def test_bare_and_called_decorators() -> None:
    @flow
    def bare() -> int:
        return 1

    @flow(name="called")
    def called() -> int:
        return 2

    @task
    def bare_task() -> int:
        return 3

    assert isinstance(bare, Flow) and isinstance(called, Flow) and isinstance(bare_task, Task)
    assert (bare(), called(), bare_task()) == (1, 2, 3)
    assert bare.name == "bare" and called.name == "called" and bare_task.name == "bare_task"


def test_default_flow_name_uses_hyphens_and_keeps_function_metadata() -> None:
    @flow
    def my_etl_flow() -> None:
        """Docs."""

    assert my_etl_flow.name == "my-etl-flow"
    assert my_etl_flow.__name__ == "my_etl_flow" and my_etl_flow.__doc__ == "Docs."


def test_failure_raises_the_original_exception_and_return_state_does_not_raise() -> None:
    error = ValueError("oops")

    @flow
    def failing() -> None:
        raise error

    with pytest.raises(ValueError) as info:
        failing()
    assert info.value is error
    state = failing(return_state=True)
    assert state.is_failed() and state.name == "Failed"
    assert state.result(raise_on_failure=False) is error
    assert "ValueError: oops" in state.message


def test_task_failure_propagates_into_the_flow() -> None:
    @task
    def bad() -> None:
        raise KeyError("k")

    @flow
    def parent() -> None:
        bad()

    state = parent(return_state=True)
    assert state.is_failed() and isinstance(state.result(raise_on_failure=False), KeyError)


def test_task_return_state_lets_the_flow_continue() -> None:
    @task
    def bad() -> None:
        raise KeyError("k")

    @flow
    def parent() -> str:
        state = bad(return_state=True)
        return state.name

    assert parent() == "Failed"


def test_returning_a_state_sets_the_final_state() -> None:
    @flow
    def gives_up() -> State:
        return Failed(message="not today")

    state = gives_up(return_state=True)
    assert (state.name, state.message) == ("Failed", "not today")
    assert state.run_id is not None


def test_returning_states_inside_a_container_is_a_plain_result() -> None:
    @task
    def bad() -> None:
        raise ValueError

    @flow
    def mixed() -> tuple[str, State]:
        return "bar", bad(return_state=True)

    result = mixed()
    assert result[0] == "bar" and result[1].is_failed()


def test_returning_a_non_final_state_fails_clearly() -> None:
    from flowhook.states import Running

    @flow
    def odd() -> State:
        return Running()

    state = odd(return_state=True)
    assert state.is_failed() and "not final" in state.message


def test_run_models() -> None:
    seen: dict[str, object] = {}

    @task(tags=["t"])
    def child(x: int, y: int = 2) -> int:
        seen["task_run"] = get_run_context().task_run
        return x + y

    @flow(tags=["prod"], version="1.2")
    def parent(a: int) -> int:
        seen["flow_run"] = get_run_context().flow_run
        return child(a)

    assert parent(1) == 3
    flow_run = seen["flow_run"]
    task_run = seen["task_run"]
    assert isinstance(flow_run, FlowRun) and isinstance(task_run, TaskRun)
    assert flow_run.flow_name == "parent" and flow_run.parameters == {"a": 1}
    assert flow_run.tags == ("prod",) and flow_run.run_count == 1
    assert task_run.parameters == {"x": 1, "y": 2}  # defaults applied
    assert task_run.flow_run_id == flow_run.id and task_run.task_name == "child"
    assert [s.name for s in flow_run.state_history] == ["Pending", "Running", "Completed"]
    assert flow_run.state is flow_run.state_history[-1]
    assert flow_run.start_time is not None and flow_run.end_time is not None
    assert flow_run.start_time <= flow_run.end_time and flow_run.duration_seconds is not None
    assert all(state.run_id == flow_run.id for state in flow_run.state_history)


def test_standalone_task_run_has_no_flow() -> None:
    @task
    def alone() -> object:
        return get_run_context()

    ctx = alone()
    assert ctx.flow_run is None and ctx.task_run.flow_run_id is None


def test_subflow_has_parent_flow_run_id() -> None:
    runs: dict[str, FlowRun] = {}

    @flow
    def child() -> None:
        runs["child"] = get_run_context().flow_run

    @flow
    def parent() -> None:
        runs["parent"] = get_run_context().flow_run
        child()

    parent()
    assert runs["child"].parent_flow_run_id == runs["parent"].id
    assert runs["parent"].parent_flow_run_id is None


def test_arguments_that_do_not_bind_raise_type_error_before_any_run(recorder) -> None:
    @flow
    def f(x: int) -> int:
        return x

    with pytest.raises(TypeError, match="flow 'f'"):
        f(1, 2)
    with pytest.raises(TypeError):
        f(y=1)
    assert recorder.calls == []


def test_parameters_are_coerced_to_type_hints() -> None:
    @flow
    def f(x: int, items: list[int], free=None) -> tuple[int, list[int], object]:  # type: ignore[no-untyped-def]
        return x, items, free

    assert f("7", ["1", 2], free="as-is") == (7, [1, 2], "as-is")


def test_invalid_parameter_fails_the_run_and_fires_on_failure(calls) -> None:
    @flow(on_failure=[calls.hook("failure")])
    def f(x: int) -> int:
        raise AssertionError("the body must not run")

    state = f("x", return_state=True)
    assert state.is_failed()
    assert "'x'" in state.message and "int" in state.message
    assert calls == [("failure", "Failed", 0)]


def test_validate_parameters_false_passes_values_through() -> None:
    @flow(validate_parameters=False)
    def f(x: int) -> object:
        return x

    assert f("7") == "7"


def test_unknown_annotation_types_pass_through() -> None:
    class Custom:
        pass

    @task
    def t(c: Custom, n: int | None = None) -> object:
        return c

    value = Custom()
    assert t(value) is value


def test_flow_run_name_template_and_callable() -> None:
    names = []

    @flow(flow_run_name="etl-{n}")
    def templated(n: int) -> None:
        names.append(get_run_context().flow_run.name)

    @flow(flow_run_name=lambda: "fixed")
    def no_args() -> None:
        names.append(get_run_context().flow_run.name)

    @task(task_run_name=lambda params: f"t-{params['x']}")
    def with_params(x: int) -> None:
        names.append(get_run_context().task_run.name)

    templated(3)
    no_args()
    with_params(9)
    assert names == ["etl-3", "fixed", "t-9"]


def test_run_name_template_naming_an_unknown_parameter_is_an_error_at_definition() -> None:
    with pytest.raises(ValueError, match=r"refers to nope.*parameters are: n"):

        @flow(flow_run_name="etl-{nope}")
        def f(n: int) -> None: ...


def test_default_run_names() -> None:
    names = []

    @task
    def t() -> None:
        names.append(get_run_context().task_run.name)

    @flow
    def f() -> None:
        names.append(get_run_context().flow_run.name)
        t()

    f()
    assert "-" in names[0] and names[1].startswith("t-")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"retries": -1}, "retries"),
        ({"retries": 1.5}, "retries"),
        ({"timeout_seconds": -1}, "timeout_seconds"),
        ({"tags": "prod"}, "tags"),
        ({"retry_delay_seconds": -1}, "retry_delay_seconds"),
        ({"retry_delay_seconds": "soon"}, "retry_delay_seconds"),
        ({"retry_jitter_factor": -0.1}, "retry_jitter_factor"),
        ({"retry_condition_fn": "yes"}, "retry_condition_fn"),
    ],
)
def test_bad_options_are_clear_errors(options, message) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        task(**options)(lambda: None)


def test_generators_are_refused_clearly() -> None:
    def gen():  # type: ignore[no-untyped-def]
        yield 1

    with pytest.raises(TypeError, match="is a generator"):
        flow(gen)
