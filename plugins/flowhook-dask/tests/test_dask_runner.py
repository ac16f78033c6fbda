"""DaskTaskRunner on a real LocalCluster (worker processes on 127.0.0.1)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from dask_tasks import (
    CLUSTER,
    add,
    be_killed,
    die,
    fail,
    flaky,
    raise_unpicklable,
    return_unpicklable,
    square,
    wait_to_be_stopped,
    where,
)
from flowhook_dask import DaskTaskRunner

from flowhook import cancel_flow_run, flow, get_run_context, task, unmapped
from flowhook._engine.runners import new_task_runner


def test_map_of_100_tasks(cluster: Any) -> None:
    @flow(task_runner=DaskTaskRunner(cluster=cluster))
    def pipeline(xs: list[int]) -> int:
        return sum(square.map(xs).result())

    assert pipeline(list(range(100))) == sum(x * x for x in range(100))


def test_futures_unmapped_wait_for_and_upstream_failed_as_with_the_thread_pool(
    cluster: Any,
) -> None:
    @flow(task_runner=DaskTaskRunner(cluster=cluster))
    def pipeline() -> tuple[Any, ...]:
        one = square.submit(1)
        three = add.submit(one, 2)  # an upstream future as an argument
        mapped = add.map([1, 2], unmapped(10))
        failed = fail.submit("no")
        after = square.submit(3, wait_for=[failed])
        return (
            three.result(),
            [f.result() for f in mapped],
            failed.state.name if failed.wait() is None else None,
            after.state.name if after.wait() is None else None,
        )

    assert pipeline() == (3, [11, 12], "Failed", "UpstreamFailed")


def test_each_attempt_has_its_own_key_and_retries_are_the_engines(
    cluster: Any, tmp_path: Any
) -> None:
    retried: list[str] = []
    flaky_task = task(flaky, retries=2, on_retry=[lambda t, run, state: retried.append(state.name)])

    @flow(task_runner=DaskTaskRunner(cluster=cluster))
    def pipeline() -> Any:
        return flaky_task.submit(str(tmp_path / "attempts")).result()

    assert pipeline() == 42
    keys = (tmp_path / "attempts").read_text().splitlines()
    assert len(keys) == len(set(keys)) == 3
    assert [key.rsplit("-", 1)[1] for key in keys] == ["1", "2", "3"]
    assert all(key.startswith("flaky-") for key in keys)
    assert len(retried) == 2


def test_running_is_entered_when_a_worker_starts_and_names_the_worker(cluster: Any) -> None:
    @flow(task_runner=DaskTaskRunner(cluster=cluster))
    def one() -> Any:
        future = where.submit()
        # A returned future would be the flow's result (as in Prefect): return its run instead.
        return future.task_run, future.result()

    task_run, worker = one()
    running = [s for s in task_run.state_history if s.name == "Running"]
    assert len(running) == 1
    assert running[0].message == f"on {worker}"
    assert worker in cluster.scheduler_info["workers"]
    states = [s.name for s in task_run.state_history]
    assert states == ["Pending", "Running", "Completed"]


def test_unpicklable_exception_and_result_fail_with_a_readable_message(cluster: Any) -> None:
    @flow(task_runner=DaskTaskRunner(cluster=cluster))
    def pipeline() -> tuple[Any, Any]:
        a, b = raise_unpicklable.submit(), return_unpicklable.submit()
        a.wait()
        b.wait()
        # States returned in a list would be the flow's own (as in Prefect): a dict is data.
        return {"raised": a.state, "returned": b.state}

    raised, returned = pipeline().values()
    assert raised.name == returned.name == "Failed"
    assert "Unpicklable: the body failed holding a lock" in raised.message
    assert "could not be pickled" in raised.message
    assert "returned a lock" in returned.message and "return a picklable value" in returned.message


def test_a_failure_keeps_the_exception_type_and_the_workers_traceback(cluster: Any) -> None:
    @flow(task_runner=DaskTaskRunner(cluster=cluster))
    def pipeline() -> Any:
        future = fail.submit("bad row")
        future.wait()
        return {"state": future.state}

    state = pipeline()["state"]
    with pytest.raises(ValueError, match="bad row") as raised:
        state.result()
    assert any(
        "Raised on the Dask worker tcp://127.0.0.1" in note for note in raised.value.__notes__
    )


def test_a_timeout_on_a_running_task_is_timed_out_at_once(cluster: Any) -> None:
    slow = wait_to_be_stopped.with_options(timeout_seconds=1)

    @flow(task_runner=DaskTaskRunner(cluster=cluster))
    def pipeline() -> Any:
        future = slow.submit()
        future.wait()
        return {"state": future.state}

    started = time.monotonic()
    state = pipeline()["state"]
    assert state.name == "TimedOut"
    assert time.monotonic() - started < 10


def test_cancel_flow_run_cancels_running_tasks_without_waiting_for_them(cluster: Any) -> None:
    @flow(task_runner=DaskTaskRunner(cluster=cluster))
    def pipeline() -> Any:
        futures = wait_to_be_stopped.map([30.0] * 4)
        run_id = get_run_context().flow_run.id
        deadline = time.monotonic() + 20
        while not any(f.state.name == "Running" for f in futures) and time.monotonic() < deadline:
            time.sleep(0.02)
        threading.Thread(target=cancel_flow_run, args=(run_id,)).start()
        for f in futures:
            f.wait()
        ended.extend(f.state.name for f in futures)

    ended: list[str] = []
    started = time.monotonic()
    state = pipeline(return_state=True)
    assert state.name == "Cancelled"
    assert ended == ["Cancelled"] * 4
    assert time.monotonic() - started < 15


def test_the_store_records_task_runs_with_the_worker_address(cluster: Any) -> None:
    from flowhook._runtime.attach import flush
    from flowhook.store import open_existing_store

    @flow(task_runner=DaskTaskRunner(cluster=cluster))
    def pipeline() -> Any:
        return square.submit(4).result()

    state = pipeline(return_state=True)
    flush()
    store = open_existing_store()
    assert store is not None
    (task_run,) = store.task_run_page(str(state.run_id), limit=1000)
    messages = [e.state.get("message") for e in store.events(task_run.id, str(state.run_id))]
    assert any(m and m.startswith("on tcp://127.0.0.1:") for m in messages), messages


def test_task_runner_dask_is_the_plugins_runner() -> None:
    runner = new_task_runner("dask")
    assert isinstance(runner, DaskTaskRunner)
    assert runner.client is None  # nothing starts before the first task is submitted


def test_an_unknown_runner_name_is_a_one_line_error_with_a_suggestion() -> None:
    @flow(task_runner="dsak")
    def pipeline() -> None:
        pass

    with pytest.raises(
        ValueError,
        match=r"no task runner is named 'dsak'; did you mean 'dask'\? Known task runners: ",
    ):
        pipeline()


@pytest.mark.parametrize(
    ("kwargs", "excluded"),
    [
        ({"address": "tcp://127.0.0.1:1", "cluster": object()}, "address"),
        ({"address": "tcp://127.0.0.1:1", "cluster_class": "distributed.LocalCluster"}, "address"),
        ({"address": "tcp://127.0.0.1:1", "cluster_kwargs": {}}, "address"),
        ({"address": "tcp://127.0.0.1:1", "adapt_kwargs": {}}, "address"),
        ({"cluster": object(), "cluster_class": "distributed.LocalCluster"}, "cluster is"),
        ({"cluster": object(), "cluster_kwargs": {"n_workers": 1}}, "cluster is"),
        ({"client_kwargs": {"asynchronous": True}}, "asynchronous"),
    ],
)
def test_arguments_that_exclude_each_other(kwargs: dict[str, Any], excluded: str) -> None:
    with pytest.raises(ValueError, match=excluded):
        DaskTaskRunner(**kwargs)


def test_cluster_class_may_be_a_dotted_name() -> None:
    from distributed import LocalCluster

    assert DaskTaskRunner(cluster_class="distributed.LocalCluster").cluster_class is LocalCluster
    with pytest.raises(ValueError, match="cannot be imported"):
        DaskTaskRunner(cluster_class="distributed.NoSuchCluster")


@pytest.mark.slow
@pytest.mark.parametrize("killer", [die, be_killed], ids=["os._exit", "SIGKILL"])
def test_a_task_that_kills_its_worker_is_crashed_once_and_the_flow_goes_on(killer: Any) -> None:
    crashed: list[str] = []
    dying = killer.with_options(on_crashed=[lambda t, run, state: crashed.append(run.name)])

    @flow(task_runner=DaskTaskRunner(cluster_kwargs=CLUSTER))
    def pipeline() -> tuple[Any, Any]:
        future = dying.submit()
        future.wait()
        return future.state, square.submit(5).result()

    state, after = pipeline()
    assert state.name == "Crashed"
    assert "the Dask worker running it died" in state.message
    assert "KilledWorker" in state.message
    assert len(crashed) == 1
    assert after == 25
    from flowhook import CrashedRun

    with pytest.raises(CrashedRun):
        state.result()


def test_flowhook_plugins_lists_the_runner() -> None:
    import json
    import subprocess
    import sys

    listed = subprocess.run(
        [sys.executable, "-c", "from flowhook.cli import main; main()", "plugins", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    (dask,) = [row for row in json.loads(listed.stdout) if row["name"] == "dask"]
    assert dask["status"] == "active"
    assert dask["hooks"] == ["register_task_runners"]


def test_loading_the_plugin_does_not_import_dask() -> None:
    """flowhook loads every installed plugin on its first run: Dask must wait until it is used."""
    import subprocess
    import sys

    code = "import sys, flowhook_dask; print('distributed' in sys.modules, 'dask' in sys.modules)"
    imported = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert imported.stdout.split() == ["False", "False"]
