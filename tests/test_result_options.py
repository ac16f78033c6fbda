"""A flow's result options and ``cache_result_in_memory`` (issue 24, item 1, options).

Prefect 3: ``src/prefect/flows.py`` (``Flow.__init__``: naming a storage or a serializer turns
``persist_result`` on), ``src/prefect/results.py`` (``should_persist_result``: a task that says
nothing persists when its flow run does; ``get_result_store().update_for_task``: a task without
its own storage or serializer uses its flow's).
"""

from __future__ import annotations

import gc
import weakref
from pathlib import Path
from typing import Any

import pytest

from flowhook import flow, task
from flowhook.results import LocalFileSystem, PickleSerializer, ResultRecord


def records(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if not p.name.startswith("."))


def test_a_flow_that_persists_makes_its_silent_tasks_persist_in_its_storage(
    tmp_path: Path,
) -> None:
    calls: list[int] = []

    @task
    def double(x: int) -> int:
        calls.append(x)
        return 2 * x

    @task(persist_result=False)
    def never(x: int) -> int:
        return x

    @flow(persist_result=True, result_storage=tmp_path)
    def f(x: int) -> list[str]:
        return [
            double(x, return_state=True).name,
            double(x, return_state=True).name,  # DEFAULT: cached within the flow run
            never(x, return_state=True).name,
        ]

    assert f.persist_result is True
    assert f(2) == ["Completed", "Cached", "Completed"]
    assert calls == [2]
    stored = records(tmp_path)
    assert len(stored) == 2  # double's record and the flow run's own
    assert any(name.startswith("run-") for name in stored)
    assert double.result_settings is None  # outside that flow, the task keeps nothing


def test_naming_a_storage_or_serializer_turns_a_flows_persistence_on(tmp_path: Path) -> None:
    assert flow(lambda: 1, result_storage=tmp_path).persist_result is True
    assert flow(lambda: 1, result_serializer="json").persist_result is True
    assert flow(lambda: 1, result_storage=tmp_path, persist_result=False).persist_result is False
    assert flow(lambda: 1).persist_result is None


def test_a_flow_that_does_not_persist_leaves_its_tasks_alone(tmp_path: Path) -> None:
    @task
    def t() -> int:
        return 1

    @flow(persist_result=False, result_storage=tmp_path)
    def f() -> int:
        return t()

    assert f() == 1
    assert records(tmp_path) == []


def test_a_task_persisting_on_its_own_uses_its_flows_serializer_and_storage(
    tmp_path: Path,
) -> None:
    @task(cache_policy=None, persist_result=True)
    def t(x: int) -> dict[str, int]:
        return {"x": x}

    @flow(result_storage=tmp_path, result_serializer="json", persist_result=False)
    def f() -> dict[str, int]:
        return t(5)

    assert f() == {"x": 5}
    (name,) = records(tmp_path)
    header = (tmp_path / name).read_bytes().split(b"\n")[0]
    assert b'"serializer": "json"' in header


def test_the_flow_runs_result_is_a_record_under_its_run_id(tmp_path: Path) -> None:
    @flow(persist_result=True, result_storage=tmp_path)
    def f() -> str:
        return "answer"

    state = f(return_state=True)
    run_id = state.run_id
    data = LocalFileSystem(tmp_path).read(f"run-{run_id.hex}")
    assert data is not None
    assert ResultRecord.from_bytes(data, PickleSerializer()).value == "answer"


class Big:
    """A result whose presence in memory a weak reference tells."""

    def __init__(self, size: int) -> None:
        self.payload = list(range(size))


@pytest.mark.parametrize("in_memory", [True, False])
def test_cache_result_in_memory_false_releases_the_stored_value(
    tmp_path: Path, in_memory: bool
) -> None:
    refs: list[weakref.ref[Big]] = []

    @task(persist_result=True, result_storage=tmp_path, cache_result_in_memory=in_memory)
    def make() -> Big:
        big = Big(1000)
        refs.append(weakref.ref(big))
        return big

    @flow
    def f() -> Any:
        return make(return_state=True)

    state = f()
    gc.collect()
    assert (refs[0]() is None) is (not in_memory)  # the state holds the value only if asked
    assert state.result().payload[-1] == 999  # read back from the record when released


def test_a_flows_cache_result_in_memory_false_releases_its_result(tmp_path: Path) -> None:
    @flow(persist_result=True, result_storage=tmp_path, cache_result_in_memory=False)
    def f() -> list[int]:
        return [1, 2, 3]

    state = f(return_state=True)
    assert type(state.data).__name__ == "StoredResult"
    assert state.result() == [1, 2, 3]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cache_result_in_memory": "no"}, "cache_result_in_memory"),
        ({"persist_result": "yes"}, "persist_result takes True, False or None"),
        ({"result_storage": 42}, "result_storage takes a directory path"),
    ],
)
def test_bad_flow_result_options_are_one_line_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        flow(lambda: 1, **options)


def test_with_options_keeps_and_changes_the_result_options(tmp_path: Path) -> None:
    base = flow(lambda: 1, result_storage=tmp_path)
    assert base.with_options(persist_result=False).persist_result is False
    assert base.with_options(cache_result_in_memory=False).result_storage == tmp_path
    t = task(lambda: 1, cache_result_in_memory=False)
    assert t.with_options(retries=1).cache_result_in_memory is False
