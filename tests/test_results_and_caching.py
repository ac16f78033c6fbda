"""Results and caching: persisted records, cache policies, the Cached state (issue 14, item 7)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from flowhook import flow, hookimpl, task
from flowhook.cache_policies import DEFAULT, INPUTS, NO_CACHE, RUN_ID, TASK_SOURCE, Inputs
from flowhook.results import LocalFileSystem


def names(run_state_history: list[Any]) -> list[str]:
    return [state.name for state in run_state_history]


def test_a_cache_hit_enters_cached_and_does_not_run_the_body(plugin_manager: Any) -> None:
    calls: list[int] = []
    seen: list[tuple[str, str, Any]] = []

    class Watcher:
        @hookimpl
        def on_task_run_completion(self, task: Any, task_run: Any, state: Any) -> None:
            seen.append(("plugin", state.name, state.result()))

    plugin_manager.register(Watcher(), name="watcher")

    @task(cache_policy=INPUTS)
    def double(x: int) -> int:
        calls.append(x)
        return 2 * x

    @double.on_completion
    def completed(task: Any, task_run: Any, state: Any) -> None:
        seen.append(("hook", state.name, state.result()))

    runs: list[Any] = []

    @flow
    def f(x: int) -> int:
        state = double(x, return_state=True)
        runs.append(state)
        return state.result()

    assert f(3) == 6
    assert f(3) == 6
    assert calls == [3]  # the second run's body never ran
    assert [s.name for s in runs] == ["Completed", "Cached"]
    assert runs[1].is_completed() and runs[1].type == runs[0].type
    assert seen == [
        ("hook", "Completed", 6),
        ("plugin", "Completed", 6),
        ("hook", "Cached", 6),
        ("plugin", "Cached", 6),
    ]


def test_a_cached_run_goes_pending_running_cached() -> None:
    @task(cache_policy=INPUTS)
    def t(x: int) -> str:
        return "x"

    histories = []

    @flow
    def f() -> None:
        for _ in range(2):
            state = t(1, return_state=True)
            histories.append(names(get_history(state)))

    seen_runs: list[Any] = []

    def get_history(state: Any) -> list[Any]:
        return seen_runs[-1].state_history

    @t.on_completion
    def keep(task: Any, task_run: Any, state: Any) -> None:
        seen_runs.append(task_run)

    f()
    assert histories == [["Pending", "Running", "Completed"], ["Pending", "Running", "Cached"]]


def test_the_default_policy_caches_within_a_flow_run_only() -> None:
    calls: list[int] = []

    @task(persist_result=True)  # the default policy: INPUTS + TASK_SOURCE + RUN_ID
    def t(x: int) -> int:
        calls.append(x)
        return x

    @flow
    def f() -> None:
        t(1)
        t(1)
        t(2)

    f()
    f()
    assert calls == [1, 2, 1, 2]
    assert repr(DEFAULT) == "INPUTS + TASK_SOURCE + RUN_ID"


def test_inputs_exclude_and_task_source_tell_functions_apart() -> None:
    calls: list[str] = []

    @task(cache_policy=Inputs(exclude=["client"]) + TASK_SOURCE)
    def one(x: int, client: object) -> int:
        calls.append("one")
        return x

    @task(cache_policy=Inputs(exclude=["client"]) + TASK_SOURCE, name="one")
    def other(x: int, client: object) -> int:
        calls.append("other")
        return -x

    assert one(1, object()) == 1
    assert one(1, object()) == 1  # a different client, excluded from the key: a hit
    assert other(1, object()) == -1  # same name and inputs, other source: a miss
    assert calls == ["one", "other"]


def test_run_id_alone_shares_results_between_inputs_of_one_flow_run() -> None:
    calls: list[int] = []

    @task(cache_policy=RUN_ID)
    def t(x: int) -> int:
        calls.append(x)
        return x

    @flow
    def f() -> list[int]:
        return [t(1), t(2)]

    assert f() == [1, 1]  # the key ignores the inputs
    assert calls == [1]


def test_no_cache_persists_but_never_hits(flowhook_home: Path) -> None:
    calls: list[int] = []

    @task(cache_policy=NO_CACHE, persist_result=True)
    def t() -> int:
        calls.append(1)
        return 5

    assert t() == 5
    assert t() == 5
    assert calls == [1, 1]
    assert len(list((flowhook_home / "results").glob("run-*"))) == 2


def test_persist_result_false_turns_caching_off(flowhook_home: Path) -> None:
    calls: list[int] = []

    @task(cache_policy=INPUTS, persist_result=False)
    def t() -> int:
        calls.append(1)
        return 5

    t()
    t()
    assert calls == [1, 1]
    assert not (flowhook_home / "results").exists()


def test_a_plain_task_never_touches_a_result_storage(flowhook_home: Path) -> None:
    @task
    def t() -> int:
        return 1

    assert t.result_settings is None
    t()
    assert not (flowhook_home / "results").exists()


def test_cache_key_fn_names_the_record(tmp_path: Path) -> None:
    calls: list[str] = []

    def by_name(context: Any, parameters: dict[str, Any]) -> str:
        assert context.task_run is not None
        return f"greet-{parameters['name'].lower()}"

    @task(cache_key_fn=by_name, result_storage=tmp_path, result_serializer="json")
    def greet(name: str) -> dict[str, str]:
        calls.append(name)
        return {"hello": name}

    assert greet("Ada") == {"hello": "Ada"}
    assert greet("ADA") == {"hello": "Ada"}  # the same key: the stored value
    assert calls == ["Ada"]
    header, payload = (tmp_path / "greet-ada").read_bytes().split(b"\n", 1)
    assert json.loads(header)["serializer"] == "json"
    assert json.loads(payload) == {"hello": "Ada"}


def test_a_cache_key_fn_returning_none_does_not_cache() -> None:
    calls: list[int] = []

    @task(cache_key_fn=lambda context, parameters: None)
    def t() -> int:
        calls.append(1)
        return 1

    t()
    t()
    assert calls == [1, 1]


def test_cache_expiration_and_refresh_cache(tmp_path: Path) -> None:
    calls: list[str] = []
    storage = LocalFileSystem(tmp_path)

    @task(cache_key_fn=lambda c, p: "k", result_storage=storage, cache_expiration=0.3)
    def t(label: str) -> str:
        calls.append(label)
        return label

    assert t("first") == "first"
    assert t("second") == "first"  # cached
    assert t.with_options(refresh_cache=True)("third") == "third"  # runs and rewrites
    assert t("fourth") == "third"
    import time

    time.sleep(0.35)
    assert t("fifth") == "fifth"  # expired
    assert calls == ["first", "third", "fifth"]
    assert t.with_options(cache_expiration=timedelta(hours=1)).cache_expiration == timedelta(
        hours=1
    )


def test_pickle_serializer_keeps_any_python_value(tmp_path: Path) -> None:
    @task(cache_key_fn=lambda c, p: "fn", result_storage=tmp_path)
    def make() -> Any:
        def local(x: int) -> int:
            return x + 1

        return local

    first = make()
    cached = make(return_state=True)
    assert cached.name == "Cached"
    assert cached.result()(1) == first(1) == 2


def test_a_result_json_cannot_hold_is_logged_and_the_run_stays_completed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    @task(cache_key_fn=lambda c, p: "set", result_storage=tmp_path, result_serializer="json")
    def t() -> set[int]:
        return {1}

    assert t(return_state=True).name == "Completed"
    assert not (tmp_path / "set").exists()
    assert "result_serializer='json' cannot serialize the result" in caplog.text


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"result_serializer": "yaml"}, ValueError, "takes 'pickle' or 'json'"),
        ({"cache_policy": "inputs"}, TypeError, "cache_policy takes a policy"),
        ({"cache_expiration": "1h"}, TypeError, "timedelta or a number of seconds"),
        ({"result_storage": 42}, TypeError, "result_storage takes a directory path"),
        ({"cache_key_fn": "key"}, TypeError, "cache_key_fn takes a function"),
    ],
)
def test_bad_result_options_are_one_line_errors(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        task(lambda: 1, **options)


def test_a_result_key_with_a_slash_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="without '/'"):
        LocalFileSystem(tmp_path).write("../escape", b"x")


def test_import_flowhook_does_not_import_cloudpickle() -> None:
    code = "import sys, flowhook; print('cloudpickle' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


WRITER = textwrap.dedent(
    """
    import sys
    from flowhook.results import LocalFileSystem, PickleSerializer, ResultRecord

    directory, label, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    storage, serializer = LocalFileSystem(directory), PickleSerializer()
    value = label * 200_000  # big enough that a torn write would show
    for _ in range(rounds):
        storage.write("shared", ResultRecord.new(value, serializer, None).to_bytes(serializer))
    """
)


@pytest.mark.slow
def test_concurrent_writers_of_one_key_never_corrupt_it(tmp_path: Path) -> None:
    from flowhook.results import PickleSerializer, ResultRecord

    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    records = tmp_path / "records"
    writers = [
        subprocess.Popen([sys.executable, str(script), str(records), label, "40"])
        for label in "abcd"
    ]
    storage, serializer = LocalFileSystem(records), PickleSerializer()
    seen: set[str] = set()
    while any(w.poll() is None for w in writers):
        data = storage.read("shared")
        if data is not None:
            value = ResultRecord.from_bytes(data, serializer).value  # never a torn record
            assert len(value) == 200_000 and len(set(value)) == 1
            seen.add(value[0])
    assert [w.wait() for w in writers] == [0, 0, 0, 0]
    final = ResultRecord.from_bytes(storage.read("shared") or b"", serializer).value
    assert final[0] in "abcd" and len(final) == 200_000
    assert seen  # the reader did read while they wrote
    assert sorted(p.name for p in records.iterdir()) == ["shared"]  # no temporary file left
