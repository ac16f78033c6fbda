"""The engine's hot path skips hook dispatch when nothing listens, and calls bodies without
walking their signature. These tests prove the shortcuts see every change a user can make:
hooks added to a task after it ran, plugins registered or unregistered while runs go on."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import flowhook
from flowhook import _engine as engine
from flowhook import flow, hookimpl, task
from flowhook.context import TaskRunContext
from flowhook.testing import HookRecorder, PluginManager


def test_a_hook_added_after_a_task_ran_fires_on_its_next_run(calls) -> None:
    @task
    def work() -> int:
        return 1

    assert work() == 1
    work.on_completion(calls.hook("done"))
    work.on_running(calls.hook("running"))
    assert work() == 1
    assert calls == [("running", "Running", 1), ("done", "Completed", 1)]


def test_a_hook_added_between_two_task_runs_of_one_flow_run_fires_on_the_second(calls) -> None:
    @task
    def work(n: int) -> int:
        return n

    @flow
    def pipeline() -> list[int]:
        first = work(1)
        work.on_completion(calls.hook("done"))
        return [first, work(2)]

    assert pipeline() == [1, 2]
    assert calls == [("done", "Completed", 1)]


def test_a_failure_hook_added_after_a_task_ran_fires_on_its_next_failure(calls) -> None:
    @task
    def boom() -> None:
        raise ValueError("no")

    assert boom(return_state=True).is_failed()
    boom.on_failure(calls.hook("failed"))
    assert boom(return_state=True).is_failed()
    assert calls == [("failed", "Failed", 1)]


def test_a_hook_list_assigned_after_a_run_fires(calls) -> None:
    @task
    def work() -> int:
        return 1

    work()
    work.on_completion_hooks = [calls.hook("assigned")]
    work()
    assert calls == [("assigned", "Completed", 1)]


def test_with_options_hooks_fire_on_the_copy_only(calls) -> None:
    @task
    def work() -> int:
        return 1

    work()
    copy = work.with_options(on_completion=[calls.hook("copy")])
    work()
    assert calls == []
    copy()
    assert calls == [("copy", "Completed", 1)]


def test_a_plugin_registered_after_runs_started_sees_the_next_transitions(
    plugin_manager: PluginManager,
) -> None:
    @task
    def work() -> int:
        return 1

    work()  # a run with no plugin: dispatch is skipped
    recorder = HookRecorder()
    plugin_manager.register(recorder, name="late")
    work()
    assert recorder.state_names("on_task_run_state_change") == ["Pending", "Running", "Completed"]
    recorder.assert_called("on_task_run_completion", times=1)


def test_a_plugin_registered_during_a_run_sees_that_runs_later_transitions(
    plugin_manager: PluginManager,
) -> None:
    recorder = HookRecorder()

    @task
    def work() -> int:
        if "mid-run" not in {info.name for info in plugin_manager.list()}:
            plugin_manager.register(recorder, name="mid-run")
        return 1

    @flow
    def pipeline() -> int:
        return work() + work()

    assert pipeline() == 2
    # From the first task run's Completed on: the rest of that run, all of the next, the flow's end.
    assert recorder.state_names("on_task_run_state_change") == [
        "Completed",
        "Pending",
        "Running",
        "Completed",
    ]
    assert recorder.state_names("on_flow_run_state_change") == ["Completed"]
    recorder.assert_called("on_task_run_completion", times=2)
    recorder.assert_called("on_flow_run_completion", times=1)


def test_a_plugin_unregistered_stops_seeing_transitions(plugin_manager: PluginManager) -> None:
    recorder = HookRecorder()
    plugin_manager.register(recorder, name="leaving")

    @task
    def work() -> int:
        return 1

    @task
    def leave() -> int:
        plugin_manager.unregister("leaving")
        return 2

    @flow
    def pipeline() -> int:
        return work() + leave() + work()

    assert pipeline() == 4
    assert recorder.state_names("on_task_run_state_change") == [
        "Pending",
        "Running",
        "Completed",
        "Pending",
        "Running",
    ]
    assert recorder.state_names("on_flow_run_state_change") == ["Pending", "Running"]
    recorder.clear()
    work()
    assert recorder.calls == []


def test_a_plugin_implementing_only_a_per_state_hook_is_called(
    plugin_manager: PluginManager,
) -> None:
    seen: list[tuple[str, str]] = []

    class FailuresOnly:
        @hookimpl
        def on_task_run_failure(self, task_run: Any, state: Any) -> None:
            seen.append((task_run.task_name, state.name))

    plugin_manager.register(FailuresOnly(), name="failures")

    @task
    def fine() -> int:
        return 1

    @task(retries=1)
    def boom() -> None:
        raise ValueError("no")

    fine()
    assert boom(return_state=True).is_failed()
    assert seen == [("boom", "Failed")]


def test_implemented_hooks_follow_registration(plugin_manager: PluginManager) -> None:
    assert "on_task_run_completion" not in plugin_manager.implemented()
    plugin_manager.register(HookRecorder(), name="recorder")
    assert "on_task_run_completion" in plugin_manager.implemented()
    assert flowhook._plugins.implemented_hooks() == plugin_manager.implemented()
    plugin_manager.unregister("recorder")
    assert "on_task_run_completion" not in plugin_manager.implemented()


def test_observers_see_every_transition_of_a_run_without_hooks() -> None:
    seen: list[tuple[str, str | None, str]] = []

    def observe(kind: Any, owner: Any, run: Any, old: Any, new: Any) -> None:
        seen.append((kind.owner_argument, old and old.name, new.name))

    @task
    def work() -> int:
        return 1

    engine.observers.append(observe)
    try:
        work()
    finally:
        engine.observers.remove(observe)
    assert seen == [
        ("task", None, "Pending"),
        ("task", "Pending", "Running"),
        ("task", "Running", "Completed"),
    ]


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((1, "b"), {}), ((), {"label": "b", "number": 1}), ((1,), {"label": "b"})],
)
def test_arguments_reach_the_body_in_every_call_form(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    @task
    def pair(number: int, label: str) -> tuple[int, str]:
        return number, label

    assert pair(*args, **kwargs) == (1, "b")


def test_coerced_arguments_reach_the_body() -> None:
    @task
    def double(number: int) -> int:
        return number * 2

    assert double("21") == 42


def test_arguments_of_the_annotated_type_reach_the_body_as_they_are() -> None:
    """The conversion's fast path (a value of the annotated type itself) passes the object."""
    given = [1, 2]

    @task
    def receive(items: list, number: int, ratio: float) -> tuple[Any, ...]:  # type: ignore[type-arg]
        return items, number, ratio

    items, number, ratio = receive(given, True, 2)
    assert items is given
    assert (number, type(number)) == (1, int)  # a bool for an int is converted (lax rules)
    assert (ratio, type(ratio)) == (2.0, float)


def test_variadic_arguments_are_never_converted() -> None:
    @task
    def variadic(first: int, *rest: int, **named: int) -> tuple[Any, ...]:
        return first, rest, named

    assert variadic("1", "2", "3", extra="4") == (1, ("2", "3"), {"extra": "4"})


def test_validate_parameters_false_passes_arguments_unconverted() -> None:
    @task(validate_parameters=False)
    def double(number: int) -> Any:
        return number * 2

    assert double("21") == "2121"


def test_the_default_task_run_name_is_the_task_name_and_the_run_id() -> None:
    @task
    def unnamed() -> Any:
        return flowhook.get_run_context().task_run

    @task(task_run_name="run-{number}")
    def named(number: int) -> Any:
        return flowhook.get_run_context().task_run

    run = unnamed()
    assert run.name == f"unnamed-{run.id.hex[-8:]}"
    assert named(7).name == "run-7"


def test_positional_arguments_bind_as_the_signature_binds_them() -> None:
    """The binding's fast path (every argument positional) builds what ``Signature.bind`` does."""
    import inspect

    from flowhook._engine.parameters import bind_arguments, positional_names

    def pair(number: int, label: str) -> None: ...

    signature = inspect.signature(pair)
    fast = bind_arguments(signature, (1, "b"), {}, "task 'pair'", positional_names(signature))
    assert fast == signature.bind(1, "b")
    assert (fast.signature, fast.args, fast.kwargs) == (signature, (1, "b"), {})


def test_a_task_runs_context_names_its_flow_run_task_and_scope() -> None:
    seen: list[Any] = []

    @task
    def inner() -> None:
        seen.append(flowhook.get_run_context())

    @flow
    def outer() -> None:
        inner()
        seen.append(flowhook.get_run_context())

    outer()
    inner()
    in_flow, flow_context, alone = seen
    assert type(in_flow) is TaskRunContext
    assert (in_flow.flow, in_flow.flow_run, in_flow.scope) == (
        flow_context.flow,
        flow_context.flow_run,
        flow_context.scope,
    )
    assert in_flow.flow_run.name and in_flow.task is inner and in_flow.task_run.task_name == "inner"
    assert type(alone) is TaskRunContext
    assert (alone.flow, alone.flow_run, alone.scope, alone.task) == (None, None, None, inner)


def test_a_task_run_is_built_with_every_field_in_its_place() -> None:
    """new_task_run passes TaskRun's fields positionally: a field added or moved fails here."""
    import attrs

    from flowhook._engine.calls import TASK_RUN_FIELDS
    from flowhook_hookspec.runs import TaskRun

    assert tuple(field.name for field in attrs.fields(TaskRun)) == TASK_RUN_FIELDS

    @task(tags=["t"])
    def tagged(number: int) -> Any:
        return flowhook.get_run_context().task_run

    @flow
    def outer() -> tuple[Any, Any]:
        return tagged(3), flowhook.get_run_context().flow_run

    run, flow_run = outer()
    assert (run.task_name, run.flow_run_id, run.parameters, run.tags) == (
        "tagged",
        flow_run.id,
        {"number": 3},
        ("t",),
    )
    assert run.name == f"tagged-{run.id.hex[-8:]}" and run.run_count == 1
    assert [state.name for state in run.state_history] == ["Pending", "Running", "Completed"]
    assert run.start_time == run.state_history[1].timestamp
    assert run.end_time == run.state_history[2].timestamp


# A task run in the flow's thread makes its first attempt without the state machine's generator
# (attempts.attempt_task); an async task run on the event loop goes through the generator from
# its start. Both must enter the same states, whatever the body does.
_BODIES = {
    "returns": lambda attempt: attempt,
    "fails once, then returns": lambda attempt: 1 / (attempt - 1),
    "always fails": lambda attempt: 1 / 0,
}


def _sync_and_async(name: str, retries: int) -> tuple[Any, Any]:
    body = _BODIES[name]
    attempts: dict[str, int] = {"sync": 0, "async": 0}

    @task(retries=retries, retry_delay_seconds=0)
    def in_thread() -> Any:
        attempts["sync"] += 1
        return body(attempts["sync"])

    @task(retries=retries, retry_delay_seconds=0)
    async def on_loop() -> Any:
        attempts["async"] += 1
        return body(attempts["async"])

    return in_thread, on_loop


@pytest.mark.parametrize("body", sorted(_BODIES))
@pytest.mark.parametrize("retries", [0, 2])
def test_a_task_run_in_the_flows_thread_enters_the_states_the_async_one_does(
    plugin_manager: PluginManager, body: str, retries: int
) -> None:
    in_thread, on_loop = _sync_and_async(body, retries)
    seen = {}
    for label in ("sync", "async"):
        recorder = HookRecorder()
        plugin_manager.register(recorder, name=f"recorder-{label}")

        @flow
        def sync_pipeline() -> str:
            return str(in_thread(return_state=True).name)

        @flow
        async def async_pipeline() -> str:
            return str((await on_loop(return_state=True)).name)

        final = sync_pipeline() if label == "sync" else asyncio.run(async_pipeline())
        plugin_manager.unregister(f"recorder-{label}")
        seen[label] = (final, recorder.state_names("on_task_run_state_change"))
    assert seen["sync"] == seen["async"]
    expected_last = {"returns": "Completed", "always fails": "Failed"}.get(
        body, "Completed" if retries else "Failed"
    )
    assert seen["sync"][0] == expected_last
    assert seen["sync"][1][:2] == ["Pending", "Running"]


def test_an_interrupt_in_a_task_body_in_the_flows_thread_crashes_the_run_and_goes_on_up(
    plugin_manager: PluginManager,
) -> None:
    recorder = HookRecorder()
    plugin_manager.register(recorder, name="interrupt")

    @task
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert recorder.state_names("on_task_run_state_change") == ["Pending", "Running", "Crashed"]
    recorder.assert_called("on_task_run_crashed", times=1)
