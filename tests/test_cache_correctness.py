"""A cache never returns another input's result (issue 28).

Each rule is checked against Prefect 3's own: ``src/prefect/cache_policies.py`` (``Inputs``,
``CompoundCachePolicy``, ``_None``), ``src/prefect/utilities/hashing.py`` (``hash_objects``) and
``src/prefect/tasks.py`` (``Task.__init__``, the resolution of ``cache_policy`` and
``persist_result``).
"""

from __future__ import annotations

import enum
import logging
import re
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from flowhook import flow, task
from flowhook.cache_policies import (
    DEFAULT,
    FLOW_PARAMETERS,
    INPUTS,
    NO_CACHE,
    NONE,
    RUN_ID,
    TASK_SOURCE,
    CacheKeyFnPolicy,
    CachePolicy,
    CompoundCachePolicy,
    FlowParameters,
    Inputs,
    RunId,
    TaskSource,
)


class Box:
    """An ordinary object: its repr is its memory address."""

    def __init__(self, value: int) -> None:
        self.value = value


def test_objects_at_a_reused_address_never_share_a_result() -> None:
    """Prefect hashes by JSON, then cloudpickle (hash_objects); the old repr() fallback keyed
    on the address, which each new Box below reuses, so every call after the first was a hit."""
    calls: list[int] = []

    @task(cache_policy=INPUTS)
    def unbox(box: Box) -> int:
        calls.append(box.value)
        return box.value

    @flow
    def f() -> list[tuple[str, int]]:
        out = []
        for value in range(20):
            state = unbox(Box(value), return_state=True)  # freed at once: its address is reused
            out.append((state.name, state.result()))
        return out

    assert f() == [("Completed", value) for value in range(20)]
    assert calls == list(range(20))
    # The same content is a hit: the key is the value, not the object.
    assert [name for name, _ in f()] == ["Cached"] * 20


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ((1, 2), [1, 2]),  # JSON writes both as [1,2]
        ({1: "a"}, {"1": "a"}),  # JSON writes both as {"1":"a"}
        (enum.IntEnum("Color", "RED")(1), 1),  # JSON writes the enum as 1
        (1, True),
        (1, 1.0),
    ],
)
def test_values_json_writes_alike_have_different_keys(first: Any, second: Any) -> None:
    @task(cache_policy=INPUTS)
    def echo(value: Any) -> str:
        return type(value).__name__

    @flow
    def f() -> list[str]:
        return [echo(first), echo(second)]

    assert f() == [type(first).__name__, type(second).__name__]


def test_an_input_that_cannot_be_hashed_is_not_cached_and_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Prefect: Inputs.compute_key raises "...objects that cannot be cached like locks..." and
    the task engine logs it and keys nothing (task_engine.py compute_transaction_key)."""
    calls: list[int] = []

    @task(cache_policy=INPUTS)
    def guarded(n: int, lock: Any) -> int:
        calls.append(n)
        return n

    lock = threading.Lock()

    @flow
    def f() -> list[str]:
        return [guarded(1, lock, return_state=True).name for _ in range(2)]

    with caplog.at_level(logging.WARNING, logger="flowhook.caching"):
        assert f() == ["Completed", "Completed"]
    assert calls == [1, 1]
    warnings = [r.getMessage() for r in caplog.records if r.name == "flowhook.caching"]
    assert len(warnings) == 2
    assert "is not cached" in warnings[0]
    assert "parameter 'lock' cannot be part of a cache key" in warnings[0]
    assert "INPUTS - 'lock'" in warnings[0] and "NO_CACHE" in warnings[0]


def test_leaving_the_unhashable_input_out_caches_again() -> None:
    calls: list[int] = []

    @task(cache_policy=INPUTS - "lock")
    def guarded(n: int, lock: Any) -> int:
        calls.append(n)
        return n

    @flow
    def f() -> list[str]:
        return [guarded(1, threading.Lock(), return_state=True).name for _ in range(2)]

    assert f() == ["Completed", "Cached"]


def test_a_task_without_parameters_is_never_cached_under_inputs() -> None:
    """Prefect: Inputs.compute_key returns None when there are no inputs."""
    calls: list[str] = []

    @task(cache_policy=INPUTS)
    def ping() -> str:
        calls.append("ping")
        return "pong"

    @flow
    def f() -> list[str]:
        return [ping(return_state=True).name for _ in range(2)]

    assert f() == ["Completed", "Completed"]
    assert f() == ["Completed", "Completed"]
    assert len(calls) == 4


def test_under_the_default_policy_a_task_without_parameters_is_cached_in_its_flow_run() -> None:
    """DEFAULT = INPUTS + TASK_SOURCE + RUN_ID: the other two still make a key."""

    @task(persist_result=True)
    def ping() -> str:
        return "pong"

    @flow
    def f() -> list[str]:
        return [ping(return_state=True).name for _ in range(2)]

    assert f() == ["Completed", "Cached"]
    assert f() == ["Completed", "Cached"]


@pytest.mark.parametrize("expiration", [timedelta(seconds=-5), timedelta(0), -1.5])
def test_a_cache_expiration_of_zero_or_less_is_accepted_and_always_misses(
    expiration: Any, tmp_path: Path
) -> None:
    @task(cache_policy=INPUTS, cache_expiration=expiration, result_storage=tmp_path)
    def t(x: int) -> int:
        return x

    @flow
    def f() -> list[str]:
        return [t(1, return_state=True).name for _ in range(3)]

    assert f() == ["Completed"] * 3


def test_the_default_cache_policy_and_persist_result_as_prefect_shows_them() -> None:
    plain = task(lambda x: x)
    assert plain.cache_policy == DEFAULT and plain.persist_result is None
    assert plain.result_settings is None  # nothing is kept: no storage is touched

    turned_on = task(lambda x: x, cache_policy=INPUTS)
    assert turned_on.persist_result is True and turned_on.cache_policy == INPUTS
    for option in ({"result_serializer": "json"}, {"cache_key_fn": lambda c, p: "k"}):
        assert task(lambda x: x, **option).persist_result is True

    expiring = task(lambda x: x, cache_expiration=timedelta(hours=1))
    assert expiring.persist_result is None and expiring.result_settings is None

    assert task(lambda x: x, persist_result=False).cache_policy == NO_CACHE
    assert task(lambda x: x, cache_policy=NO_CACHE).persist_result is None


def test_persist_result_false_with_a_policy_warns_and_is_no_cache(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="flowhook.caching"):
        t = task(lambda x: x, cache_policy=INPUTS, persist_result=False, name="quiet")
    assert t.cache_policy == NO_CACHE and t.persist_result is False and t.result_settings is None
    assert "task 'quiet': its cache_policy is ignored because persist_result is False" in (
        caplog.text
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="flowhook.caching"):
        task(lambda x: x, cache_policy=NO_CACHE, persist_result=False)
    assert caplog.text == ""


def test_with_options_resolves_from_the_options_given_not_the_resolved_ones(
    caplog: pytest.LogCaptureFixture,
) -> None:
    t = task(lambda x: x)
    with caplog.at_level(logging.WARNING, logger="flowhook.caching"):
        off = t.with_options(persist_result=False)
    assert off.cache_policy == NO_CACHE and caplog.text == ""  # DEFAULT was not asked for
    on = off.with_options(persist_result=True)
    assert on.cache_policy == DEFAULT and on.persist_result is True


def test_cache_key_fn_wins_over_cache_policy_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="flowhook.caching"):
        t = task(lambda x: x, cache_policy=INPUTS, cache_key_fn=lambda c, p: "k", name="both")
    assert isinstance(t.cache_policy, CacheKeyFnPolicy)
    assert "both cache_policy and cache_key_fn are set on task 'both'" in caplog.text


def test_no_cache_plus_a_policy_is_that_policy() -> None:
    assert NO_CACHE + INPUTS is INPUTS
    assert INPUTS + NO_CACHE is INPUTS
    assert NONE == NO_CACHE


def test_sums_are_flat_and_their_inputs_merged() -> None:
    total = (INPUTS - "a") + TASK_SOURCE + (Inputs(exclude=["b"]) + RUN_ID)
    assert isinstance(total, CompoundCachePolicy)
    assert total.policies == (Inputs(exclude=["a", "b"]), TASK_SOURCE, RUN_ID)
    assert repr(DEFAULT) == "INPUTS + TASK_SOURCE + RUN_ID"
    assert (DEFAULT - "x").policies == (Inputs(exclude=["x"]), TASK_SOURCE, RUN_ID)
    assert TASK_SOURCE - "x" is TASK_SOURCE  # no inputs to leave out
    with pytest.raises(TypeError, match="only a parameter name"):
        INPUTS - 3  # type: ignore[operator]


def test_merged_excludes_leave_both_parameters_out() -> None:
    calls: list[tuple[int, int, int]] = []

    @task(cache_policy=(INPUTS - "a") + (INPUTS - "b"))
    def t(a: int, b: int, c: int) -> int:
        calls.append((a, b, c))
        return c

    @flow
    def f() -> list[str]:
        return [t(1, 1, 1, return_state=True).name, t(2, 2, 1, return_state=True).name]

    assert f() == ["Completed", "Cached"]


def test_a_policy_class_is_taken_as_its_instance_and_a_class_needing_arguments_is_refused() -> None:
    calls: list[int] = []

    @task(cache_policy=Inputs)
    def t(x: int) -> int:
        calls.append(x)
        return x

    assert t.cache_policy == INPUTS

    @flow
    def f() -> list[str]:
        return [t(1, return_state=True).name for _ in range(2)]

    assert f() == ["Completed", "Cached"]

    class Needy(CachePolicy):
        def __init__(self, salt: str) -> None:
            self.salt = salt

    with pytest.raises(TypeError, match=r"Needy needs arguments, so write Needy\(...\)"):
        task(lambda x: x, cache_policy=Needy)


def test_a_policy_written_for_prefect_is_called_by_keyword() -> None:
    seen: list[dict[str, Any]] = []

    class ByCity(CachePolicy):
        def compute_key(
            self, task_ctx: Any, inputs: dict[str, Any], flow_parameters: dict[str, Any], **kw: Any
        ) -> str | None:
            seen.append({"task": task_ctx.task.name, "inputs": inputs, "flow": flow_parameters})
            return inputs["city"].lower()

    @task(cache_policy=ByCity())
    def weather(city: str, day: int) -> str:
        return f"{city}@{day}"

    @flow
    def f(region: str) -> list[str]:
        return [weather("Lyon", 1), weather("LYON", 2)]

    assert f("south") == ["Lyon@1", "Lyon@1"]
    assert seen[0] == {
        "task": "weather",
        "inputs": {"city": "Lyon", "day": 1},
        "flow": {"region": "south"},
    }


def test_flow_parameters_keys_on_the_flow_runs_parameters() -> None:
    assert FlowParameters() == FLOW_PARAMETERS
    calls: list[int] = []

    @task(cache_policy=FLOW_PARAMETERS)
    def t(x: int) -> int:
        calls.append(x)
        return x

    @flow
    def f(region: str) -> int:
        return t(len(calls))  # a new input each time: only the flow's parameters count

    assert [f("a"), f("a"), f("b")] == [0, 0, 1]
    assert calls == [0, 1]


def test_the_policy_classes_prefect_exports_are_there() -> None:
    assert isinstance(TASK_SOURCE, TaskSource) and isinstance(RUN_ID, RunId)
    assert CachePolicy.from_cache_key_fn(len) == CacheKeyFnPolicy(len)


def test_configure_sets_the_records_storage_and_the_isolation_level(tmp_path: Path) -> None:
    policy = INPUTS.configure(key_storage=tmp_path, isolation_level="SERIALIZABLE")
    assert policy.key_storage == tmp_path and INPUTS.key_storage is None

    @task(cache_policy=policy)
    def t(x: int) -> int:
        return x

    @flow
    def f() -> list[str]:
        return [t(7, return_state=True).name for _ in range(2)]

    assert f() == ["Completed", "Cached"]
    assert [p for p in tmp_path.iterdir() if not p.name.endswith(".lock")]  # the record is there
    assert t.result_settings is not None
    assert t.result_settings.isolation_level is not None
    assert t.result_settings.isolation_level.value == "SERIALIZABLE"
    with pytest.raises(TypeError, match="flowhook has no lock managers"):
        INPUTS.configure(lock_manager=object())
    with pytest.raises(ValueError, match="different key storages"):
        INPUTS.configure(key_storage=tmp_path) + TASK_SOURCE.configure(key_storage="elsewhere")


def test_result_storage_key_is_templated_and_is_the_cache_key(tmp_path: Path) -> None:
    calls: list[str] = []

    @task(result_storage_key="report-{parameters[city]}.bin", result_storage=tmp_path)
    def report(city: str) -> str:
        calls.append(city)
        return city.upper()

    assert report.cache_policy is None and report.persist_result is True

    @flow
    def f() -> list[str]:
        return [report("lyon", return_state=True).name, report("lyon", return_state=True).name]

    assert f() == ["Completed", "Cached"]
    assert (tmp_path / "report-lyon.bin").exists() and calls == ["lyon"]


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{parameters[town]}", "'town' is not a parameter of report; its parameters: city"),
        ("{city}", "'city' is not a field it can use"),
        ("{parameters", "is not a valid template"),
    ],
)
def test_a_bad_result_storage_key_is_a_clear_error_when_the_task_is_made(
    template: str, message: str
) -> None:
    def report(city: str) -> str:
        return city

    with pytest.raises(ValueError, match=re.escape(message)):
        task(report, result_storage_key=template)


def test_a_result_storage_key_that_cannot_be_filled_in_is_not_cached(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    @task(result_storage_key="{flow_run.name}-{parameters[city]}", result_storage=tmp_path)
    def report(city: str) -> str:
        return city

    with caplog.at_level(logging.WARNING, logger="flowhook.caching"):
        states = [report("lyon", return_state=True) for _ in range(2)]  # no flow run here
    assert [state.name for state in states] == ["Completed", "Completed"]
    assert "its cache key could not be computed" in caplog.text


def test_a_policy_without_compute_key_says_what_it_lacks() -> None:
    class Empty(CachePolicy):
        pass

    with pytest.raises(NotImplementedError, match=r"^Empty defines no compute_key\(self, task_ctx"):
        Empty().compute_key(task_ctx=None, inputs={"x": 1}, flow_parameters={})


def test_a_sum_passes_prefects_extra_keywords_to_each_policy_and_subclasses_reach_the_builtin() -> (
    None
):
    seen: list[dict[str, Any]] = []

    class Noted(FlowParameters):
        def compute_key(
            self, task_ctx: Any, inputs: dict[str, Any], flow_parameters: dict[str, Any], **kw: Any
        ) -> str | None:
            seen.append(kw)
            return super().compute_key(task_ctx, inputs, flow_parameters, **kw)

    alone = INPUTS.compute_key(task_ctx=None, inputs={"x": 1}, flow_parameters={}, later=True)
    summed = (Noted() + INPUTS).compute_key(
        task_ctx=None, inputs={"x": 1}, flow_parameters={"p": 2}, later=True
    )
    assert seen == [{"later": True}] and alone is not None and summed is not None
    assert summed != alone  # a sum hashes its terms' keys
    assert Noted().compute_key(task_ctx=None, inputs={"x": 1}, flow_parameters={}) is None
