"""Prefect's annotations, serializers, file system and test harness (issue 24, item 1).

Prefect's behaviour relied on, read in Prefect 3's source:
- ``src/prefect/utilities/annotations.py``: annotations are tuples of one item (``unwrap()``,
  ``rewrap()``, equal only to the same annotation); ``unmapped(x)[i]`` is ``x`` for every
  ``i``; ``quote(x).unquote()`` is ``x``.
- ``src/prefect/utilities/engine/__init__.py`` (``resolve_to_final_result``,
  ``resolve_inputs_sync``): a task's arguments lose their annotations; under ``allow_failure``
  a failed upstream run does not stop the task, which receives the upstream's exception; a
  ``quote``'s contents are not looked into, so its futures reach the task as futures.
- ``src/prefect/serializers.py``: ``JSONSerializer``, ``PickleSerializer``, and
  ``CompressedSerializer(serializer="pickle", compressionlib="lzma")`` wrapping another.
- ``src/prefect/filesystems.py``: ``LocalFileSystem(basepath=...)`` as a result storage.
- ``src/prefect/testing/utilities.py``: ``prefect_test_harness()`` runs the block against a
  fresh temporary database and restores the settings afterwards.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

import flowhook
import flowhook._runtime.attach
from flowhook import State, TaskRunFuture, ThreadPoolTaskRunner, flow, task
from flowhook.filesystems import LocalFileSystem
from flowhook.serializers import (
    CompressedJSONSerializer,
    CompressedPickleSerializer,
    CompressedSerializer,
    JSONSerializer,
    PickleSerializer,
)
from flowhook.states import Cancelled
from flowhook.store import RunQuery, open_store
from flowhook.testing.utilities import (
    assert_does_not_warn,
    exceptions_equal,
    prefect_test_harness,
)
from flowhook.utilities.annotations import (
    BaseAnnotation,
    allow_failure,
    opaque,
    quote,
    unmapped,
)

# -- annotations --------------------------------------------------------------------------------


def test_annotations_are_one_item_tuples_equal_only_to_their_kind() -> None:
    assert isinstance(unmapped(1), tuple) and isinstance(quote(1), BaseAnnotation)
    assert unmapped([1, 2]).value == [1, 2] and quote("q").unquote() == "q"
    assert allow_failure(3).unwrap() == 3 and allow_failure(3).rewrap(4) == allow_failure(4)
    assert unmapped(1) == unmapped(1) and unmapped(1) != quote(1) and unmapped(1) != (1,)
    assert unmapped("same")[7] == "same"
    assert repr(quote([1])) == "quote([1])"
    assert flowhook.allow_failure is allow_failure and flowhook.unmapped is unmapped


def test_allow_failure_runs_the_task_with_the_upstream_exception() -> None:
    received: list[Any] = []

    @task
    def broken() -> int:
        raise ValueError("upstream broke")

    @task
    def fine() -> int:
        return 2

    @task
    def cleanup(value: Any, others: list[Any]) -> str:
        received.extend([value, others])
        return "cleaned"

    @flow
    def job() -> str:
        failed = broken.submit()
        return cleanup(allow_failure(failed), allow_failure([fine.submit(), failed]))

    assert job() == "cleaned"
    error, others = received
    assert isinstance(error, ValueError) and str(error) == "upstream broke"
    assert others[0] == 2 and isinstance(others[1], ValueError)


def test_without_allow_failure_the_task_does_not_run() -> None:
    @task
    def broken() -> int:
        raise ValueError("upstream broke")

    @task
    def cleanup(value: Any) -> str:
        return "cleaned"  # pragma: no cover

    @flow
    def job() -> Any:
        return cleanup(broken.submit(), return_state=True)

    state = job(return_state=True)
    assert state.is_failed()


def test_quote_passes_its_value_without_resolving_futures() -> None:
    received: list[Any] = []

    @task
    def produce() -> int:
        return 1

    @task
    def consume(value: Any, plain: Any) -> None:
        received.extend([value, plain])

    @flow
    def job() -> None:
        future = produce.submit()
        consume(quote({"future": future}), [future])

    job()
    quoted, plain = received
    assert isinstance(quoted["future"], TaskRunFuture) and plain == [1]


def test_opaque_resolves_the_future_and_looks_no_deeper() -> None:
    received: list[Any] = []

    @task
    def produce() -> int:
        return 7

    @task
    def wrap(future: TaskRunFuture) -> dict[str, Any]:
        return {"inner": future}

    @task
    def consume(value: Any, nested: Any) -> None:
        received.extend([value, nested])

    @flow
    def job() -> None:
        inner = produce.submit()
        consume(opaque(produce.submit()), opaque({"inner": inner}))

    job()
    value, nested = received
    assert value == 7
    assert isinstance(nested["inner"], TaskRunFuture)


def test_unmapped_passes_its_value_whole_to_a_plain_call_and_to_map() -> None:
    @task
    def size(items: list[int], extra: list[int]) -> int:
        return len(items) + len(extra)

    @flow
    def job() -> tuple[int, list[int]]:
        return size(unmapped([1, 2]), [3]), size.map([[1], [1, 2]], unmapped([9])).result()

    assert job() == (3, [2, 3])


# -- serializers and the file system ------------------------------------------------------------


@pytest.mark.parametrize("inner", ["pickle", "json", JSONSerializer(), PickleSerializer()])
@pytest.mark.parametrize("library", ["lzma", "zlib", "bz2"])
def test_compressed_serializer_round_trips(inner: Any, library: str) -> None:
    serializer = CompressedSerializer(inner, compressionlib=library)
    value = {"rows": list(range(500))}
    data = serializer.dumps(value)
    assert len(data) < len(serializer.serializer.dumps(value))
    assert serializer.loads(data) == value


def test_compressed_pickle_and_json_serializers() -> None:
    for serializer, inner in (
        (CompressedPickleSerializer(), PickleSerializer),
        (CompressedJSONSerializer("zlib"), JSONSerializer),
    ):
        assert isinstance(serializer, CompressedSerializer)
        assert isinstance(serializer.serializer, inner)
        assert serializer.loads(serializer.dumps([1, "a"])) == [1, "a"]


def test_compressed_serializer_names_the_libraries_it_takes() -> None:
    with pytest.raises(ValueError, match="compressionlib takes one of lzma, zlib, bz2, got 'gzip'"):
        CompressedSerializer(compressionlib="gzip")


def test_results_persist_through_local_file_system_and_compressed_serializer(
    tmp_path: Path,
) -> None:
    calls: list[int] = []
    storage = LocalFileSystem(basepath=tmp_path / "results")

    @task(
        persist_result=True,
        result_storage=storage,
        result_serializer=CompressedSerializer("json", compressionlib="zlib"),
        cache_key_fn=lambda context, arguments: f"numbers-{arguments['n']}",
    )
    def numbers(n: int) -> list[int]:
        calls.append(n)
        return list(range(n))

    @flow
    def job() -> list[int]:
        return numbers(50)

    assert job() == list(range(50))
    assert job() == list(range(50))
    assert calls == [50]
    assert (tmp_path / "results" / "numbers-50").is_file()


# -- prefect_test_harness -------------------------------------------------------------------------


def _recorded_flow_names() -> list[str]:
    flowhook._runtime.attach.flush()
    store = open_store()
    try:
        return [record.owner_name for record in store.list_flow_runs(RunQuery())]
    finally:
        store.close()


def test_prefect_test_harness_records_runs_in_a_fresh_store(flowhook_home: Path) -> None:
    @flow
    def outside() -> None:
        pass

    @flow
    def inside() -> int:
        return 1

    outside()
    with prefect_test_harness():
        harness_home = Path(os.environ["FLOWHOOK_HOME"])
        assert harness_home != flowhook_home and harness_home.is_dir()
        assert _recorded_flow_names() == []
        assert inside() == 1
        assert _recorded_flow_names() == ["inside"]
    assert os.environ["FLOWHOOK_HOME"] == str(flowhook_home)
    assert not harness_home.exists()
    assert _recorded_flow_names() == ["outside"]


def test_prefect_test_harness_restores_the_store_settings(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FLOWHOOK_STORE", "off")
    with prefect_test_harness(server_startup_timeout=5):
        assert "FLOWHOOK_STORE" not in os.environ
    assert os.environ["FLOWHOOK_STORE"] == "off"


def test_exceptions_equal_and_assert_does_not_warn() -> None:
    assert exceptions_equal(ValueError("a"), ValueError("a"))
    assert not exceptions_equal(ValueError("a"), ValueError("b"))
    assert not exceptions_equal(ValueError("a"), TypeError("a"))
    with assert_does_not_warn():
        pass
    with (
        pytest.raises(AssertionError, match="the block warned: UserWarning"),
        assert_does_not_warn(),
    ):
        warnings.warn("careful", UserWarning, stacklevel=1)
    with assert_does_not_warn(ignore_warnings=[DeprecationWarning]):
        warnings.warn("old", DeprecationWarning, stacklevel=1)


def test_allow_failure_tolerates_failures_only() -> None:
    """Prefect (``resolve_to_final_result``) lets a task run under ``allow_failure`` when the
    upstream failed, not when it was cancelled or crashed."""
    seen: list[State] = []

    @task
    def stopped() -> State:
        return Cancelled("stopped")

    @task
    def cleanup(value: Any) -> str:
        return "cleaned"  # pragma: no cover

    @flow
    def job() -> None:
        seen.append(cleanup(allow_failure(stopped.submit()), return_state=True))

    job()
    (state,) = seen
    assert state.name == "UpstreamFailed" and "ended Cancelled" in (state.message or "")


def test_a_task_waiting_under_allow_failure_holds_no_worker() -> None:
    finished: dict[str, float] = {}

    @task
    def slow_failure() -> int:
        time.sleep(0.5)
        finished["slow"] = time.monotonic()
        raise ValueError("late")

    @task
    def cleanup(value: Any) -> str:
        return type(value).__name__

    @task
    def quick() -> None:
        finished["quick"] = time.monotonic()

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
    def job() -> str:
        downstream = cleanup.submit(allow_failure(slow_failure.submit()))
        quick.submit()
        return downstream.result(timeout=10)

    assert job() == "ValueError"
    assert finished["quick"] < finished["slow"]  # the second worker was free for it
