"""flowhook.futures as Prefect 3's prefect.futures: the future classes under Prefect's names,
add_done_callback, PrefectFutureList.result, resolve_futures_to_states/results."""

from __future__ import annotations

import os
import threading
import time
import typing
from typing import Any, NamedTuple

import pytest

from flowhook import State, StateType, flow, task
from flowhook.futures import (
    PrefectConcurrentFuture,
    PrefectFuture,
    PrefectFutureList,
    PrefectTaskRunFuture,
    PrefectWrappedFuture,
    TaskRunFuture,
    TaskRunFutureList,
    resolve_futures_to_results,
    resolve_futures_to_states,
)
from flowhook.task_runners import ProcessPoolTaskRunner


@task
def double(x: int) -> int:
    return 2 * x


@task
def explode(x: int) -> int:
    raise ValueError(f"no {x}")


class Pair(NamedTuple):
    left: Any
    right: Any


def test_prefects_future_names_are_the_classes_submit_and_map_return() -> None:
    assert PrefectFuture is PrefectConcurrentFuture is PrefectTaskRunFuture is TaskRunFuture
    assert PrefectWrappedFuture is TaskRunFuture
    assert PrefectFutureList is TaskRunFutureList

    @flow
    def kinds() -> tuple[bool, bool, int]:
        future, futures = double.submit(1), double.map([1, 2])
        futures.wait()
        wrapped = future.wrapped_future.result()  # the concurrent future of its final state
        return (
            isinstance(future, PrefectFuture),
            isinstance(futures, PrefectFutureList),
            wrapped.result(),
        )

    assert kinds() == (True, True, 2)


def test_add_done_callback_gets_the_future_once_its_run_is_final_and_its_hooks_ran() -> None:
    seen: list[tuple[str, Any]] = []
    release = threading.Event()

    @task(on_completion=[lambda t, run, state: seen.append(("hook", state.name))])
    def gated() -> int:
        release.wait(10)
        return 5

    @flow
    def callbacks() -> None:
        future = gated.submit()
        future.add_done_callback(lambda done: seen.append(("callback", done.state.name)))
        assert seen == []
        release.set()
        future.wait()
        future.add_done_callback(lambda done: seen.append(("late", done.result())))

    callbacks()
    assert seen == [("hook", "Completed"), ("callback", "Completed"), ("late", 5)]


def test_future_list_result_raises_a_failure_without_waiting_for_earlier_runs() -> None:
    """Prefect 3: src/prefect/futures.py, PrefectFutureList.result uses as_completed "so that
    failures are raised as soon as they occur"."""
    release = threading.Event()

    @task
    def slow_or_failing(x: int) -> int:
        if x == 0:
            release.wait(20)
            return 0
        raise ValueError(f"no {x}")

    @flow
    def early() -> float:
        futures = slow_or_failing.map([0, 1])
        started = time.monotonic()
        try:
            with pytest.raises(ValueError, match="no 1"):
                futures.result()
            return time.monotonic() - started
        finally:
            release.set()

    assert early() < 10


def test_future_list_result_keeps_order_and_duplicates_and_checks_its_timeout() -> None:
    release = threading.Event()

    @task
    def waits() -> int:
        release.wait(20)
        return 1

    @flow
    def ordered() -> list[int]:
        first, second = double.submit(1), double.submit(2)
        results = PrefectFutureList([second, first, second]).result()
        with pytest.raises(ValueError, match="'timeout' must be a non-negative number, got -1"):
            PrefectFutureList([first]).result(timeout=-1)
        pending = waits.submit()
        with pytest.raises(
            TimeoutError,
            match=r"Timed out waiting for all futures to complete within 0\.1 seconds",
        ):
            PrefectFutureList([first, pending]).result(timeout=0.1)
        release.set()
        return results

    assert ordered() == [4, 2, 4]


def test_a_task_raising_timeout_error_is_not_mistaken_for_the_lists_timeout() -> None:
    @task
    def times_out(x: int) -> int:
        raise TimeoutError(f"the task's own {x}")

    @flow
    def own() -> None:
        with pytest.raises(TimeoutError, match="the task's own"):
            times_out.map([1]).result(timeout=30)

    own()


def test_resolve_futures_to_states_walks_collections_and_waits() -> None:
    @flow
    def resolving() -> tuple[Any, Any, Any, bool]:
        ok, bad = double.submit(3), explode.submit(1)
        nested = resolve_futures_to_states({"runs": [ok, (bad, 7)], ok: Pair(bad, "x")})
        plain = resolve_futures_to_states(double.map([1, 2]))
        untouched = {"a": [1, 2]}
        return nested, plain, type(plain), resolve_futures_to_states(untouched) is untouched

    nested, plain, plain_type, same = resolving()
    runs, pair = nested["runs"], next(value for key, value in nested.items() if key != "runs")
    assert [runs[0].type, runs[1][0].type, runs[1][1]] == [
        StateType.COMPLETED,
        StateType.FAILED,
        7,
    ]
    assert isinstance(pair, Pair) and pair.left.type is StateType.FAILED and pair.right == "x"
    assert all(isinstance(state, State) and state.result() in (2, 4) for state in plain)
    assert plain_type is list  # a PrefectFutureList of states would be a lie, as Prefect says
    assert same


def test_resolve_futures_to_results_returns_results_or_raises_for_a_failed_run() -> None:
    @flow
    def results() -> Any:
        resolved = resolve_futures_to_results([double.submit(2), {"k": double.submit(5)}])
        with pytest.raises(Exception, match="At least one result did not complete successfully"):
            resolve_futures_to_results([double.submit(1), explode.submit(2)])
        return resolved

    assert results() == [4, {"k": 10}]


def test_a_named_tuple_argument_of_a_submitted_task_is_passed_whole() -> None:
    """A bug: rebuilding a named tuple from a generator raised TypeError (missing fields)."""

    @task
    def add(pair: Pair) -> int:
        return int(pair.left + pair.right)

    @flow
    def named() -> tuple[int, int]:
        plain = add.submit(Pair(1, 2)).result()
        upstream = add.submit(Pair(double.submit(5), 1)).result()
        return plain, upstream

    assert named() == (3, 11)


def test_futures_of_a_process_pool_resolve_like_any_other() -> None:
    @task
    def where(x: int) -> tuple[int, int]:
        return x, os.getpid()

    @flow(task_runner=ProcessPoolTaskRunner(max_workers=2))
    def in_processes() -> tuple[Any, list[StateType]]:
        futures = where.map([1, 2, 3])
        states = resolve_futures_to_states(futures)
        done: list[int] = []
        futures[0].add_done_callback(lambda f: done.append(f.result()[0]))
        assert done == [1]
        return resolve_futures_to_results({"all": futures}), [s.type for s in states]

    resolved, types = in_processes()
    assert [x for x, _ in resolved["all"]] == [1, 2, 3]
    assert all(pid != os.getpid() for _, pid in resolved["all"])
    assert types == [StateType.COMPLETED] * 3


def test_arguments_without_futures_reach_the_body_as_they_are() -> None:
    """Prefect 3: src/prefect/utilities/collections.py, visit_collection keeps a collection
    whose items were not modified; before, every list argument was copied."""
    given: list[int] = [1, 2]

    @task
    def same(values) -> bool:  # type: ignore[no-untyped-def]  # unannotated: nothing to coerce
        return values is given

    @flow
    def identity() -> tuple[bool, bool]:
        return same(given), same.submit(given).result()

    assert identity() == (True, True)


def test_annotations_prefect_code_writes_evaluate() -> None:
    """Prefect's futures are generic: ``PrefectFuture[int]`` is a common annotation."""

    def submit_all(values: list[int]) -> PrefectFutureList[int]:
        return double.map(values)

    @task
    def total(values: list[int]) -> int:
        return sum(values)

    @flow
    def annotated() -> int:
        futures = submit_all([1, 2])
        first: PrefectFuture[int] = futures[0]
        return int(total.submit(futures).result()) + int(first.result())

    hints = typing.get_type_hints(submit_all)
    assert hints["return"].__origin__ is TaskRunFutureList
    assert PrefectFuture[int].__origin__ is TaskRunFuture  # type: ignore[misc]
    assert annotated() == 8
