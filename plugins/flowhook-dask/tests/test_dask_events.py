"""Where and in what order transitions happen, and where upstream data goes, on a real cluster."""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from typing import Any

from dask_tasks import UNPICKLED_IN, make_heavy, measure, nap, square
from flowhook_dask import DaskTaskRunner
from flowhook_dask._body import DaskBody, DaskResult
from flowhook_dask._envelope import START_TOPIC

from flowhook import flow
from flowhook_hookspec.runners import BodyOutcome


def test_hooks_run_on_the_consumer_in_order_for_each_task_run(cluster: Any) -> None:
    seen: dict[Any, list[str]] = defaultdict(list)
    threads: set[str] = set()
    lock = threading.Lock()

    def note(task: Any, run: Any, state: Any) -> None:
        with lock:
            seen[run.id].append(state.name)
            threads.add(threading.current_thread().name)

    watched = square.with_options(on_running=[note], on_completion=[note])

    @flow(task_runner=DaskTaskRunner(cluster=cluster))
    def pipeline() -> list[Any]:
        futures = watched.map(range(40))
        futures.wait()
        return [f.task_run for f in futures]

    runs = pipeline()
    assert all(seen[run.id] == ["Running", "Completed"] for run in runs), seen
    assert all(
        [s.name for s in run.state_history] == ["Pending", "Running", "Completed"] for run in runs
    )
    # The consumer made them all (a second one takes over only from a step that held it long).
    assert threads and all(name.startswith("flowhook-dask-consumer-") for name in threads)


def test_a_hook_that_waits_for_another_runs_transition_does_not_deadlock(cluster: Any) -> None:
    second_done = threading.Event()

    def wait_for_second(task: Any, run: Any, state: Any) -> None:
        assert second_done.wait(30), "the second run never completed: the consumer is stuck"

    first = square.with_options(on_completion=[wait_for_second])
    second = nap.with_options(on_completion=[lambda task, run, state: second_done.set()])

    @flow(task_runner=DaskTaskRunner(cluster=cluster))
    def pipeline() -> tuple[Any, Any]:
        a, b = first.submit(2), second.submit(0.5)
        return a.result(), b.result()

    started = time.monotonic()
    assert pipeline() == (4, 0.5)
    assert time.monotonic() - started < 20


def test_a_start_after_the_end_is_dropped() -> None:
    import cloudpickle

    body = DaskBody("square-1-1", None)
    woken: list[str] = []
    body.wake_on_news(lambda: woken.append("woken"))
    body.on_end(("returned", cloudpickle.dumps(9), "", 1.0, 2.0, "tcp://127.0.0.1:1"))
    body.on_start(1.5, "tcp://127.0.0.1:2")
    assert woken == ["woken"]  # once, by the end
    assert body.started() is None  # the late start was dropped: Running comes from the envelope
    outcome = body.outcome()
    assert outcome is not None and outcome.value == 9 and outcome.location == "tcp://127.0.0.1:1"
    body.finish(BodyOutcome("crashed", message="too late"))  # a second end is dropped too
    assert body.outcome() is outcome


def test_a_start_event_sent_again_after_the_end_changes_nothing(cluster: Any) -> None:
    running: list[str] = []
    watched = square.with_options(on_running=[lambda task, run, state: running.append(run.name)])
    runner = DaskTaskRunner(cluster=cluster)

    @flow(task_runner=runner)
    def pipeline() -> Any:
        future = watched.submit(3)
        future.wait()
        key = f"{watched.name}-{future.task_run.id}-1"
        runner.client.log_event(
            START_TOPIC, {"key": key, "time": time.time(), "address": "tcp://127.0.0.1:9"}
        )
        watched.submit(4).wait()  # the replayed event is delivered before this run's own
        return future.task_run

    run = pipeline()
    assert [s.name for s in run.state_history] == ["Pending", "Running", "Completed"]
    assert len(running) == 2 and "127.0.0.1:9" not in run.state_history[1].message


def test_a_large_upstream_result_moves_between_workers_not_through_the_flow(cluster: Any) -> None:
    @flow(task_runner=DaskTaskRunner(cluster=cluster))
    def pipeline() -> tuple[Any, Any, Any]:
        heavy = make_heavy.submit(50)
        size = measure.submit(heavy).result()
        left = repr(heavy.state.data)
        unpickled_here = list(UNPICKLED_IN)
        fetched = heavy.result()  # read in the flow: now it comes here
        return size, (left, unpickled_here), (len(fetched.data), list(UNPICKLED_IN))

    (size, unpickled_by, worker), (left, unpickled_here), (fetched, after) = pipeline()
    assert size == 50 * 1024 * 1024
    assert unpickled_by == [worker] and worker != os.getpid()  # unpickled on the worker only
    assert left.startswith("DaskResult(on Dask as 'make_heavy-") and unpickled_here == []
    assert fetched == size and after == [os.getpid()]


def test_a_fetched_result_is_released_and_kept_here() -> None:
    class Future:
        key, released = "k", False

        def result(self) -> Any:
            import cloudpickle

            return ("returned", cloudpickle.dumps([1, 2]), "", 0.0, 0.0, "")

        def release(self) -> None:
            self.released = True

    future = Future()
    result = DaskResult(future)
    assert result.fetch() == [1, 2] and future.released
    assert result.fetch() is result.fetch() and repr(result) == "DaskResult(fetched)"


def test_cancelling_wakes_a_run_waiting_to_retry(cluster: Any) -> None:
    from dask_tasks import fail

    from flowhook import cancel_flow_run, get_run_context

    patient = fail.with_options(retries=1, retry_delay_seconds=60)

    @flow(task_runner=DaskTaskRunner(cluster=cluster))
    def pipeline() -> None:
        future = patient.submit("once")
        deadline = time.monotonic() + 20
        while future.state.name != "AwaitingRetry" and time.monotonic() < deadline:
            time.sleep(0.02)
        cancel_flow_run(get_run_context().flow_run.id)
        future.wait()
        ended.append(future.state.name)

    ended: list[str] = []
    started = time.monotonic()
    assert pipeline(return_state=True).name == "Cancelled"
    assert ended == ["Cancelled"]
    assert time.monotonic() - started < 15
