"""Prefect's run context, ``tags``, ``flowhook.runtime`` and ``task_input_hash`` (issue 24, item 1).

Prefect's behaviour relied on, read in Prefect 3's source:
- ``src/prefect/context.py``: ``FlowRunContext.get()``/``TaskRunContext.get()`` return None
  outside such a run; ``get_run_context()`` returns the task run's context in a task, else the
  flow run's; ``tags(*tags)`` adds up nested blocks and yields the set in force;
  ``TagsContext.get()`` is empty (never None) outside any block.
- ``src/prefect/task_engine.py``: a task run's tags are the task's and those of the ``tags``
  blocks around the call; ``src/prefect/flow_engine.py``: a flow run's likewise.
- ``src/prefect/runtime/flow_run.py`` and ``task_run.py``: ids as strings; outside a run
  ``id``/``name`` are None, ``parameters`` is ``{}``, ``tags`` ``[]``, ``run_count`` 0;
  ``flow_run`` read in a task gives the flow run it belongs to; ``PREFECT__RUNTIME__...``
  environment variables stand in for values (``FLOWHOOK__RUNTIME__...`` here).
- ``src/prefect/tasks.py``: ``task_input_hash(context, arguments)`` hashes
  ``context.task.task_key``, the function's bytecode and the arguments.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timezone
from typing import Any

import pytest

import flowhook
from flowhook import flow, task
from flowhook.context import (
    FlowRunContext,
    TagsContext,
    TaskRunContext,
    get_run_context,
    tags,
)
from flowhook.exceptions import MissingContextError
from flowhook.runtime import flow_run, task_run
from flowhook.tasks import task_input_hash

# -- FlowRunContext, TaskRunContext, get_run_context ------------------------------------------


def test_get_run_context_returns_the_kind_of_run_in_progress() -> None:
    seen: dict[str, Any] = {}

    @task
    def double(x: int) -> int:
        context = get_run_context()
        seen["task"] = (type(context), context.task.name, context.task_run.name, context.parameters)
        seen["task_flow"] = (context.flow.name, context.flow_run.id)
        seen["flow_from_task"] = FlowRunContext.get()
        return x * 2

    @flow
    def pipeline(n: int = 2) -> int:
        context = get_run_context()
        seen["flow"] = (type(context), context.flow.name, context.parameters, context.flow_run.id)
        seen["runner"] = context.task_runner
        seen["task_in_flow"] = TaskRunContext.get()
        return double(n)

    assert pipeline() == 4
    flow_kind, flow_name, flow_parameters, flow_run_id = seen["flow"]
    assert (flow_kind, flow_name, flow_parameters) == (FlowRunContext, "pipeline", {"n": 2})
    assert isinstance(seen["runner"], flowhook.ThreadPoolTaskRunner)
    assert seen["task_in_flow"] is None
    task_kind, task_name, task_run_name, task_parameters = seen["task"]
    assert (task_kind, task_name, task_parameters) == (TaskRunContext, "double", {"x": 2})
    assert task_run_name.startswith("double-")
    assert seen["task_flow"] == ("pipeline", flow_run_id)
    from_task = seen["flow_from_task"]
    assert isinstance(from_task, FlowRunContext) and from_task.flow_run.id == flow_run_id


def test_outside_any_run_get_returns_none_and_get_run_context_raises() -> None:
    assert FlowRunContext.get() is None
    assert TaskRunContext.get() is None
    with pytest.raises(MissingContextError, match="no flow or task run"):
        get_run_context()


def test_a_task_called_alone_has_a_task_context_without_a_flow() -> None:
    @task
    def alone() -> tuple[Any, ...]:
        context = TaskRunContext.get()
        assert context is not None
        return context.flow, context.flow_run, FlowRunContext.get()

    assert alone() == (None, None, None)


def test_hooks_see_the_context_of_their_run() -> None:
    seen: list[Any] = []

    def on_task_done(task_, task_run_, state) -> None:  # type: ignore[no-untyped-def]
        seen.append((type(get_run_context()), TaskRunContext.get().task_run is task_run_))

    def on_flow_done(flow_, flow_run_, state) -> None:  # type: ignore[no-untyped-def]
        seen.append((type(get_run_context()), FlowRunContext.get().flow_run is flow_run_))

    @task(on_completion=[on_task_done])
    def step() -> None:
        pass

    @flow(on_completion=[on_flow_done])
    def outer() -> None:
        step()

    outer()
    assert seen == [(TaskRunContext, True), (FlowRunContext, True)]


# -- tags ---------------------------------------------------------------------------------------


def test_tags_blocks_add_up_and_tag_the_runs_created_inside() -> None:
    seen: dict[str, Any] = {}

    @task(tags=["own"])
    def step() -> tuple[str, ...]:
        return get_run_context().task_run.tags

    @flow
    def tagged() -> None:
        with tags("a", "b") as outer_tags:
            seen["outer"] = outer_tags
            with tags("c") as inner_tags:
                seen["inner"] = inner_tags
                seen["inner_task"] = step()
            seen["outer_task"] = step()
        seen["plain_task"] = step()
        seen["flow"] = get_run_context().flow_run.tags

    with tags("run") as top:
        assert top == {"run"}
        tagged()
    assert seen["outer"] == {"run", "a", "b"}
    assert seen["inner"] == {"run", "a", "b", "c"}
    assert set(seen["inner_task"]) == {"own", "run", "a", "b", "c"}
    assert set(seen["outer_task"]) == {"own", "run", "a", "b"}
    assert set(seen["plain_task"]) == {"own", "run"}
    assert seen["flow"] == ("run",)


def test_tags_context_is_empty_outside_and_the_same_class_everywhere() -> None:
    assert TagsContext.get().current_tags == frozenset()
    with flowhook.tags("x"):
        assert TagsContext.get().current_tags == {"x"}
    assert TagsContext.get().current_tags == frozenset()
    assert flowhook.tags is tags and flowhook.context.tags is tags


def test_tags_rejects_a_tag_that_is_not_a_string() -> None:
    with pytest.raises(TypeError, match=r"tags\(...\) takes strings"), tags(3):  # type: ignore[arg-type]
        pass  # pragma: no cover


# -- flowhook.runtime ---------------------------------------------------------------------------


def test_runtime_flow_run_and_task_run_in_bodies() -> None:
    seen: dict[str, Any] = {}

    @task(tags=["t"], retries=1)
    def step(value: int) -> None:
        seen["task_run"] = {
            "id": task_run.id,
            "name": task_run.name,
            "task_name": task_run.task_name,
            "parameters": task_run.parameters,
            "tags": task_run.tags,
            "run_count": task_run.run_count,
        }
        seen["flow_run_in_task"] = (flow_run.id, flow_run.name)
        if task_run.run_count == 1:
            raise ValueError("first attempt fails")

    @flow(version="7", tags=["f"])
    def job(day: str = "mon") -> None:
        context = get_run_context()
        seen["ids"] = (str(context.flow_run.id), context.flow_run.name)
        seen["flow_run"] = {
            "id": flow_run.id,
            "name": flow_run.name,
            "flow_name": flow_run.flow_name,
            "flow_version": flow_run.flow_version,
            "parameters": flow_run.parameters,
            "tags": flow_run.tags,
            "run_count": flow_run.run_count,
            "parent_flow_run_id": flow_run.parent_flow_run_id,
            "root_flow_run_id": flow_run.root_flow_run_id,
            "scheduled_start_time": flow_run.scheduled_start_time,
        }
        step(5)

    before = datetime.now(timezone.utc)
    job()
    flow_id, flow_name = seen["ids"]
    info = seen["flow_run"]
    assert info.pop("scheduled_start_time") >= before
    assert info == {
        "id": flow_id,
        "name": flow_name,
        "flow_name": "job",
        "flow_version": "7",
        "parameters": {"day": "mon"},
        "tags": ["f"],
        "run_count": 1,
        "parent_flow_run_id": None,
        "root_flow_run_id": flow_id,
    }
    task_info = seen["task_run"]
    assert uuid.UUID(task_info.pop("id"))
    assert task_info.pop("name").startswith("step-")
    assert task_info == {
        "task_name": "step",
        "parameters": {"value": 5},
        "tags": ["t"],
        "run_count": 2,
    }
    assert seen["flow_run_in_task"] == (flow_id, flow_name)


def test_runtime_in_a_subflow_names_its_parent_and_root() -> None:
    seen: dict[str, Any] = {}

    @flow
    def leaf() -> None:
        seen["leaf"] = (flow_run.id, flow_run.parent_flow_run_id, flow_run.root_flow_run_id)

    @flow
    def middle() -> None:
        seen["middle"] = flow_run.id
        leaf()

    @flow
    def top() -> None:
        seen["top"] = flow_run.id
        middle()

    top()
    leaf_id, parent, root = seen["leaf"]
    assert parent == seen["middle"] and root == seen["top"] and leaf_id not in (parent, root)


def test_runtime_is_readable_in_state_hooks() -> None:
    seen: list[Any] = []

    def task_hook(task_, run, state) -> None:  # type: ignore[no-untyped-def]
        seen.append(("task", task_run.id == str(run.id), task_run.name, flow_run.name))

    def flow_hook(flow_, run, state) -> None:  # type: ignore[no-untyped-def]
        seen.append(("flow", flow_run.id == str(run.id), flow_run.name, task_run.id))

    @task(task_run_name="the-step", on_failure=[task_hook])
    def step() -> None:
        raise ValueError("no")

    @flow(flow_run_name="the-flow", on_failure=[flow_hook])
    def job() -> None:
        step()

    job(return_state=True)
    assert seen == [("task", True, "the-step", "the-flow"), ("flow", True, "the-flow", None)]


def test_runtime_outside_any_run_has_empty_values() -> None:
    assert (flow_run.id, flow_run.name, flow_run.flow_name) == (None, None, None)
    assert (flow_run.parameters, flow_run.tags, flow_run.run_count) == ({}, [], 0)
    assert (task_run.id, task_run.name, task_run.task_name) == (None, None, None)
    assert (task_run.parameters, task_run.tags, task_run.run_count) == ({}, [], 0)
    assert flow_run.scheduled_start_time.tzinfo is not None


def test_runtime_values_can_be_set_by_environment_variables(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FLOWHOOK__RUNTIME__FLOW_RUN__NAME", "mocked")
    monkeypatch.setenv("FLOWHOOK__RUNTIME__TASK_RUN__RUN_COUNT", "3")
    assert flow_run.name == "mocked"
    assert task_run.run_count == 3
    monkeypatch.setenv("FLOWHOOK__RUNTIME__FLOW_RUN__PARAMETERS", "{}")
    with pytest.raises(ValueError, match="patch the attribute"):
        _ = flow_run.parameters


def test_runtime_names_prefect_has_for_a_server_are_attribute_errors() -> None:
    with pytest.raises(
        AttributeError, match=r"'flowhook\.runtime\.flow_run' has no attribute 'ui_url'"
    ):
        _ = flow_run.ui_url
    with pytest.raises(AttributeError, match="has no attribute 'api_url'"):
        _ = task_run.api_url


# -- task_input_hash ----------------------------------------------------------------------------


def prefect_style_key(context: TaskRunContext, arguments: dict[str, Any]) -> str:
    """A ``cache_key_fn`` as Prefect users write them, reading what Prefect's body reads."""
    text = json.dumps([context.task.task_key, context.task.fn.__code__.co_code.hex(), arguments])
    return hashlib.sha256(text.encode()).hexdigest() + json.dumps(context.parameters)


@pytest.mark.parametrize("key_function", [task_input_hash, prefect_style_key])
def test_task_input_hash_caches_on_the_inputs(key_function) -> None:  # type: ignore[no-untyped-def]
    calls: list[int] = []

    @task(cache_key_fn=key_function, persist_result=True)
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    @flow
    def squares() -> list[int]:
        return [square(2), square(2), square(3)]

    assert squares() == [4, 4, 9]
    assert squares() == [4, 4, 9]
    assert calls == [2, 3]


def test_task_input_hash_differs_by_task_and_body_and_is_none_for_unhashable_inputs() -> None:
    keys: dict[str, Any] = {}

    @task
    def first(x: Any) -> None:
        context = TaskRunContext.get()
        keys[f"first-{type(x).__name__}"] = task_input_hash(context, {"x": x})

    @task
    def second(x: Any) -> None:
        keys["second"] = task_input_hash(TaskRunContext.get(), {"x": x})
        return None

    first(1)
    second(1)
    first(_Unpicklable())
    assert keys["first-int"] and keys["second"] and keys["first-int"] != keys["second"]
    assert keys["first-_Unpicklable"] is None
    assert first.task_key != second.task_key and first.task_key.startswith("first-")


class _Unpicklable:
    def __reduce__(self) -> Any:
        raise TypeError("cannot pickle this")

    def __repr__(self) -> str:
        raise TypeError("no repr either")


def test_submitted_and_async_task_runs_see_their_context_tags_and_runtime() -> None:
    import asyncio

    @task
    def threaded() -> tuple[Any, ...]:
        context = TaskRunContext.get()
        return type(context), task_run.tags, flow_run.name, FlowRunContext.get().flow.name

    @task
    async def awaited() -> tuple[Any, ...]:
        return type(get_run_context()), task_run.tags, flow_run.name

    @flow(flow_run_name="concurrent")
    async def job() -> tuple[Any, ...]:
        with tags("batch"):
            future = threaded.submit()
            coroutine_result = await awaited()
        return future.result(), coroutine_result

    in_thread, in_loop = asyncio.run(job())
    assert in_thread == (TaskRunContext, ["batch"], "concurrent", "job")
    assert in_loop == (TaskRunContext, ["batch"], "concurrent")
