"""Async flows, tasks and hooks."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time

import pytest

from flowhook import flow, get_run_context, hookimpl, task


@task
async def double(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


@task
def increment(x: int) -> int:
    return x + 1


def test_async_flow_returns_a_coroutine_and_awaits_async_tasks(recorder) -> None:
    @flow
    async def pipeline(n: int) -> int:
        doubled = await double(n)
        return increment(doubled)  # a sync task inside an async flow

    coroutine = pipeline(20)
    assert asyncio.iscoroutine(coroutine)
    assert asyncio.run(coroutine) == 41
    assert recorder.state_names() == ["Pending", "Running", "Completed"]
    assert (
        recorder.state_names("on_task_run_state_change") == ["Pending", "Running", "Completed"] * 2
    )


def test_sync_flow_runs_an_async_task_to_completion() -> None:
    @flow
    def f() -> int:
        return double(4)

    assert f() == 8


def test_async_failures_retries_and_return_state(recorder) -> None:
    attempts = []

    @task(retries=1)
    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("once")
        return "ok"

    @flow
    async def f() -> object:
        return await flaky(), await boom(return_state=True)

    @task
    async def boom() -> None:
        raise ValueError("async boom")

    result, state = asyncio.run(f())
    assert result == "ok" and state.is_failed()
    assert isinstance(state.result(raise_on_failure=False), ValueError)
    assert len(recorder.called("on_task_run_retry")) == 1


def test_async_timeout_ends_timed_out() -> None:
    @flow(timeout_seconds=0.1)
    async def slow() -> None:
        await asyncio.sleep(5)

    started = time.monotonic()
    with pytest.raises(TimeoutError, match="exceeded its timeout"):
        asyncio.run(slow())
    assert time.monotonic() - started < 2


def test_async_crash_fires_on_crashed() -> None:
    crashed = []

    @flow(on_crashed=[lambda f, r, s: crashed.append(s.name)])
    async def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(interrupted())
    assert crashed == ["Crashed"]


def test_10_gathered_async_tasks_run_concurrently() -> None:
    @task
    async def sleepy(i: int) -> int:
        await asyncio.sleep(0.3)
        return i

    @flow
    async def fan_out() -> list[int]:
        return list(await asyncio.gather(*(sleepy(i) for i in range(10))))

    started = time.monotonic()
    assert asyncio.run(fan_out()) == list(range(10))
    assert time.monotonic() - started < 2  # sequentially: 3 s


def test_async_hooks_and_async_plugin_impls_are_awaited(plugin_manager) -> None:
    seen = []

    class AsyncPlugin:
        @hookimpl
        async def on_flow_run_completion(self, flow_run):
            await asyncio.sleep(0)
            seen.append(("plugin", flow_run.name))

    async def hook(flow, flow_run, state) -> None:
        await asyncio.sleep(0)
        seen.append(("hook", state.name))

    plugin_manager.register(AsyncPlugin(), name="async-plugin")
    sync_flow = flow(on_completion=[hook], flow_run_name="sync")(lambda: 1)
    sync_flow()

    @flow(on_completion=[hook], flow_run_name="async")
    async def async_flow() -> int:
        return 1

    asyncio.run(async_flow())
    assert seen == [
        ("hook", "Completed"),
        ("plugin", "sync"),
        ("hook", "Completed"),
        ("plugin", "async"),
    ]


def test_sync_hooks_of_async_flows_do_not_block_the_event_loop() -> None:
    hook_threads = []
    ticks = []

    def slow_hook(flow, flow_run, state) -> None:
        hook_threads.append(threading.current_thread() is threading.main_thread())
        time.sleep(0.3)

    @flow(on_running=[slow_hook])
    async def f() -> None:
        await asyncio.sleep(0)

    async def main() -> None:
        async def ticker() -> None:
            for _ in range(10):
                ticks.append(time.monotonic())
                await asyncio.sleep(0.05)

        await asyncio.gather(f(), ticker())

    asyncio.run(main())
    assert hook_threads == [False]
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert max(gaps) < 0.25  # the loop kept ticking while the hook slept


def test_context_inside_async_runs() -> None:
    @task
    async def t() -> str:
        return get_run_context().task_run.task_name

    @flow
    async def f() -> tuple[str, str]:
        return get_run_context().flow_run.flow_name, await t()

    assert asyncio.run(f()) == ("f", "t")


def test_async_tasks_can_be_submitted_from_a_sync_flow() -> None:
    @flow
    def f() -> list[int]:
        return [future.result() for future in double.map([1, 2, 3])]

    assert f() == [2, 4, 6]
